"""XMP disclosure metadata, written and read with exiftool (JPEG, PNG, WebP, MP4)."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from content.errors import ConfigError, GenerationError

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
CREATOR_TOOL = "vibot"
_TAGS = ("XMP-iptcExt:DigitalSourceType", "XMP-dc:Description", "XMP-xmp:CreatorTool")


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


def write(path: Path, description: str) -> None:
    command = [
        exiftool(),
        "-q",
        "-q",
        "-overwrite_original",
        "-m",
        f"-XMP-iptcExt:DigitalSourceType={TRAINED_ALGORITHMIC_MEDIA}",
        f"-XMP-dc:Description={description}",
        f"-XMP-xmp:CreatorTool={CREATOR_TOOL}",
        str(path),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise GenerationError(f"exiftool could not write XMP to {path.name}: {result.stderr.strip()[:300]}")


def read(path: Path) -> XmpFields:
    command = [exiftool(), "-j", *(f"-{tag}" for tag in _TAGS), str(path)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return XmpFields(None, None, None)
    (record,) = json.loads(result.stdout or "[{}]")
    return XmpFields(record.get("DigitalSourceType"), record.get("Description"), record.get("CreatorTool"))
