"""XMP disclosure metadata, written and read with exiftool (JPEG, PNG, WebP, MP4).

exiftool is a Perl program: starting it costs ~0.2 s, more than the work. One exiftool
per process stays open (`-stay_open`, through PyExifTool) and takes every request in
turn; a post's write and its read-back at approval drop from ~0.6 s to a few ms each.
Requests go to it one line per argument, so an argument holding a line break (a file
name from the command line, say) goes to a one-off exiftool with real argv instead: a
break could otherwise start a new exiftool option.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import shutil
import subprocess
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from content.errors import ConfigError, GenerationError

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
CREATOR_TOOL = "vibot"
_TAGS = ("XMP-iptcExt:DigitalSourceType", "XMP-dc:Description", "XMP-xmp:CreatorTool")
_LOCK = threading.Lock()  # one exiftool, one request at a time (the web UI reads from threads)


@dataclass(frozen=True)
class XmpFields:
    digital_source_type: str | None
    description: str | None
    creator_tool: str | None


def exiftool() -> str:
    found = shutil.which("exiftool")
    if found is None:
        raise ConfigError(
            "exiftool is not installed — run `make install` or apt-get install libimage-exiftool-perl"
        )
    return found


# PyExifTool starts exiftool with PR_SET_PDEATHSIG, which fires when the *thread* that
# started it ends, not the process: started from a web request's worker thread (which
# ends when idle) or a prepare pass's, exiftool was killed under vibot and started again
# at the next call. It is started from one daemon thread instead, which waits for such
# requests as long as the process lives (a daemon thread is not joined at exit, so exiftool
# is still running when the exit handler stops it).
_starts: queue.SimpleQueue[tuple[Callable[[], None], Future[None]]] | None = None


def _starter(requests: queue.SimpleQueue[tuple[Callable[[], None], Future[None]]]) -> None:
    while True:
        start, done = requests.get()
        try:
            start()
            done.set_result(None)
        except BaseException as err:
            done.set_exception(err)


def _start_from_lasting_thread(start: Callable[[], None]) -> None:
    global _starts
    if _starts is None:
        _starts = queue.SimpleQueue()
        threading.Thread(target=_starter, args=(_starts,), name="exiftool-parent", daemon=True).start()
    done: Future[None] = Future()
    _starts.put((start, done))
    done.result()


@cache
def _resident() -> Any:
    import exiftool as pyexiftool

    helper = pyexiftool.ExifTool(executable=exiftool(), common_args=[], encoding="utf-8")
    _start_from_lasting_thread(helper.run)
    atexit.register(helper.terminate)
    return helper


def _forget_in_child() -> None:
    """A forked child must not talk to its parent's exiftool through the same pipes, nor stop
    it at exit: it starts its own when it needs one (from a thread of its own: the parent's
    starting thread does not exist in the child)."""
    global _starts
    if _resident.cache_info().currsize:
        atexit.unregister(_resident().terminate)
    _resident.cache_clear()
    _starts = None


os.register_at_fork(after_in_child=_forget_in_child)


def _run(args: list[str]) -> tuple[int, str, str]:
    """exiftool ARGS: (status, stdout, stderr), in the resident exiftool when it can be."""
    if any("\n" in arg or "\r" in arg for arg in args):
        done = subprocess.run([exiftool(), *args], capture_output=True, text=True, check=False)
        return done.returncode, done.stdout, done.stderr
    from exiftool.exceptions import ExifToolException

    with _LOCK, warnings.catch_warnings():
        # PyExifTool warns when it finds its exiftool dead; vibot starts another instead.
        warnings.filterwarnings("ignore", message="ExifTool (process was previously running|not running)")
        try:
            helper = _resident()
            stdout = helper.execute(*args)
        except (ExifToolException, OSError):  # it died (killed, crashed): start another
            atexit.unregister(helper.terminate)
            _resident.cache_clear()
            helper = _resident()
            stdout = helper.execute(*args)
        return int(helper.last_status), str(stdout), str(helper.last_stderr)


def write(path: Path, description: str) -> None:
    status, _, errors = _run(
        [
            "-q",
            "-q",
            "-overwrite_original",
            "-m",
            f"-XMP-iptcExt:DigitalSourceType={TRAINED_ALGORITHMIC_MEDIA}",
            f"-XMP-dc:Description={description}",
            f"-XMP-xmp:CreatorTool={CREATOR_TOOL}",
            str(path),
        ]
    )
    if status != 0:
        raise GenerationError(f"exiftool could not write XMP to {path.name}: {errors.strip()[:300]}")


def read(path: Path) -> XmpFields:
    status, output, _ = _run(["-j", *(f"-{tag}" for tag in _TAGS), str(path)])
    if status != 0:
        return XmpFields(None, None, None)
    (record,) = json.loads(output or "[{}]")
    return XmpFields(record.get("DigitalSourceType"), record.get("Description"), record.get("CreatorTool"))
