"""A persona's training photos: read, checked, deduplicated, captioned and bucketed.

    folder ─► JPEG/PNG/WebP, EXIF orientation applied, RGB ─► short side ≥ 512 px
           ─► near-duplicates dropped (perceptual hash) ─► caption (sidecar .txt, else the
              trigger word and base look) ─► aspect bucket ─► one face check each

Anything vibot cannot use stops the run with the file and the fix; nothing is written.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from content.errors import ConfigError
from content.identity import IMAGE_SUFFIXES, Face, References, find_faces, read_photo, references_from

MIN_SIDE = 512
MIN_IMAGES = 4
NEAR_DUPLICATE_BITS = 6  # of 64: pHash distance at or under this is the same photo again
BUCKET_STEP = 64  # bucket sides are multiples of this (Flux needs 16: VAE 8 × patch 2)


@dataclass(frozen=True)
class TrainingImage:
    path: Path
    caption: str
    bucket: tuple[int, int]  # width, height it trains at
    sha256: str
    phash: str
    face: str  # "one face", "no face", "several faces", "not checked"
    largest_face: Face | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Dataset:
    images: list[TrainingImage]
    duplicates: list[tuple[Path, Path]]  # (dropped, the image it repeats)

    @property
    def folder(self) -> Path:
        return self.images[0].path.parent

    @property
    def face_problems(self) -> list[TrainingImage]:
        return [image for image in self.images if image.face in ("no face", "several faces")]

    def references(self) -> References | None:
        """The persona's face as the training photos show it (photos with one clear face),
        for when the persona names no reference folder of its own."""
        faces = [
            (i.path.name, i.largest_face) for i in self.images if i.face == "one face" and i.largest_face
        ]
        return references_from(faces) if faces else None


def buckets(resolution: int) -> list[tuple[int, int]]:
    """Sizes of about resolution² pixels, sides multiples of 64, from 1:2 to 2:1."""
    sizes = set()
    first = max(BUCKET_STEP, resolution // 2 // BUCKET_STEP * BUCKET_STEP)
    for width in range(first, resolution * 2 + 1, BUCKET_STEP):
        height = round(resolution * resolution / width / BUCKET_STEP) * BUCKET_STEP
        if height > 0 and 0.5 <= width / height <= 2.0:
            sizes.add((width, height))
    return sorted(sizes)


def bucket_for(size: tuple[int, int], resolution: int) -> tuple[int, int]:
    aspect = size[0] / size[1]
    return min(buckets(resolution), key=lambda wh: abs(wh[0] / wh[1] - aspect))


def _photos(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise ConfigError(f"{folder}: no such folder — give the folder of training photos with --images")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    for path in files:
        if path.suffix.lower() not in (*IMAGE_SUFFIXES, ".txt"):
            raise ConfigError(
                f"{path}: not a training photo — the folder holds JPEG, PNG or WebP photos and their "
                ".txt captions; move it out"
            )
    photos = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    if not photos:
        raise ConfigError(f"{folder}: no photos (JPEG, PNG, WebP) — add at least {MIN_IMAGES} of the persona")
    return photos


def caption_for(path: Path, trigger: str, base_prompt: str) -> str:
    sidecar = path.with_suffix(".txt")
    if sidecar.is_file():
        text = " ".join(sidecar.read_text(encoding="utf-8", errors="replace").split())
        if text:
            return text
    return base_prompt if trigger and trigger in base_prompt else f"{trigger} {base_prompt}".strip()


def load_dataset(
    folder: Path, trigger: str, base_prompt: str, resolution: int = 512, check_faces: bool = True
) -> Dataset:
    import imagehash

    kept: list[TrainingImage] = []
    hashes: list[tuple[imagehash.ImageHash, Path]] = []
    duplicates: list[tuple[Path, Path]] = []
    for path in _photos(folder):
        image = read_photo(path, "training reads JPEG, PNG and WebP; remove or re-save it")
        if min(image.size) < MIN_SIDE:
            raise ConfigError(
                f"{path}: {image.width}×{image.height}, its short side is under {MIN_SIDE} px — "
                "use a larger photo or move it out"
            )
        phash = imagehash.phash(image)
        repeated = next((seen for other, seen in hashes if phash - other <= NEAR_DUPLICATE_BITS), None)
        if repeated is not None:
            duplicates.append((path, repeated))
            continue
        hashes.append((phash, path))
        face, largest = "not checked", None
        if check_faces:
            found = find_faces(image)
            face = "no face" if not found.found else "several faces" if found.several else "one face"
            largest = found.largest
        kept.append(
            TrainingImage(
                path=path,
                caption=caption_for(path, trigger, base_prompt),
                bucket=bucket_for(image.size, resolution),
                sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                phash=str(phash),
                face=face,
                largest_face=largest,
            )
        )
    if len(kept) < MIN_IMAGES:
        dropped = f" ({len(duplicates)} near-duplicate(s) dropped)" if duplicates else ""
        raise ConfigError(
            f"{folder}: {len(kept)} usable photo(s){dropped}, training needs at least {MIN_IMAGES} — "
            "add more photos of the persona"
        )
    return Dataset(kept, duplicates)
