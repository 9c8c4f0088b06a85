"""Building blocks of the persona schema, shared by `content.persona` and the platform
modules (`content.platforms.*`), which describe their own `account:` sections."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, PlainSerializer
from pydantic_core import PydanticCustomError

from content.timing import format_duration, parse_duration

_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


def custom_error(kind: str, message: str) -> PydanticCustomError:
    """A validation error whose message the persona loader shows as it is."""
    return PydanticCustomError(kind, message)


def _to_duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    try:
        return parse_duration(str(value))
    except ValueError as err:
        raise custom_error("duration", str(err)) from None


def _env_name(value: str | None) -> str | None:
    if value is not None and not _ENV_NAME.match(value):
        raise custom_error(
            "env_name",
            "this must be the NAME of an environment variable (like MARA_IG_PASSWORD), "
            "not the secret itself — put the secret in the environment and name it here",
        )
    return value


Duration = Annotated[
    timedelta, BeforeValidator(_to_duration), PlainSerializer(format_duration, return_type=str)
]
# Secrets never sit in a persona file: it names the environment variable that holds one.
EnvName = Annotated[str | None, AfterValidator(_env_name)]


class Strict(BaseModel):
    """Every persona section forbids unknown keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)
