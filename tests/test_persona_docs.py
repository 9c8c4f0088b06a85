"""personas/README.md documents every key of the persona schema, and nothing else."""

from __future__ import annotations

import re
import typing
from pathlib import Path

from pydantic import BaseModel

from content.persona import ImageSize, Persona

README = Path(__file__).resolve().parents[1] / "personas" / "README.md"


def schema_keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Every leaf key: sections are walked, a list of sections as `name[]`."""
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        if name == "source":
            continue
        annotation = field.annotation
        inner = typing.get_args(annotation)
        # A section may be one of several models (`account`, chosen by its publisher): all count.
        sections = [a for a in (annotation, *inner) if isinstance(a, type) and issubclass(a, BaseModel)]
        path = f"{prefix}{name}"
        if not sections or sections == [ImageSize]:
            keys.add(path)
        listed = typing.get_origin(annotation) is list
        for section in sections if sections != [ImageSize] else []:
            keys |= schema_keys(section, f"{path}[]." if listed else f"{path}.")
    return keys


def documented_keys() -> set[str]:
    """The keys in the first column of the README's table; `.name` continues the key before it."""
    keys: set[str] = set()
    for line in README.read_text().splitlines():
        if not line.startswith("| `"):
            continue
        previous = ""
        for token in re.findall(r"`([^`]+)`", line.split("|")[1]):
            key = previous.rsplit(".", 1)[0] + token if token.startswith(".") else token
            keys.add(key)
            previous = key
    return keys


def test_every_schema_key_is_documented_and_every_documented_key_exists() -> None:
    schema, documented = schema_keys(Persona), documented_keys()
    assert not schema - documented, f"missing from personas/README.md: {sorted(schema - documented)}"
    assert not documented - schema, f"not in the schema: {sorted(documented - schema)}"
