"""Reels: camera moves, post-production, the Reels spec, the local image-to-video backend,
and `vibot reel` — every check on real ffmpeg/ffprobe output."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from bot.prepare import prepare_post
from bot.review import get_post
from content.disclosure.label import label_present
from content.disclosure.verify import verify_file
from content.errors import GenerationError
from content.images.upscale import Upscaler, make_test_upscaler
from content.post import (
    BADGE_SCALE,
    Look,
    ReelPlan,
    Segment,
    pick_music,
    render_audio,
    render_reel,
    segment_seconds,
)
from content.reels.encode import FPS, ffmpeg_exe
from content.reels.local import LocalVideo, animate_local, frame_count, upscale_frames
from content.reels.motion import MOVES, move_frames
from content.reels.spec import check_reel, ensure_reel_spec, moov_first, probe
from content.tiny import build_tiny_ltx
from storage.status import PostStatus
from tests.support.cli import cli_here
from tests.support.personas import make_app, write_persona
from tests.support.posts import planned_post
from tests.support.shared import built_once

LABEL = "AI-generated"


def textured_still(path: Path, seed: int, size: tuple[int, int] = (1080, 1920), detail: int = 24) -> Path:
    """Smooth random texture (like a photo, unlike flat colour) around mid-grey."""
    rng = np.random.default_rng(seed)
    small = rng.random((detail, detail * 9 // 16, 3)) * 0.5 + 0.25
    Image.fromarray((small * 255).astype(np.uint8)).resize(size, Image.Resampling.BICUBIC).save(path)
    return path


def music_file(path: Path, seconds: float = 4.0, level: float = 0.05) -> Path:
    rate = 44100
    t = np.arange(int(seconds * rate)) / rate
    tone = level * (np.sin(2 * np.pi * 220 * t) + 0.5 * np.sin(2 * np.pi * 330 * t))
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes((tone * 32767).astype(np.int16).tobytes())
    return path


def cube_lut(path: Path, transform: str) -> Path:
    """A 9³ .cube LUT: 'no-blue' zeroes blue, 'identity' changes nothing."""
    steps = np.linspace(0, 1, 9)
    lines = ["LUT_3D_SIZE 9"]
    for b in steps:
        for g in steps:
            for r in steps:
                lines.append(f"{r:.5f} {g:.5f} {0.0 if transform == 'no-blue' else b:.5f}")
    path.write_text("\n".join(lines) + "\n")
    return path


def frame_at(video: Path, seconds: float) -> Image.Image:
    raw = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-ss", f"{seconds:.3f}", "-i", str(video), "-frames:v", "1",
         "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    return Image.frombytes("RGB", (1080, 1920), raw)


def integrated_loudness(video: Path) -> float:
    result = subprocess.run(
        [
            ffmpeg_exe(),
            "-hide_banner",
            "-nostdin",
            "-i",
            str(video),
            "-vn",
            "-af",
            "ebur128",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    summary = result.stderr[result.stderr.rindex("Summary:") :]
    found = re.search(r"I:\s+(-?[\d.]+) LUFS", summary)
    assert found is not None
    return float(found.group(1))


@pytest.fixture(scope="module")
def stills(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    def build(folder: Path) -> None:
        folder.mkdir()
        for i in range(2):
            textured_still(folder / f"still-{i}.png", seed=i)

    folder = built_once(tmp_path_factory, "stills", build)
    return [folder / f"still-{i}.png" for i in range(2)]


@pytest.fixture(scope="module")
def full_reel(stills: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two stills, a crossfade, a LUT, grain, the label, text and music: every layer at once."""

    def build(out: Path) -> None:
        folder = tmp_path_factory.mktemp("full")
        plan = ReelPlan(
            [Segment(stills[0], "still", "zoom-in"), Segment(stills[1], "still", "pan-left")],
            seconds=4.0,
            label=LABEL,
            look=Look(lut=cube_lut(folder / "warm.cube", "identity"), grain=0.3, saturation=1.1),
            text="golden hour",
            music=music_file(folder / "bed.wav"),
        )
        render_reel(plan, out)

    return built_once(tmp_path_factory, "full-reel.mp4", build)


