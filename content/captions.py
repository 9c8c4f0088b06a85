"""Captions from the persona's templates — the offline writer, and the fallback
when no LLM is configured. The disclosure line always comes first."""

from __future__ import annotations

import random

from content.disclosure import CaptionDisclosure, lock_disclosure
from content.persona import Persona


def caption_disclosure(persona: Persona) -> CaptionDisclosure:
    return CaptionDisclosure(persona.disclosure.caption_line, persona.disclosure.hashtag)


def hashtags_for(persona: Persona, sponsored: bool = False) -> list[str]:
    """`#ad` first on sponsored posts, the disclosure tag, then the persona's fixed tags
    up to its maximum (the mandatory tags do not count against it)."""
    tags = ["#ad"] if sponsored else []
    tags.append(persona.disclosure.hashtag)
    tags += persona.voice.hashtags.always[: persona.voice.hashtags.max]
    return list(dict.fromkeys(tags))


def template_caption(persona: Persona, pillar: str, scene: str, seed: int, sponsored: bool = False) -> str:
    """A full caption: disclosure line, a filled template, then hashtags."""
    template = random.Random(seed).choice(persona.voice.templates)
    body = template.format(scene=scene, pillar=pillar, pillar_title=pillar.title(), name=persona.name)
    body = body[0].upper() + body[1:]
    tags = " ".join(hashtags_for(persona, sponsored))
    return lock_disclosure(f"{body}\n\n{tags}", caption_disclosure(persona))


def photo_prompt(persona: Persona, scene: str) -> str:
    """The image prompt: trigger word first (once), then the look, then the scene."""
    look = persona.appearance
    trigger = "" if look.trigger.lower() in look.base_prompt.lower() else look.trigger
    parts = [trigger, look.base_prompt, scene]
    return ", ".join(part.strip() for part in parts if part.strip())
