"""ffmpeg: where it is, Instagram's Reels encoder settings, and running it with progress."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from PIL import Image

from content.errors import ConfigError, GenerationError

FPS = 30
WIDTH, HEIGHT = 1080, 1920
REEL_SIZE = (WIDTH, HEIGHT)


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def ffprobe_exe() -> str:
    found = shutil.which("ffprobe")
    if found is None:
        raise ConfigError("ffprobe is not installed — apt-get install ffmpeg (or brew install ffmpeg)")
    return found


def h264_reel_args(fps: float, crf: int) -> list[str]:
    """Encoder settings for Instagram's Reels spec: H.264 High, yuv420p, closed GOP of two
    seconds (no scene-cut keyframes), for any vibot step that writes a reel."""
    gop = str(round(fps * 2))
    return [
        "-c:v", "libx264", "-profile:v", "high", "-preset", "veryfast", "-crf", str(crf),
        "-g", gop, "-keyint_min", gop, "-sc_threshold", "0", "-flags", "+cgop", "-pix_fmt", "yuv420p",
    ]  # fmt: skip


AAC_ARGS = ["-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2"]


def run_ffmpeg(
    args: list[str],
    what: str,
    duration_s: float | None = None,
    progress: Callable[[float], None] | None = None,
) -> None:
    """Run ffmpeg with `args`; `progress(fraction)` follows its -progress output."""
    command = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y"]
    if progress is None or not duration_s:
        result = subprocess.run([*command, *args], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise GenerationError(f"ffmpeg could not {what}: {result.stderr.strip()[-400:]}")
        return
    with subprocess.Popen(
        [*command, "-progress", "pipe:1", "-nostats", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        for line in process.stdout:
            key, _, value = line.strip().partition("=")
            if key == "out_time_us" and value.isdigit():
                progress(min(1.0, int(value) / 1e6 / duration_s))
        errors = process.stderr.read()
    if process.returncode != 0:
        raise GenerationError(f"ffmpeg could not {what}: {errors.strip()[-400:]}")
    progress(1.0)


FrameEdit = Callable[[int, bytes], bytes]


class FrameFeed:
    """Raw yuv420p frames made in Python that the source ffmpeg reads as an input.

    They go through an OS pipe that the ffmpeg inherits (`pipe:N`), written by a thread
    of their own: ffmpeg pulls each input as its filtergraph needs it, so every feed must
    be able to wait on its own. The thread overlaps making frames with ffmpeg's work (the
    frame maths is in numpy and OpenCV, which let go of the GIL)."""

    def __init__(self, frames: Iterable[bytes], size: tuple[int, int], fps: float) -> None:
        self.frames, self.size, self.fps = frames, size, fps
        self.read_fd, self.write_fd = os.pipe()
        self.failure: BaseException | None = None
        self._thread = threading.Thread(target=self._write, daemon=True)

    def input_args(self) -> list[str]:
        return [*raw_input(self.size, self.fps)[:-1], f"pipe:{self.read_fd}"]

    def start(self) -> None:
        """Once the ffmpeg holds its copy of the read end: ours is closed, so that the writer
        sees a broken pipe, not a stall, when that ffmpeg stops reading."""
        os.close(self.read_fd)
        self._thread.start()

    def _write(self) -> None:
        try:
            with open(self.write_fd, "wb", buffering=0) as pipe:
                for frame in self.frames:
                    pipe.write(frame)
        except BrokenPipeError:
            return  # the ffmpeg stopped reading: its own exit says why
        except BaseException as failure:  # raised again in the caller's thread
            self.failure = failure

    def finish(self) -> None:
        self._thread.join()
        if self.failure is not None:
            raise self.failure

    def close(self) -> None:
        """Unused pipe ends, when the ffmpeg never started."""
        if self._thread.ident is None:  # never started: both ends are still ours
            for fd in (self.read_fd, self.write_fd):
                with contextlib.suppress(OSError):
                    os.close(fd)


def pipe_frames(
    source: list[str],
    sink: list[str],
    size: tuple[int, int],
    what: str,
    edit: FrameEdit | None = None,
    total_frames: int | None = None,
    progress: Callable[[float], None] | None = None,
    feeds: Sequence[FrameFeed] = (),
) -> int:
    """Run two ffmpegs joined through Python: `source` writes raw yuv420p frames of `size`
    to its stdout (`raw_output`), `sink` reads them from its stdin (`raw_input`).
    `edit(index, frame)` may replace a frame on the way. `feeds` are inputs of `source`
    made in Python (their `input_args` are in `source`). Returns how many frames passed.

    One encode, whatever happens in between: the frames are never written as H.264 and
    decoded again, which would cost a second encode and a generation of quality. yuv420p
    is what the encoder takes: an RGB pipe measured ~35% slower for the conversions."""
    width, height = size
    frame_bytes = width * height * 3 // 2
    command = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y"]
    index, sink_stopped = 0, False
    # stderr to files: a chatty ffmpeg cannot fill a pipe nobody reads and stall both.
    with tempfile.TemporaryFile() as source_errors, tempfile.TemporaryFile() as sink_errors:
        try:
            reader = subprocess.Popen(
                [*command, *source],
                stdout=subprocess.PIPE,
                stderr=source_errors,
                pass_fds=[feed.read_fd for feed in feeds],
            )
        except BaseException:
            for feed in feeds:
                feed.close()
            raise
        for feed in feeds:
            feed.start()
        writer = subprocess.Popen([*command, *sink], stdin=subprocess.PIPE, stderr=sink_errors)
        with reader, writer:  # closes both pipes and waits, whatever happens
            assert reader.stdout is not None and writer.stdin is not None
            try:
                while len(chunk := reader.stdout.read(frame_bytes)) == frame_bytes:
                    writer.stdin.write(edit(index, chunk) if edit else chunk)
                    index += 1
                    if progress is not None and total_frames:
                        progress(min(1.0, index / total_frames))
            except BrokenPipeError:
                sink_stopped = True  # its own message says why; the source's is only the echo
            finally:
                reader.stdout.close()
                with contextlib.suppress(BrokenPipeError):  # the sink already gone
                    writer.stdin.close()
        for feed in feeds:  # the source has exited: every feed's pipe is broken or done
            feed.finish()
        order = ((reader, source_errors), (writer, sink_errors))
        for process, errors in reversed(order) if sink_stopped else order:
            if process.returncode != 0:
                errors.seek(0)
                message = errors.read().decode(errors="replace").strip()[-400:]
                raise GenerationError(f"ffmpeg could not {what}: {message or f'exit {process.returncode}'}")
    if progress is not None:
        progress(1.0)
    return index


def raw_output(frames: int | None = None) -> list[str]:
    """`source` output arguments for pipe_frames: raw frames on stdout (all, or `frames`)."""
    limit = ["-frames:v", str(frames)] if frames is not None else []
    return [*limit, "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"]


def raw_input(size: tuple[int, int], fps: float) -> list[str]:
    """`sink` input arguments for pipe_frames: raw frames from stdin."""
    width, height = size
    return ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{width}x{height}", "-r", f"{fps:g}", "-i", "-"]


def write_frames(frames: list[object], fps: float, out: Path) -> Path:
    """Frames (H×W×3 uint8 arrays) as a lossless-enough intermediate clip, through moviepy."""
    from moviepy import ImageSequenceClip

    clip = ImageSequenceClip(frames, fps=fps)
    try:
        clip.write_videofile(
            str(out),
            codec="libx264",
            # An intermediate the render reads once: crf 12 keeps it near-lossless, and
            # veryfast (the final encode's preset) writes it ~3× sooner than moviepy's medium.
            preset="veryfast",
            audio=False,
            logger=None,
            ffmpeg_params=["-crf", "12", "-pix_fmt", "yuv420p"],
        )
    finally:
        clip.close()
    return out


def read_frames(path: Path, size: tuple[int, int], indices: list[int]) -> Iterator[tuple[int, Image.Image]]:
    """(index, frame) for the frames `indices` of a video of `size`, in order, from one ffmpeg
    run decoding one frame at a time. Frames the video does not have are not yielded: the
    caller decides what a missing one means."""
    width, height = size
    wanted = sorted(set(indices))
    if not wanted:
        return
    frame_bytes = width * height * 3
    pick = "+".join(f"eq(n\\,{index})" for index in wanted)
    command = [ffmpeg_exe(), "-v", "error", "-nostdin", "-i", str(path), "-vf", f"select={pick}",
               "-fps_mode", "passthrough", "-frames:v", str(len(wanted)), "-f", "rawvideo",
               "-pix_fmt", "rgb24", "-"]  # fmt: skip
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as reader:
        assert reader.stdout is not None
        for index in wanted:
            chunk = reader.stdout.read(frame_bytes)
            if len(chunk) < frame_bytes:
                break
            yield index, Image.frombytes("RGB", size, chunk)
        reader.stdout.close()