@pytest.mark.slow
def test_the_reel_meets_instagrams_spec(full_reel: Path) -> None:
    info = probe(full_reel)
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    audio = next(s for s in info["streams"] if s["codec_type"] == "audio")
    assert (video["codec_name"], video["profile"], video["pix_fmt"]) == ("h264", "High", "yuv420p")
    assert (video["width"], video["height"], video["avg_frame_rate"]) == (1080, 1920, "30/1")
    assert int(video["nb_frames"]) == 4 * FPS
    assert (audio["codec_name"], audio["sample_rate"], audio["channels"]) == ("aac", "48000", 2)
    assert abs(float(info["format"]["duration"]) - 4.0) < 0.05
    assert moov_first(full_reel)
    assert check_reel(full_reel).ok


@pytest.mark.slow
def test_the_label_is_full_size_for_two_seconds_then_a_badge(full_reel: Path, stills: list[Path]) -> None:
    early, late = frame_at(full_reel, 0.5), frame_at(full_reel, 3.0)
    assert label_present(early, LABEL)[0] and label_present(frame_at(full_reel, 1.9), LABEL)[0]
    assert not label_present(late, LABEL)[0]  # the full label is gone...
    assert label_present(late, LABEL, BADGE_SCALE)[0]  # ...and the badge is there
    # Against the unlabelled still (frame 0 of a zoom-in is the still itself): the label's
    # box differs, the same box 300 px higher (no layer there) does not.
    first = np.asarray(frame_at(full_reel, 0.0), dtype=np.float32)
    with Image.open(stills[0]) as opened:
        still = np.asarray(opened.convert("RGB"), dtype=np.float32)
    _, (left, top, right, bottom) = label_present(early, LABEL)
    label_region = np.s_[top:bottom, left:right]
    above = np.s_[top - 300 : bottom - 300, left:right]
    assert np.abs(first[label_region] - still[label_region]).mean() > 30
    assert np.abs(first[above] - still[above]).mean() < 12  # grain and grading only


@pytest.mark.slow
def test_music_is_normalised_to_minus_14_lufs(tmp_path: Path, full_reel: Path) -> None:
    assert abs(integrated_loudness(full_reel) - -14.0) <= 1.0  # in the finished reel, after AAC
    for level in (0.01, 0.5):  # a very quiet and a very loud bed: the mix is all that differs
        music = music_file(tmp_path / f"bed-{level}.wav", level=level)
        mixed = render_audio(ReelPlan([Segment(Path("unused.png"), "still")], 6.0, LABEL, music=music),
                             tmp_path / f"mix-{level}.wav")  # fmt: skip
        assert abs(integrated_loudness(mixed) - -14.0) <= 1.0


def test_a_music_folder_gives_a_track_chosen_by_seed(tmp_path: Path) -> None:
    for name in ("b.wav", "a.mp3", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert [pick_music(tmp_path, seed).name for seed in range(3)] == ["a.mp3", "b.wav", "a.mp3"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(GenerationError, match="no music files"):
        pick_music(tmp_path / "empty", 0)


@pytest.mark.slow
def test_the_lut_changes_colour_as_it_says(tmp_path: Path, stills: list[Path]) -> None:
    def channel_means(look: Look) -> np.ndarray:  # type: ignore[type-arg]
        reel = render_reel(
            ReelPlan([Segment(stills[0], "still")], 1.5, LABEL, look=look), tmp_path / "lut.mp4"
        )
        return np.asarray(frame_at(reel, 1.0).crop((0, 0, 1080, 1500)), dtype=np.float32).mean(axis=(0, 1))

    plain = channel_means(Look())
    identity = channel_means(Look(lut=cube_lut(tmp_path / "id.cube", "identity")))
    no_blue = channel_means(Look(lut=cube_lut(tmp_path / "nb.cube", "no-blue")))
    assert np.abs(identity - plain).max() < 2.0
    assert no_blue[2] < 12 and plain[2] > 60  # blue gone (4:2:0 leaves a little)
    assert abs(no_blue[0] - plain[0]) < 15  # red kept (luma shifts a little in YUV)


def held_clip(still: Path, seconds: float, out: Path) -> Path:
    """A clip that holds `still` (at quarter size): a segment without a camera move's cost."""
    small = out.with_suffix(".png")
    with Image.open(still) as opened:
        opened.resize((270, 480), Image.Resampling.LANCZOS).save(small)
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-loop", "1", "-i", str(small), "-t", f"{seconds}", "-r", "30",
         "-pix_fmt", "yuv420p", "-crf", "12", str(out)],
        check=True,
    )  # fmt: skip
    return out


