"""Face crops for the post page: the generated face beside the persona's reference face,
so a reviewer sees what the identity score measured."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from content.errors import ConfigError
from content.persona import Persona


@lru_cache(maxsize=64)
def _face_jpeg(path: str, modified_ns: int) -> bytes | None:
    from content.identity import face_crop, find_faces, read_photo

    image = read_photo(Path(path))
    largest = find_faces(image).largest
    if largest is None:
        return None
    crop = io.BytesIO()
    face_crop(image, largest.box).save(crop, "JPEG", quality=88)
    return crop.getvalue()


def face_jpeg(path: Path) -> bytes | None:
    """The largest face in the image file as a small JPEG; None when there is none, or when
    the face models are not installed (vibot without the [local] extra)."""
    try:
        return _face_jpeg(str(path), path.stat().st_mtime_ns)
    except (ImportError, ConfigError, OSError):
        return None


def reference_face_jpeg(persona: Persona) -> bytes | None:
    """The persona's most typical reference face (nearest the centroid)."""
    from bot.generation import persona_references, reference_folder
    from content.identity import closest_reference

    folder = reference_folder(persona)  # reads the LoRA's training record: once
    if folder is None:
        return None
    try:
        references = persona_references(persona, folder)
    except (ImportError, ConfigError):
        return None
    return None if references is None else face_jpeg(closest_reference(folder, references))
