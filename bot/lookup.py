"""The public lookup behind `/verify`: from a copy of a post (its watermark) or a
permalink, back to the post's disclosure — but only for a post that was published.

Anything else (no mark, an unknown id, a post in review, a rejected one) is one and the
same answer, "no vibot watermark found", reached by the same work: the watermark read
takes the same time with or without a mark (content/disclosure/watermark.py), and the
database is always asked the same one question, with -1 standing in when nothing was read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlmodel import col, select

from bot.context import App
from content.disclosure import provenance, watermark
from content.platforms import platforms
from storage.db import read_scope
from storage.models import MediaAsset, Post, Publication
from storage.status import PublicationStatus

NOBODY = -1  # the post id asked about when no mark was read: a row that cannot exist
MAX_PIXELS = 4096 * 4096  # larger uploads are not decoded (a decompression bomb, or a slow read)
VIDEO_FRAMES = 5


@dataclass(frozen=True)
class PlatformLink:
    platform: str  # as people write it: "Instagram"
    permalink: str | None
    published_at: datetime


@dataclass(frozen=True)
class PublicDisclosure:
    """What the public may see about a published post."""

    post_id: int
    persona: str  # the persona's display name
    published_at: datetime
    links: list[PlatformLink]
    models: list[str]  # the model family the C2PA manifest names
    manifest: dict[str, Any] = field(default_factory=dict)  # of the original file, as c2pa reads it
    confidence: float | None = None  # of the watermark read; None for a permalink lookup

    def as_dict(self) -> dict[str, Any]:
        return {
            "found": True,
            "post_id": self.post_id,
            "persona": self.persona,
            "ai_generated": True,
            "published_at": self.published_at.isoformat(),
            "platforms": [
                {
                    "platform": link.platform,
                    "permalink": link.permalink,
                    "published_at": link.published_at.isoformat(),
                }
                for link in self.links
            ],
            "models": self.models,
            "watermark_confidence": self.confidence,
            "c2pa_manifest": self.manifest,
        }


NOT_FOUND: dict[str, Any] = {"found": False, "message": "no vibot watermark found"}


def mark_in_upload(path: Path) -> watermark.WatermarkReading:
    """The watermark read blind from an uploaded image or video; nothing for anything else
    (a file that is neither, a broken one, one too large to decode)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as opened:
            if opened.width * opened.height > MAX_PIXELS:
                return watermark.NO_MARK
            rgb = np.asarray(opened.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return _mark_in_video(path)
    return watermark.read(rgb)


def _mark_in_video(path: Path) -> watermark.WatermarkReading:
    from content.disclosure.verify import frame_count, watermark_frames
    from content.reels.encode import read_frames
    from content.reels.spec import probe

    try:
        video = next(s for s in probe(path)["streams"] if s.get("codec_type") == "video")
        size = (int(video["width"]), int(video["height"]))
        if size[0] * size[1] > MAX_PIXELS:
            return watermark.NO_MARK
        indices = watermark_frames(frame_count(path), "")
        frames = [np.asarray(frame) for _, frame in read_frames(path, size, indices)]
    except Exception:  # whatever a hostile file does to ffprobe or ffmpeg: not a vibot video
        return watermark.NO_MARK
    return watermark.read_frames(frames).reading if frames else watermark.NO_MARK


def disclosure_for(app: App, post_id: int | None, confidence: float | None = None) -> PublicDisclosure | None:
    """The disclosure of a *published* post, else None. One query whatever `post_id` is."""
    wanted = post_id if post_id is not None and 0 < post_id < 2**63 else NOBODY
    with read_scope(app.engine) as session:
        rows = session.exec(
            select(Post, Publication)
            .join(Publication, col(Publication.post_id) == col(Post.id))
            .where(Post.id == wanted, Publication.status == PublicationStatus.PUBLISHED)
            .order_by(col(Publication.updated_at))
        ).all()
        media = (
            session.exec(
                select(MediaAsset).where(MediaAsset.post_id == wanted).order_by(col(MediaAsset.position))
            ).first()
            if rows
            else None
        )
    if not rows:
        return None
    post = rows[0][0]
    specs = platforms()
    links = [
        PlatformLink(
            specs[p.platform].title if p.platform in specs else p.platform, p.permalink, p.updated_at
        )
        for _, p in rows
    ]
    manifest: dict[str, Any] = {}
    if media is not None and app.media.path(media.path).exists():
        manifest = provenance.read(app.media.path(media.path), app.signing.ca_pem).manifest
    persona = app.personas.get(post.persona_id)
    return PublicDisclosure(
        post_id=wanted,
        persona=persona.name if persona is not None else post.persona_id,
        published_at=links[0].published_at,
        links=links,
        models=_models(manifest),
        manifest=manifest,
        confidence=confidence,
    )


def disclosure_for_permalink(app: App, permalink: str) -> PublicDisclosure | None:
    """The published post a platform's permalink belongs to (exact match, trimmed)."""
    wanted = permalink.strip()[:500]
    with read_scope(app.engine) as session:
        post_id = session.exec(
            select(Publication.post_id).where(
                Publication.permalink == wanted, Publication.status == PublicationStatus.PUBLISHED
            )
        ).first()
    return disclosure_for(app, post_id)


def _models(manifest: dict[str, Any]) -> list[str]:
    for assertion in manifest.get("assertions", []):
        if str(assertion.get("label", "")).startswith("c2pa.actions"):
            for action in assertion.get("data", {}).get("actions", []):
                models = action.get("parameters", {}).get("models")
                if isinstance(models, list):
                    return [str(m) for m in models]
    return []