@pytest.mark.slow
def test_transitions_crossfade_slide_and_cut(tmp_path: Path, stills: list[Path]) -> None:
    # Held clips, not camera moves: what moves mid-frame is then the transition alone.
    # Two seconds, half a second of transition: every frame is encoded, so short is cheap.
    segments = [Segment(held_clip(s, 1.25, tmp_path / f"{i}.mp4"), "clip") for i, s in enumerate(stills)]
    middles = {}
    for transition in ("crossfade", "slide", "cut"):
        plan = ReelPlan(segments, 2.0, LABEL, transition=transition, transition_s=0.5)  # type: ignore[arg-type]
        reel = render_reel(plan, tmp_path / f"{transition}.mp4")
        assert int(next(s for s in probe(reel)["streams"] if s["codec_type"] == "video")["nb_frames"]) == 60
        middles[transition] = mid = np.asarray(frame_at(reel, 1.0).crop((0, 0, 1080, 1500)), dtype=np.float32)
        before, after = (
            np.asarray(frame_at(reel, t).crop((0, 0, 1080, 1500)), dtype=np.float32) for t in (0.7, 1.3)
        )
        apart = np.abs(before - after).mean()
        if transition == "crossfade":  # halfway: about the mean of both sides
            assert np.abs(mid - (before + after) / 2).mean() < apart * 0.4
        if transition == "cut":  # no blend: one side or the other
            assert min(np.abs(mid - before).mean(), np.abs(mid - after).mean()) < apart * 0.4
    assert np.abs(middles["slide"] - middles["crossfade"]).mean() > 5  # a slide is not a fade
    assert segment_seconds(4.0, 2, "crossfade", 1.0) == 2.5 and segment_seconds(4.0, 2, "cut", 1.0) == 2.0


