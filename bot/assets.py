"""A persona's files, moved to a worker by content: no shared disk between the daemon and
its GPU machines.

Generation reads a few files named by the persona file: the LoRA, the reference faces (or
the photos the LoRA was trained on), the LUT, the music and an upscaler's weights. The
daemon lists them here by SHA-256 (`persona_assets`); an executor hands the bytes over
(Ray: its object store, each file put once); the worker writes each file once into a
folder of its machine named by the hash (`AssetCache`), and generates with a copy of the
persona whose paths point there (`AssetCache.localize`). A file that changes gets a new
hash, so a worker never uses a stale copy, and two personas sharing a file share one copy.

Base models are not moved: every GPU machine has them under its VIBOT_HOME/models, as a
machine running the local executor does.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from bot.generation import reference_folder
from content.errors import GenerationError
from content.hashing import file_sha256
from content.persona import Persona


class Slot(StrEnum):
    """Where in a persona an asset goes."""

    LORA = "lora"  # appearance.lora
    REFERENCES = "references"  # appearance.identity.references (a folder)
    TRAINED_ON = "trained_on"  # the LoRA's training photos: the default references (a folder)
    LUT = "lut"  # pipeline.post.lut
    MUSIC = "music"  # pipeline.post.music (a file or a folder)
    UPSCALER = "upscaler"  # pipeline.upscale.model, when it is a weights file


@dataclass(frozen=True)
class AssetFile:
    name: str
    sha256: str
    bytes: int


@dataclass(frozen=True)
class Asset:
    """A file, or a folder's files (not its subfolders), by content."""

    files: tuple[AssetFile, ...]
    folder: bool

    @property
    def key(self) -> str:
        """The file's hash; a folder's is the hash of its names and their hashes."""
        if not self.folder:
            return self.files[0].sha256
        listing = "\n".join(f"{item.name} {item.sha256}" for item in self.files)
        return hashlib.sha256(listing.encode()).hexdigest()


def _file(path: Path) -> AssetFile:
    return AssetFile(path.name, file_sha256(path), path.stat().st_size)


def describe(path: Path) -> Asset:
    if path.is_dir():
        files = tuple(_file(item) for item in sorted(path.iterdir()) if item.is_file())
        return Asset(files, folder=True)
    return Asset((_file(path),), folder=False)


def persona_paths(persona: Persona) -> dict[Slot, Path]:
    """The files and folders the persona's generation reads, by slot."""
    look, identity, finish = persona.appearance, persona.appearance.identity, persona.pipeline.post
    upscaler = persona.pipeline.upscale.model
    references = reference_folder(persona) if identity is not None else None  # read by the guard only
    own = identity is not None and identity.references is not None
    found: dict[Slot, Path | None] = {
        Slot.LORA: look.lora,
        Slot.REFERENCES: references if own else None,
        Slot.TRAINED_ON: None if own else references,
        Slot.LUT: finish.lut,
        Slot.MUSIC: finish.music,
        Slot.UPSCALER: Path(upscaler) if upscaler != "lanczos" else None,
    }
    return {slot: path for slot, path in found.items() if path is not None}


def persona_assets(persona: Persona) -> dict[Slot, tuple[Path, Asset]]:
    """What a worker needs of this persona, with where each is on this machine."""
    return {slot: (path, describe(path)) for slot, path in persona_paths(persona).items()}


# The bytes of one file, by its hash: the executor's way of handing them over (Ray: get an
# object from its store). Called only for files the worker's machine does not have yet.
Fetch = Callable[[str], bytes]


def _write(target: Path, data: bytes) -> None:
    """Written whole or not at all: another worker may be reading it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    with os.fdopen(handle, "wb") as out:
        out.write(data)
    os.replace(temporary, target)


class AssetCache:
    """A worker machine's copies of persona assets, in `root/<hash>/<name>`. Several worker
    processes on one machine share it: each file is written to a temporary name and
    renamed, so a reader never sees half a file."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _place(self, folder: Path, item: AssetFile, fetch: Fetch) -> None:
        target = folder / item.name
        if target.exists():
            return
        data = fetch(item.sha256)
        if hashlib.sha256(data).hexdigest() != item.sha256:
            raise GenerationError(f"persona asset {item.name}: the bytes received do not match its SHA-256")
        _write(target, data)

    def place(self, asset: Asset, fetch: Fetch) -> Path:
        """The asset on this machine: the file, or the folder of its files."""
        folder = self.root / asset.key
        for item in asset.files:
            self._place(folder, item, fetch)
        folder.mkdir(parents=True, exist_ok=True)  # an empty folder is still a folder
        return folder if asset.folder else folder / asset.files[0].name

    def localize(self, persona: Persona, assets: dict[Slot, Asset], fetch: Fetch) -> Persona:
        """A copy of the persona reading its assets from this machine."""
        local = {slot: self.place(asset, fetch) for slot, asset in assets.items()}
        look, pipeline = persona.appearance, persona.pipeline
        identity = look.identity
        if identity is not None and Slot.REFERENCES in local:
            identity = identity.model_copy(update={"references": local[Slot.REFERENCES]})
        lora = local.get(Slot.LORA)
        if lora is not None and Slot.TRAINED_ON in local:
            # Where `trained_on` looks: the record `vibot persona train` writes beside the LoRA.
            from content.training.train import Paths

            record, text = Paths(lora).record, json.dumps({"images": str(local[Slot.TRAINED_ON])})
            if not record.exists() or record.read_text(encoding="utf-8") != text:  # once per machine
                _write(record, text.encode())
        upscale = pipeline.upscale
        if Slot.UPSCALER in local:
            upscale = upscale.model_copy(update={"model": str(local[Slot.UPSCALER])})
        finish = pipeline.post.model_copy(
            update={
                "lut": local.get(Slot.LUT, pipeline.post.lut),
                "music": local.get(Slot.MUSIC, pipeline.post.music),
            }
        )
        return persona.model_copy(
            update={
                "appearance": look.model_copy(update={"lora": lora or look.lora, "identity": identity}),
                "pipeline": pipeline.model_copy(update={"upscale": upscale, "post": finish}),
            }
        )
