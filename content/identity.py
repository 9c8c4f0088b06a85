"""Face identity: is the persona's face in this image, and how close is it to the references?

    image ─► faces (dlib's HOG detector, on a copy at most 800 px on its long side)
          ─► the largest face ─► 5 landmarks ─► 128-d embedding (dlib's ResNet)
          ─► euclidean distance to the centroid of the persona's reference embeddings

Pure: images in, numbers out; no database and no files but the models. The weights ship
inside the `face-recognition-models` package and dlib comes as the `dlib-bin` wheel, so
nothing downloads and nothing compiles. The 5-point landmark model is used, not the
68-point one: the 68-point model was trained on iBUG 300-W, whose terms exclude commercial
use. 0.6 is dlib's own threshold for "same person" on these embeddings (LFW: 99.38%).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from content.errors import ConfigError

DEFAULT_MAX_DISTANCE = 0.6
DETECT_LONG_SIDE = 800  # px: HOG finds faces down to ~80 px; larger only costs time
SIMILAR_SIZE = 0.5  # a second face at least this share of the largest's area: "several faces"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
FACE_CROP = 160  # px, the side of a face crop on the post page
CROP_MARGIN = 0.25  # of the face box's side, added on each side of a crop

Box = tuple[int, int, int, int]  # left, top, right, bottom in the image's own pixels


@dataclass(frozen=True)
class Face:
    box: Box
    embedding: np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True)
class Faces:
    """The faces found in one image, largest first."""

    found: list[Face]

    @property
    def largest(self) -> Face | None:
        return self.found[0] if self.found else None

    @property
    def several(self) -> bool:
        """Another face of similar size: whose face is the persona's is then unclear."""
        if len(self.found) < 2:
            return False
        return _area(self.found[1].box) >= SIMILAR_SIZE * _area(self.found[0].box)


@dataclass(frozen=True)
class References:
    """The persona's face: the centroid of its reference embeddings, and how far each
    reference lies from it (a reference far from the rest is probably someone else)."""

    names: list[str]
    centroid: np.ndarray[Any, np.dtype[np.float64]]
    distances: list[float]

    @property
    def suggested_limit(self) -> float:
        """A limit from the references' own spread: their largest distance to the centroid
        plus a margin, never above dlib's 0.6 (looser stops telling people apart)."""
        spread = max(self.distances) if self.distances else 0.0
        return round(min(DEFAULT_MAX_DISTANCE, max(0.35, spread + 0.15)), 2)

    def outliers(self) -> list[str]:
        """References much farther from the centroid than the others."""
        if len(self.distances) < 3:
            return []
        values = np.asarray(self.distances)
        cut = max(float(np.median(values)) * 2.0, DEFAULT_MAX_DISTANCE * 0.75)
        return [name for name, distance in zip(self.names, self.distances, strict=True) if distance > cut]


@dataclass(frozen=True)
class IdentityScore:
    distance: float | None  # None: no face, or no references to compare it with
    limit: float
    faces: int
    box: Box | None
    compared: bool = True  # False: the persona has no reference faces; only presence counts

    @property
    def ok(self) -> bool:
        if not self.compared:
            return self.faces > 0
        return self.distance is not None and self.distance <= self.limit

    def describe(self) -> str:
        if self.faces == 0:
            return f"identity: no face found (limit {self.limit:.2f})"
        if self.distance is None:
            return "identity: a face, no reference faces to compare it with"
        return f"identity {self.distance:.2f} (limit {self.limit:.2f})"

    def as_record(self) -> dict[str, Any]:
        return {
            "distance": None if self.distance is None else round(self.distance, 4),
            "limit": self.limit,
            "faces": self.faces,
            "box": list(self.box) if self.box else None,
            "compared": self.compared,
        }


def _area(box: Box) -> int:
    return max(0, box[2] - box[0]) * max(0, box[3] - box[1])


def _models_folder() -> Path:
    # Found without importing the package: its __init__ imports pkg_resources (deprecated).
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("face-recognition-models is not installed — run `make install`")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


MODEL_FILES = {
    "landmarks": "shape_predictor_5_face_landmarks.dat",
    "embedding": "dlib_face_recognition_resnet_model_v1.dat",
}


@cache
def _dlib() -> tuple[Any, Any, Any]:
    """(detector, 5-point landmarks, embedding network), loaded once per process."""
    try:
        import dlib
    except ImportError:
        raise ConfigError("dlib is not installed — run `make install` (the dlib-bin wheel)") from None
    folder = _models_folder()
    detector = dlib.get_frontal_face_detector()
    landmarks = dlib.shape_predictor(str(folder / MODEL_FILES["landmarks"]))
    embedder = dlib.face_recognition_model_v1(str(folder / MODEL_FILES["embedding"]))
    return detector, landmarks, embedder