def motion_per_frame(source: Path | list[bytes]) -> np.ndarray:  # type: ignore[type-arg]
    """Mean absolute change between consecutive frames (grey, quarter size, above the label)
    of a video, or of raw yuv420p 1080×1920 frames."""
    if isinstance(source, Path):
        raw = subprocess.run(
            [ffmpeg_exe(), "-v", "error", "-i", str(source), "-vf", "crop=1080:1500:0:0,scale=270:375",
             "-f", "rawvideo", "-pix_fmt", "gray", "-"],
            capture_output=True, check=True,
        ).stdout  # fmt: skip
        frames = np.frombuffer(raw, np.uint8).reshape(-1, 375, 270).astype(np.float32)
    else:
        lumas = [np.frombuffer(f, np.uint8, 1080 * 1920).reshape(1920, 1080)[:1500] for f in source]
        frames = np.stack([cv2.resize(luma, (270, 375), interpolation=cv2.INTER_AREA) for luma in lumas])
        frames = frames.astype(np.float32)
    return np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2))  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def detailed_still(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Fine texture everywhere: a camera move shows in every part of the frame."""
    return textured_still(tmp_path_factory.mktemp("moves") / "detailed.png", seed=5, detail=96)


@pytest.mark.slow
@pytest.mark.parametrize("move", MOVES)
def test_camera_moves_are_smooth_and_deterministic(tmp_path: Path, detailed_still: Path, move: str) -> None:
    still = detailed_still
    plan = ReelPlan([Segment(still, "still", move)], 3.0, LABEL)
    if move == "parallax":  # once through the whole path: render_reel, encoded, decoded back
        reel = render_reel(plan, tmp_path / "a.mp4")
        motion = motion_per_frame(reel)
    else:  # the others as the same camera-move frames render_reel feeds ffmpeg, unencoded
        motion = motion_per_frame(list(move_frames(still, move, 90)))
    assert len(motion) == 89 and motion.mean() > 0.3  # the camera moves
    # Smooth: in the middle third every frame moves about as much as the fastest one. A
    # whole-pixel stutter shows as frames that do not move at all next to double jumps.
    middle = motion[30:60]
    assert middle.min() > 0.5 * middle.max()
    if move == "parallax":  # deterministic: the frames the encoder gets are the same every time
        frames = list(move_frames(still, move, 3))
        assert frames == list(move_frames(still, move, 3))


def test_a_camera_move_starts_and_ends_on_the_still_as_a_still_reel_frames_it(tmp_path: Path) -> None:
    """Zoom 1 shows exactly the still scaled to cover 1080×1920 and centred, the rest cropped:
    the frame ffmpeg's own scale+crop makes, within a bilinear-vs-bicubic difference."""
    wide = textured_still(tmp_path / "wide.png", seed=3, size=(1350, 1920), detail=12)
    big = textured_still(tmp_path / "big.png", seed=4, size=(2160, 3840), detail=12)
    for still in (wide, big):
        first = np.frombuffer(next(move_frames(still, "zoom-in", 30)), np.uint8, 1080 * 1920)
        reference = subprocess.run(
            [ffmpeg_exe(), "-v", "error", "-i", str(still), "-vf",
             "scale=1080:1920:force_original_aspect_ratio=increase,crop=1080:1920",
             "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"],
            capture_output=True, check=True,
        ).stdout  # fmt: skip
        expected = np.frombuffer(reference, np.uint8, 1080 * 1920)  # the Y plane, as ours
        assert np.abs(first.astype(np.float32) - expected).mean() < 1.0
    *_, last = move_frames(wide, "zoom-out", 30)
    assert np.abs(np.frombuffer(last, np.uint8, 1080 * 1920).astype(np.float32) - np.frombuffer(
        next(move_frames(wide, "zoom-in", 30)), np.uint8, 1080 * 1920
    )).mean() < 0.01  # fmt: skip
    with pytest.raises(ValueError, match="unknown camera move 'spin'"):
        next(move_frames(wide, "spin", 30))


@pytest.mark.slow
def test_a_clip_of_any_size_and_rate_fills_the_frame_at_30_fps(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=24:duration=2",
         "-pix_fmt", "yuv420p", str(clip)],
        check=True,
    )  # fmt: skip
    reel = render_reel(ReelPlan([Segment(clip, "clip")], 3.0, LABEL), tmp_path / "reel.mp4")
    video = next(s for s in probe(reel)["streams"] if s["codec_type"] == "video")
    assert (video["width"], video["height"], video["avg_frame_rate"], video["nb_frames"]) == (
        1080,
        1920,
        "30/1",
        "90",
    )
    assert check_reel(reel).ok  # the short clip is held on its last frame to the full length


# --- the spec check --------------------------------------------------------------------


def encode(out: Path, video: str, extra: list[str]) -> Path:
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", video, "-f", "lavfi", "-i",
         "sine=frequency=440:sample_rate=96000", "-shortest", *extra, str(out)],
        check=True,
    )  # fmt: skip
    return out


@pytest.mark.slow
def test_what_a_re_encode_can_fix_is_fixed(tmp_path: Path) -> None:
    bad = encode(
        tmp_path / "bad.mp4",
        "testsrc2=size=540x960:rate=15:duration=4",
        ["-c:v", "libx264", "-pix_fmt", "yuv444p", "-c:a", "aac", "-ar", "96000"],  # no faststart
    )
    report = check_reel(bad)
    assert not report.refused
    assert any("15.00 fps" in p for p in report.fixable) and any("yuv444p" in p for p in report.fixable)
    assert any("moov" in p for p in report.fixable) and any("96000 Hz" in p for p in report.fixable)
    fixed = ensure_reel_spec(bad)
    assert len(fixed) == len(report.fixable)
    assert check_reel(bad).ok


