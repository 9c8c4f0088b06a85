"""The signed C2PA manifest (c2pa-python): `c2pa.created` by a trained algorithm,
vibot as the software agent, the models used, AI training and mining not allowed,
and vibot's own disclosure assertion (label text, watermark payload). No thumbnail.
It is signed last: any later edit of the file breaks the signature."""

from __future__ import annotations

import base64
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from content.disclosure.certs import SigningMaterial
from content.disclosure.xmp import TRAINED_ALGORITHMIC_MEDIA
from content.errors import GenerationError

VIBOT_ASSERTION = "org.vibot.disclosure"
SOFT_BINDING = "c2pa.soft-binding"
MIME = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".mp4": "video/mp4",
}
_NOT_ALLOWED = {"use": "notAllowed"}


@dataclass(frozen=True)
class Provenance:
    title: str
    models: list[str]
    visible_label: str
    watermark_payload: str  # hex
    watermark_algorithm: str  # watermark.ALGORITHM: named in the soft-binding assertion
    watermark_frames: str | None = None  # a reel's marked frames: "all"
    software_version: str = "0.1.0"
    visible_label_style: str = "text"  # label.LabelStyle: what `vibot verify` draws to compare


@dataclass(frozen=True)
class C2paReading:
    state: str  # Trusted | Valid | Invalid | absent
    digital_source_type: str | None
    disclosure: dict[str, Any] = field(default_factory=dict)  # vibot's own assertion
    errors: list[str] = field(default_factory=list)
    # An RFC 3161 timestamp the signature carries and that validated: when, and by whom.
    timestamp: str | None = None
    timestamp_authority: str | None = None
    soft_binding: dict[str, Any] = field(default_factory=dict)  # {"alg", "value"} when present
    manifest: dict[str, Any] = field(default_factory=dict)  # the active manifest, as c2pa reads it


def mime_of(path: Path) -> str:
    try:
        return MIME[path.suffix.lower()]
    except KeyError:
        raise GenerationError(f"{path.name}: C2PA signing supports {', '.join(sorted(MIME))} only") from None


def _manifest(info: Provenance) -> dict[str, Any]:
    agent = {"name": "vibot", "version": info.software_version}
    return {
        "claim_generator_info": [agent],
        "title": info.title,
        "assertions": [
            {
                "label": "c2pa.actions.v2",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                            "softwareAgent": agent,
                            "parameters": {"models": info.models},
                        }
                    ]
                },
            },
            {
                "label": "c2pa.training-mining",
                "data": {
                    "entries": {
                        "c2pa.ai_generative_training": _NOT_ALLOWED,
                        "c2pa.ai_inference": _NOT_ALLOWED,
                        "c2pa.ai_training": _NOT_ALLOWED,
                        "c2pa.data_mining": _NOT_ALLOWED,
                    }
                },
            },
            {
                # C2PA 2.1 §18.10 soft binding: the watermark's value leads back here, so a
                # copy stripped of this manifest can still be matched to it.
                "label": SOFT_BINDING,
                "data": {
                    "alg": info.watermark_algorithm,
                    "blocks": [
                        {
                            "scope": {},  # the whole asset: every pixel, every frame
                            "value": base64.b64encode(bytes.fromhex(info.watermark_payload)).decode(),
                        }
                    ],
                },
            },
            {
                "label": VIBOT_ASSERTION,
                "data": {
                    "visible_label": info.visible_label,
                    "visible_label_style": info.visible_label_style,
                    "watermark": info.watermark_payload,
                    "watermark_frames": info.watermark_frames or "",
                },
            },
        ],
    }


def sign(path: Path, info: Provenance, material: SigningMaterial) -> None:
    """Sign `path` in place (through a temporary file: a failed sign leaves the original)."""
    import c2pa

    mime = mime_of(path)
    signer = c2pa.Signer.from_info(
        c2pa.C2paSignerInfo(
            alg=b"es256",
            sign_cert=material.chain_pem,
            private_key=material.key_pem,
            ta_url=material.timestamp_url.encode() if material.timestamp_url else None,
        )
    )
    context = c2pa.Context(c2pa.Settings.from_dict({"builder": {"thumbnail": {"enabled": False}}}))
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, suffix=path.suffix)
    os.close(descriptor)
    try:
        builder = c2pa.Builder(_manifest(info), context=context)
        with path.open("rb") as source, open(temporary, "wb") as destination:
            builder.sign(signer, mime, source, destination)
        os.replace(temporary, path)
    except c2pa.C2paError as err:
        raise GenerationError(f"C2PA signing of {path.name} failed: {err}") from None
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def read(path: Path, trust_anchor_pem: bytes | None = None) -> C2paReading:
    import c2pa

    settings = {"trust": {"trust_anchors": trust_anchor_pem.decode()}} if trust_anchor_pem else {}
    try:
        reader = c2pa.Reader(str(path), context=c2pa.Context(c2pa.Settings.from_dict(settings)))
    except c2pa.C2paError as err:
        return C2paReading("absent", None, errors=[str(err)[:200]])
    report = json.loads(reader.json())
    manifest = report["manifests"][report["active_manifest"]]
    source_type: str | None = None
    disclosure: dict[str, Any] = {}
    soft_binding: dict[str, Any] = {}
    for assertion in manifest.get("assertions", []):
        if assertion["label"].startswith("c2pa.actions"):
            for action in assertion["data"].get("actions", []):
                if action.get("action") == "c2pa.created":
                    source_type = action.get("digitalSourceType")
        elif assertion["label"] == VIBOT_ASSERTION:
            disclosure = assertion["data"]
        elif assertion["label"] == SOFT_BINDING:
            blocks = assertion["data"].get("blocks") or [{}]
            soft_binding = {"alg": assertion["data"].get("alg"), "value": blocks[0].get("value")}
    codes = [
        s["code"] for s in report.get("validation_status", []) if s["code"] != "signingCredential.untrusted"
    ]
    stamped = next(
        (
            s
            for s in report.get("validation_results", {}).get("activeManifest", {}).get("success", [])
            if s["code"] == "timeStamp.validated"
        ),
        None,
    )
    return C2paReading(
        reader.get_validation_state() or "Invalid",
        source_type,
        disclosure,
        codes,
        # c2pa-rs says "timestamp message digest matched: <the TSA's name>"
        manifest.get("signature_info", {}).get("time") if stamped else None,
        stamped["explanation"].partition(": ")[2] or None if stamped else None,
        soft_binding,
        manifest,
    )