def as_rgb(image: Image.Image) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """The image as an H×W×3 uint8 array. Files come upright from `read_photo`; generated
    images have no orientation to apply."""
    return np.ascontiguousarray(np.asarray(image if image.mode == "RGB" else image.convert("RGB")))


def find_faces(image: Image.Image) -> Faces:
    """Every face in `image` with its embedding, largest first."""
    import dlib

    detector, landmarks, embedder = _dlib()
    pixels = as_rgb(image)
    height, width = pixels.shape[:2]
    scale = min(1.0, DETECT_LONG_SIDE / max(height, width))
    small = pixels
    if scale < 1.0:
        resized = Image.fromarray(pixels).resize(
            (max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.BILINEAR
        )
        small = np.ascontiguousarray(np.asarray(resized))
    # Upsample once on small images: HOG's window is 80 px, faces in a 400 px image are smaller.
    found = []
    for rect in detector(small, 1 if max(small.shape[:2]) < 500 else 0):
        box = (
            max(0, round(rect.left() / scale)),
            max(0, round(rect.top() / scale)),
            min(width, round(rect.right() / scale)),
            min(height, round(rect.bottom() / scale)),
        )
        shape = landmarks(pixels, dlib.rectangle(*box))
        vector = np.asarray(embedder.compute_face_descriptor(pixels, shape, 0), dtype=np.float64)
        found.append(Face(box, vector))
    found.sort(key=lambda face: _area(face.box), reverse=True)
    return Faces(found)


def face_crop(image: Image.Image, box: Box, size: int = FACE_CROP) -> Image.Image:
    """A square around the face with some hair and chin, `size` px: what a reviewer compares."""
    left, top, right, bottom = box
    side = max(right - left, bottom - top) * (1 + 2 * CROP_MARGIN)
    centre_x, centre_y = (left + right) / 2, (top + bottom) / 2
    square = (round(centre_x - side / 2), round(centre_y - side / 2), round(centre_x + side / 2),
              round(centre_y + side / 2))  # fmt: skip
    return image.convert("RGB").crop(square).resize((size, size), Image.Resampling.LANCZOS)


def closest_reference(folder: Path, references: References) -> Path:
    """The reference photo nearest the persona's centroid: the most typical face."""
    name = min(zip(references.distances, references.names, strict=True))[1]
    return folder / name


def distance(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> float:
    return float(np.linalg.norm(a - b))


def references_from(faces: list[tuple[str, Face]]) -> References:
    """References from one face per reference image (the caller says which images had none)."""
    names = [name for name, _ in faces]
    embeddings = np.stack([face.embedding for _, face in faces])
    centroid = embeddings.mean(axis=0)
    return References(names, centroid, [distance(e, centroid) for e in embeddings])


def score(
    image: Image.Image, references: References | None, limit: float = DEFAULT_MAX_DISTANCE
) -> IdentityScore:
    """How far the largest face in `image` is from the persona's face (without references:
    only whether there is a face)."""
    faces = find_faces(image)
    largest = faces.largest
    if largest is None:
        return IdentityScore(None, limit, 0, None, compared=references is not None)
    if references is None:
        return IdentityScore(None, limit, len(faces.found), largest.box, compared=False)
    return IdentityScore(
        distance(largest.embedding, references.centroid), limit, len(faces.found), largest.box
    )


def reference_images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise ConfigError(f"{folder}: no such folder — put photos of the persona's face there")
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not images:
        raise ConfigError(
            f"{folder}: no reference photos ({', '.join(IMAGE_SUFFIXES)}) — add photos of the persona's face"
        )
    return images


def read_photo(path: Path, fix: str = "remove it or re-save it") -> Image.Image:
    """The photo upright (EXIF orientation applied), in RGB; a file that is not one stops with
    its name and `fix`."""
    try:
        with Image.open(path) as opened:
            opened.load()
            return ImageOps.exif_transpose(opened).convert("RGB")
    except (OSError, Image.DecompressionBombError):
        raise ConfigError(f"{path}: not an image vibot can read — {fix}") from None


def _faces_in(folder: Path) -> Iterator[tuple[Path, Faces]]:
    for path in reference_images(folder):
        yield path, find_faces(read_photo(path))


def load_references(folder: Path) -> References:
    """The persona's references: one face from each photo in `folder`. A photo that cannot
    be read, or shows no face, stops with its name and the fix."""
    faces = []
    for path, found in _faces_in(folder):
        if found.largest is None:
            raise ConfigError(f"{path}: no face found — use a photo where the face is clear and frontal")
        faces.append((path.name, found.largest))
    return references_from(faces)


def references_in(folder: Path) -> References | None:
    """References from the photos in `folder` that show one clear face, skipping the rest:
    for a LoRA's training photos, which may hold scenes without the persona."""
    faces = [(path.name, found.largest) for path, found in _faces_in(folder) if not found.several]
    clear = [(name, face) for name, face in faces if face is not None]
    return references_from(clear) if clear else None