def test_what_it_cannot_fix_is_refused_with_the_reason(tmp_path: Path) -> None:
    wide = encode(tmp_path / "wide.mp4", "testsrc2=size=640x360:rate=30:duration=4", ["-pix_fmt", "yuv420p"])
    with pytest.raises(GenerationError, match=r"wide.mp4 cannot be a reel: 640×360 is not 9:16"):
        ensure_reel_spec(wide)
    short = encode(
        tmp_path / "short.mp4", "testsrc2=size=540x960:rate=30:duration=2", ["-pix_fmt", "yuv420p"]
    )
    with pytest.raises(GenerationError, match=r"2.0 s long; Instagram reels must be 3 s to 15 min"):
        ensure_reel_spec(short)


# --- the local image-to-video backend ----------------------------------------------------


@pytest.fixture(scope="module")
def tiny_ltx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built_once(tmp_path_factory, "tiny-ltx", build_tiny_ltx)


def test_frame_counts_follow_the_models_rule() -> None:
    assert frame_count(5.0, 24, 8) == 121  # LTX: 8k + 1
    assert frame_count(5.0, 16, 4) == 81  # Wan: 4k + 1
    assert frame_count(0.1, 24, 8) == 9


@pytest.mark.slow
def test_tiny_ltx_animates_a_still_offline(tiny_ltx: Path, tmp_path: Path, stills: list[Path]) -> None:
    video = LocalVideo(location=str(tiny_ltx), width=64, height=96, fps=8, steps=2, device="cpu")
    with Image.open(stills[0]) as still:
        clip = animate_local(
            still, "she turns to the camera", 1.0, 3, video, Upscaler(), tmp_path / "clip.mp4"
        )
        again = animate_local(
            still, "she turns to the camera", 1.0, 3, video, Upscaler(), tmp_path / "again.mp4"
        )
    stream = next(s for s in probe(clip)["streams"] if s["codec_type"] == "video")
    assert (stream["width"], stream["height"], stream["nb_frames"]) == (
        1080,
        1920,
        "9",
    )  # 4k + 1 for tiny LTX
    first, last = (np.asarray(frame_at(clip, t), dtype=np.float32) for t in (0.0, 1.0))
    assert np.abs(first - last).mean() > 0.5  # the frames differ: it moves
    assert np.abs(first - np.asarray(frame_at(again, 0.0), dtype=np.float32)).mean() < 1.0  # seeded
    reel = render_reel(ReelPlan([Segment(clip, "clip")], 3.0, LABEL), tmp_path / "reel.mp4")
    assert check_reel(reel).ok


@pytest.mark.slow
def test_frames_are_upscaled_with_the_stills_upscaler(tmp_path: Path) -> None:
    model = make_test_upscaler(tmp_path / "x4.pth")
    textured = np.asarray(Image.open(textured_still(tmp_path / "t.png", 1, size=(270, 480), detail=60)))
    frames = [textured, textured[::-1].copy()]  # 270×480: one 4× pass
    lanczos = upscale_frames(frames, Upscaler())
    assert [np.asarray(f).shape for f in lanczos] == [(1920, 1080, 3)] * 2
    by_model = upscale_frames(frames[:1], Upscaler(str(model), tile=128))  # ~5 s a frame on a CPU
    assert np.asarray(by_model[0]).shape == (1920, 1080, 3)
    assert (
        np.abs(np.asarray(by_model[0], dtype=np.float32) - np.asarray(lanczos[0], dtype=np.float32)).mean()
        > 1
    )


# --- through vibot: the prepare stage and `vibot reel` ------------------------------------


