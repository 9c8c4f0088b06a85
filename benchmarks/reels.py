"""Benchmark: the same 15 s reel through vibot and through raw ffmpeg, in one run.

    python benchmarks/reels.py [--seconds 15] [--runs 2]

The reel: two 1080×1920 stills with camera moves, a crossfade, a .cube LUT, the AI
label (full for 2 s, then the badge), a music bed normalised to −14 LUFS; H.264 High,
CRF 20, veryfast, AAC, faststart — the same encoder settings everywhere. Rows:

  vibot render_reel         everything vibot does: grade the stills, draw the label
                            layers, measure the music's loudness, mix the sound, render
                            the frames and embed the invisible watermark on their way
                            to the encoder (one encode)
  render, then watermark    the same reel unmarked, then marked as a finished file
                            (decode, mark, encode again): what the one-pass render saves
  raw ffmpeg, as usually    one hand-written filtergraph: the LUT on every frame after
    written                 the crossfade, single-pass loudnorm, no watermark
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from content.disclosure.apply import watermark_video
from content.disclosure.label import label_overlay
from content.disclosure.watermark import payload_for
from content.post import BADGE_SCALE, Look, ReelPlan, Segment, render_reel
from content.reels.encode import AAC_ARGS, FPS, HEIGHT, WIDTH, ffmpeg_exe, h264_reel_args, run_ffmpeg

REPO = Path(__file__).resolve().parent.parent
LUT = REPO / "personas" / "luts" / "warm-film.cube"
MUSIC = REPO / "personas" / "music" / "kai-bed.m4a"


def still(path: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    small = rng.random((96, 54, 3)) * 0.6 + 0.2
    Image.fromarray((small * 255).astype(np.uint8)).resize((WIDTH, HEIGHT), Image.Resampling.BICUBIC).save(
        path
    )
    return path


def zoompan(move: str, frames: int, strength: float = 0.12) -> str:
    """A camera move as hand-written ffmpeg does it: zoompan over the still scaled up 4×
    (at 1× zoompan's whole-pixel window visibly stutters on slow pans), smoothstep-eased."""
    progress = f"(on/{max(frames - 1, 1)})"
    eased = f"({progress}*{progress}*(3-2*{progress}))"
    zoom, x = {
        "zoom-in": (f"1+{strength}*{eased}", "(iw-iw/zoom)/2"),
        "pan-left": (f"1+{strength}", f"(iw-iw/zoom)*(1-{eased})"),
    }[move]
    big_w, big_h = WIDTH * 4, HEIGHT * 4
    return (
        f"scale={big_w}:{big_h}:force_original_aspect_ratio=increase:flags=lanczos,crop={big_w}:{big_h},"
        f"zoompan=z='{zoom}':x='{x}':y='(ih-ih/zoom)/2':d={frames}:s={WIDTH}x{HEIGHT}:fps={FPS}"
    )


def raw_ffmpeg_args(stills: list[Path], seconds: float, workdir: Path, out: Path) -> list[str]:
    """The reel as someone fluent in ffmpeg would write it by hand."""
    transition = 0.6
    each = (seconds + transition) / 2
    frames_each = round(each * FPS)
    layers = []
    for name, scale in (("label", 1.0), ("badge", BADGE_SCALE)):
        layer = label_overlay(WIDTH, HEIGHT, "AI-generated", scale)
        box = layer.getbbox() or (0, 0, 1, 1)
        layer.crop(box).save(workdir / f"{name}.png")
        layers.append(box)
    graph = ";".join(
        [
            f"[0:v]{zoompan('zoom-in', frames_each)},setsar=1,format=yuv420p,settb=AVTB[a]",
            f"[1:v]{zoompan('pan-left', frames_each)},setsar=1,format=yuv420p,settb=AVTB[b]",
            f"[a][b]xfade=transition=fade:duration={transition}:offset={each - transition:.3f},"
            f"lut3d=file={LUT}:interp=tetrahedral[graded]",
            f"[graded][2:v]overlay={layers[0][0]}:{layers[0][1]}:enable='lt(t,2)'[l]",
            f"[l][3:v]overlay={layers[1][0]}:{layers[1][1]}:enable='gte(t,2)',format=yuv420p[v]",
            f"[4:a]atrim=0:{seconds},afade=t=in:d=1,afade=t=out:st={seconds - 1.5}:d=1.5,"
            "loudnorm=I=-14:TP=-1.5:LRA=11,aresample=48000[m]",
        ]
    )
    frames = round(seconds * FPS)
    return [
        "-i", str(stills[0]), "-i", str(stills[1]), "-i", str(workdir / "label.png"),
        "-i", str(workdir / "badge.png"), "-stream_loop", "-1", "-i", str(MUSIC),
        "-filter_complex", graph, "-map", "[v]", "-map", "[m]", "-frames:v", str(frames),
        "-t", f"{frames / FPS:.3f}", *h264_reel_args(FPS, 20), "-r", str(FPS), *AAC_ARGS,
        "-movflags", "+faststart", str(out),
    ]  # fmt: skip


def timed(job: object, runs: int) -> float:
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        job()  # type: ignore[operator]
        samples.append(time.perf_counter() - began)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        work = Path(name)
        stills = [still(work / f"still-{i}.png", i) for i in range(2)]
        plan = ReelPlan(
            [Segment(stills[0], "still", "zoom-in"), Segment(stills[1], "still", "pan-left")],
            seconds=args.seconds,
            label="AI-generated",
            look=Look(lut=LUT),
            music=MUSIC,
        )
        marked = replace(plan, watermark=payload_for(1))
        vibot = timed(lambda: render_reel(marked, work / "vibot.mp4"), args.runs)
        twice = timed(
            lambda: watermark_video(render_reel(plan, work / "twice.mp4"), payload_for(1)), args.runs
        )
        raw = raw_ffmpeg_args(stills, args.seconds, work, work / "raw.mp4")
        hand = timed(lambda: run_ffmpeg(raw, "render"), args.runs)
        version = subprocess.run([ffmpeg_exe(), "-version"], capture_output=True, text=True).stdout.split()[2]
    print(f"{args.seconds:g} s reel, 1080×1920 @ {FPS}, ffmpeg {version}, median of {args.runs}:")
    print(f"  vibot render_reel                  {vibot:7.2f} s   {args.seconds / vibot:5.2f}× real time")
    print(f"  render, then watermark (2 encodes) {twice:7.2f} s   one pass saves {twice - vibot:+.2f} s")
    print(f"  raw ffmpeg, as usually written     {hand:7.2f} s   ratio vibot/raw {vibot / hand:5.2f}")


if __name__ == "__main__":
    main()
