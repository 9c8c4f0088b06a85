"""The image prompt, built from the persona's look, the slot and the caption stage's brief."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from content.captions import ImageBrief
    from content.persona import Persona


def photo_prompt(persona: Persona, pillar: str, scene: str, brief: ImageBrief | None = None) -> str:
    """Trigger word first (once: it is what the LoRA was trained on), then the look, then the
    brief's scene, outfit, mood and camera (or the slot's scene), then the pillar as a tag."""
    look = persona.appearance
    trigger = "" if look.trigger.lower() in look.base_prompt.lower() else look.trigger
    details = [brief.scene, brief.outfit, brief.mood, brief.camera] if brief else [scene]
    parts = [trigger, look.base_prompt, *details, pillar]
    return ", ".join(part.strip() for part in parts if part.strip())