@pytest.mark.slow
def test_a_local_backend_reel_reaches_review_with_every_disclosure_layer(
    tmp_path: Path, tiny_model: Path, tiny_ltx: Path
) -> None:
    home = tmp_path / "home"
    music = music_file(tmp_path / "bed.wav")
    reel = {
        "backend": "local",
        "model": "tiny-ltx",
        "seconds": 3,
        "stills": 2,
        "size": "64x96",
        "fps": 8,
        "steps": 2,
    }
    post = {
        "transition": "slide",
        "music": str(music),
        "text": "{scene}",
        "lut": str(cube_lut(tmp_path / "l.cube", "identity")),
    }
    faces = tmp_path / "faces"
    faces.mkdir()
    shutil.copy(Path(__file__).parent / "vendor" / "faces" / "obama.jpg", faces)  # any real face
    write_persona(
        home / "personas",
        pipeline={"image": {"model": "tiny-flux", "steps": 2, "size": "320x400"}, "reel": reel, "post": post},
        appearance={"base_prompt": "t3ss woman", "identity": {"references": str(faces), "retries": 0}},
    )
    app = make_app(home, f"sqlite:///{home / 'vibot.db'}", tiny_model)
    (app.settings.models_dir / "tiny-ltx").symlink_to(tiny_ltx)  # as if built on first use
    post_id = planned_post(app, datetime.now(UTC) + timedelta(hours=3), "reel")
    assert prepare_post(app, post_id)
    view = get_post(app, post_id)
    video, cover = view.media
    assert view.post.status == PostStatus.IN_REVIEW
    assert (video.kind, video.width, video.height, video.duration_s) == ("video", 1080, 1920, 3.0)
    assert cover.kind == "cover" and cover.mime == "image/jpeg"
    report = verify_file(app.media.path(video.path), app.signing.ca_pem)
    assert report.ok, report.problems()
    assert check_reel(app.media.path(video.path)).ok  # the watermark re-encode kept the spec
    record = json.loads(view.post.generation or "[]")[-1]
    assert record["kind"] == "reel" and record["backend"] == "local" and record["stills"] == 2
    assert record["music"] == "bed.wav" and record["transition"] == "slide"
    # The identity guard: both stills, then one frame a second of the animated reel (the tiny
    # models draw no face, so every check fails and the post waits in review, flagged).
    assert [f["second"] for f in record["identity"]["frames"]] == [0, 1, 2]
    assert json.loads(view.post.review_flags or "[]") == [
        "identity: no face found (limit 0.60) after 1 image(s)",
        "identity: 3 of 3 reel frames off (no face, limit 0.60)",
    ]


@pytest.mark.slow
def test_vibot_reel_makes_a_stamped_reel_from_stills(
    tmp_path: Path, stills: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    music = music_file(tmp_path / "bed.wav")
    out = tmp_path / "out.mp4"
    done = cli_here(
        monkeypatch,
        tmp_path,
        "reel",
        *map(str, stills),
        "--out",
        str(out),
        "--seconds",
        "3",
        "--music",
        str(music),
    )
    assert done.returncode == 0, done.stderr
    assert f"{out}: 3 s from 2 still(s) by motion" in done.stdout
    assert check_reel(out).ok
    verified = cli_here(monkeypatch, tmp_path, "verify", str(out))
    assert verified.returncode == 0, verified.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.png", "--out", "r.mp4"], "error: missing.png: no such file — give the stills to animate"),
        (["STILL", "--out", "r.mov"], "error: --out r.mov: a reel is an .mp4 file — name it like reel.mp4"),
        (["STILL", "--out", "r.mp4", "--seconds", "2"], "error: --seconds 2: reels are 3-90 s here"),
        (
            ["STILL", "--out", "r.mp4", "--backend", "sora"],
            "error: --backend sora: use one of motion, local, kling",
        ),
        (
            ["STILL", "--out", "r.mp4", "--music", "no.mp3"],
            "error: --music no.mp3: no such file — fix the path",
        ),
        (["STILL", "--out", "r.mp4", "--label", " "], "error: --label: the AI label cannot be empty"),
        (["notes.txt", "--out", "r.mp4"], "error: notes.txt: not an image vibot can read"),
    ],
)
def test_vibot_reel_refuses_bad_input_in_one_line(
    tmp_path: Path, stills: list[Path], args: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "notes.txt").write_text("not an image")
    args = [str(stills[0]) if a == "STILL" else a for a in args]
    done = cli_here(monkeypatch, tmp_path, "reel", *args)
    assert done.returncode == 2
    assert done.stderr.startswith(message) and done.stderr.count("\n") == 1
    assert not (tmp_path / "r.mp4").exists()
