"""The persona model and its YAML loader.

A persona file describes one virtual influencer. Loading refuses anything
doubtful — unknown keys, duplicate keys, YAML 1.1 surprises such as `no`
meaning false — and reports every problem as `FILE:LINE:COL: field: what is
wrong — how to fix it`, so a typo never passes silently.
"""

from __future__ import annotations

import difflib
import re
import zoneinfo
from collections.abc import Iterable, Sequence
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    PlainSerializer,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from content.disclosure.label import LabelStyle
from content.errors import PersonaError, Problem
from content.models import ModelInfo, model_info, upscaler_info
from content.platforms import AccountBase, PlatformSpec, account_models, publisher_names, ratio_name
from content.platforms.instagram import OutboxAccount
from content.reels.kinds import ReelBackend, Transition
from content.schema import Duration, Strict, custom_error
from content.timing import Window, parse_window

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


_custom = custom_error


def _to_window(value: Any) -> Window:
    if isinstance(value, Window):
        return value
    if not isinstance(value, str):
        raise _custom("window", "a posting window must be text — write it like 'mon-fri 08:00-09:30'")
    try:
        return parse_window(value)
    except ValueError as err:
        raise _custom("window", str(err)) from None


PostingWindow = Annotated[
    Window,
    BeforeValidator(_to_window),
    PlainSerializer(
        lambda w: f"{','.join(str(d) for d in w.days)} {w.start:%H:%M}-{w.end:%H:%M}",
        return_type=str,
    ),
]
NonEmptyText = Annotated[str, Field(min_length=1)]


def _existing_file(value: Path | None, info: ValidationInfo, what: str) -> Path | None:
    """Resolve a path relative to the persona file; it must exist."""
    if value is None:
        return None
    base = Path((info.context or {}).get("base_dir", "."))
    resolved = (value if value.is_absolute() else base / value).resolve()
    if not resolved.exists():
        raise _custom(
            "missing_file",
            f"{what} '{value}' does not exist (looked for {resolved}) — "
            "put the file there or fix the path (relative to the persona file)",
        )
    return resolved


def _default_publisher(value: Any) -> Any:
    # An account section without a publisher is the local outbox, as it always was.
    if isinstance(value, dict) and "publisher" not in value:
        return {**value, "publisher": "outbox"}
    return value


if TYPE_CHECKING:
    Account = AccountBase
else:
    # One model per publisher, chosen by `publisher:`: a Graph field on an instagrapi account
    # is an unknown key there, not a silently ignored one. The models come from
    # content/platforms, so a new publisher needs no edit here.
    Account = Annotated[
        Union[tuple(account_models().values())],  # noqa: UP007 (a union built from a tuple)
        Field(discriminator="publisher"),
        BeforeValidator(_default_publisher),
    ]


class Disclosure(Strict):
    label: NonEmptyText = "AI-generated"
    label_style: LabelStyle = LabelStyle.TEXT
    caption_line: NonEmptyText
    hashtag: str = "#AIgenerated"

    @field_validator("label", "caption_line")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise _custom("blank", "must not be empty — AI disclosure is mandatory; write the text")
        return value.strip()

    @field_validator("hashtag")
    @classmethod
    def _hashtag(cls, value: str) -> str:
        if not re.fullmatch(r"#\w+", value):
            raise _custom("hashtag", f"'{value}' is not a hashtag — write it like #AIgenerated")
        return value


class Hashtags(Strict):
    always: list[str] = Field(default_factory=list)
    max: int = Field(default=8, ge=0, le=30)

    @field_validator("always")
    @classmethod
    def _hashtags(cls, value: list[str]) -> list[str]:
        for tag in value:
            if not re.fullmatch(r"#\w+", tag):
                raise _custom("hashtag", f"'{tag}' is not a hashtag — write it like #travel")
        return value


DEFAULT_TEMPLATES = (
    "{scene}. {pillar_title} mood today.",
    "Caught a moment: {scene}.",
    "{pillar_title} diaries — {scene}.",
)


class VoiceLLM(Strict):
    """Per-persona overrides of the caption model settings."""

    model: str | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    daily_budget_usd: float | None = Field(default=None, ge=0.0)


class Voice(Strict):
    language: str = "en"
    tone: str = ""
    emoji: Literal["none", "few", "many"] = "few"
    hashtags: Hashtags = Field(default_factory=Hashtags)
    banned_words: list[str] = Field(default_factory=list)
    llm: VoiceLLM = Field(default_factory=VoiceLLM)
    templates: list[NonEmptyText] = Field(default_factory=lambda: list(DEFAULT_TEMPLATES))

    @field_validator("templates")
    @classmethod
    def _templates(cls, value: list[str]) -> list[str]:
        for template in value:
            _check_placeholders(template, "caption template")
        return value


PLACEHOLDERS = {"scene", "pillar", "pillar_title", "name"}


def _check_placeholders(template: str, what: str) -> None:
    for field_name in re.findall(r"{(\w*)}", template):
        if field_name not in PLACEHOLDERS:
            raise _custom(
                "template",
                f"{what} uses {{{field_name}}} — "
                f"only {', '.join(sorted('{' + a + '}' for a in PLACEHOLDERS))} can be used",
            )


class Identity(Strict):
    """The face guard: every generated image's largest face against the references."""

    # A folder of photos of the persona's face (relative to the persona file). Default: the
    # photos its LoRA was trained on, as `vibot persona train` records them beside the LoRA;
    # with neither, the guard checks only that there is a face.
    references: Path | None = None
    max_distance: float = Field(default=0.6, gt=0.0, le=1.5)  # dlib's "same person" is 0.6
    retries: int = Field(default=2, ge=0, le=10)  # new seeds before the post goes to review flagged
    expect_face: bool = True  # pillars may say otherwise (scenes without the persona)

    @field_validator("references")
    @classmethod
    def _references_exist(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        found = _existing_file(value, info, "reference folder")
        if found is not None and not found.is_dir():
            raise _custom("not_a_folder", f"'{value}' is a file — references are a folder of face photos")
        return found


class Appearance(Strict):
    trigger: str = ""
    base_prompt: NonEmptyText
    lora: Path | None = None
    lora_scale: float = Field(default=1.0, ge=0.0, le=2.0)
    identity: Identity | None = None

    @field_validator("lora")
    @classmethod
    def _lora_exists(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return _existing_file(value, info, "LoRA file")


class Pillar(Strict):
    name: NonEmptyText
    weight: float = Field(default=1.0, gt=0)
    scenes: list[NonEmptyText] = Field(min_length=1)
    expect_face: bool | None = None  # overrides appearance.identity.expect_face for this pillar


class Adapt(Strict):
    """The planner learns from the audience (opt-in): Thompson sampling over pillars and
    posting hours inside the windows (content/adapt.py), within these bounds."""

    pillars: bool = True
    windows: bool = False  # which hour of each posting window
    explore: float = Field(default=0.2, ge=0.0, le=1.0)  # share kept on the persona's own weights
    min_weight: float = Field(default=0.1, ge=0.0, le=0.5)  # every arm keeps at least this share
    metric: Literal["engagement_rate", "reach", "views", "views_per_follower"] = "engagement_rate"


class Schedule(Strict):
    posts_per_week: int = Field(ge=0, le=70)
    reel_share: float = Field(default=0.0, ge=0.0, le=1.0)
    carousel_share: float = Field(default=0.0, ge=0.0, le=1.0)
    windows: list[PostingWindow] = Field(min_length=1)
    lead_time: Duration = timedelta(hours=24)
    grace: Duration = timedelta(hours=2)
    min_gap: Duration = timedelta(hours=3)
    scene_repeat_days: int = Field(default=14, ge=0, le=365)
    adapt: Adapt | None = None  # off unless the persona opts in

    @model_validator(mode="after")
    def _shares(self) -> Schedule:
        if self.reel_share + self.carousel_share > 1.0 + 1e-9:
            raise _custom(
                "shares",
                f"reel_share + carousel_share is {self.reel_share + self.carousel_share:g}, "
                "more than 1 — lower one of them",
            )
        return self


class NoiseInjection(Strict):
    strength: float = Field(default=0.0, ge=0.0, le=1.0)
    at: list[Annotated[float, Field(ge=0.0, le=1.0)]] = Field(default_factory=list)


class ImageSize(Strict):
    width: int
    height: int

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"


def _to_size(value: Any) -> Any:
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", value)
        if not match:
            raise _custom("size", f"'{value}' is not a size — write it like 1080x1350")
        return {"width": int(match[1]), "height": int(match[2])}
    return value


def _feed_size(size: ImageSize) -> ImageSize:
    # Only what no platform takes here; the platform's own width and aspect are checked
    # against its spec once the account is known (_cross_checks).
    for side, value in (("width", size.width), ("height", size.height)):
        if value < 1:
            raise _custom("size", f"{side} {value} is not a size — use 1080x1350 or 1080x1080")
    return size


FeedSize = Annotated[ImageSize, BeforeValidator(_to_size)]


def _model_size(size: ImageSize) -> ImageSize:
    if not (64 <= size.width <= 1920 and 64 <= size.height <= 1920):
        raise _custom(
            "size", f"{size} is outside 64..1920 on a side — use e.g. 512x896 (LTX) or 480x832 (Wan)"
        )
    return size


ReelModelSize = Annotated[ImageSize, BeforeValidator(_to_size), AfterValidator(_model_size)]


class ImageStage(Strict):
    model: NonEmptyText = "tiny-flux"
    steps: int = Field(default=28, ge=1, le=150)
    guidance: float = Field(default=3.5, ge=0.0, le=30.0)
    size: FeedSize = ImageSize(width=1080, height=1350)
    noise_injection: NoiseInjection = Field(default_factory=NoiseInjection)
    detail: float = Field(default=0.0, ge=0.0, le=1.0)  # lower mid-schedule sigmas: finer detail
    grain: float = Field(default=0.0, ge=0.0, le=1.0)
    grain_size: float = Field(default=1.0, ge=0.5, le=4.0)

    @field_validator("size")
    @classmethod
    def _size(cls, value: ImageSize) -> ImageSize:
        return _feed_size(value)


class ReelStage(Strict):
    backend: ReelBackend = ReelBackend.MOTION
    seconds: float = Field(default=5.0, ge=3.0, le=90.0)
    stills: int = Field(default=1, ge=1, le=4)  # stills (each animated) joined by transitions
    # The local backend: an image-to-video model through diffusers.
    model: NonEmptyText = "tiny-ltx"
    size: ReelModelSize = ImageSize(width=512, height=896)
    fps: int = Field(default=24, ge=8, le=60)
    steps: int = Field(default=30, ge=1, le=150)
    guidance: float = Field(default=3.0, ge=0.0, le=30.0)


class UpscaleStage(Strict):
    model: NonEmptyText = "lanczos"  # or a super-resolution weights file spandrel loads
    tile: int = Field(default=512, ge=64, le=4096)  # input pixels per tile: bounds GPU memory

    @field_validator("model")
    @classmethod
    def _model_file(cls, value: str, info: ValidationInfo) -> str:
        if value == "lanczos":
            return value
        return str(_existing_file(Path(value), info, "upscaler model file"))


class PostStage(Strict):
    lut: Path | None = None
    music: Path | None = None
    transition: Transition = Transition.CROSSFADE
    transition_seconds: float = Field(default=0.6, ge=0.1, le=2.0)
    brightness: float = Field(default=0.0, ge=-1.0, le=1.0)
    contrast: float = Field(default=1.0, ge=0.0, le=3.0)
    saturation: float = Field(default=1.0, ge=0.0, le=3.0)
    text: str | None = None  # an overlay; {scene}, {pillar} and {name} are filled in
    loudness: float = Field(default=-14.0, ge=-30.0, le=-5.0)  # music bed, LUFS

    @field_validator("text")
    @classmethod
    def _text_fields(cls, value: str | None) -> str | None:
        if value is not None:
            _check_placeholders(value, "text overlay")
        return value

    @field_validator("lut")
    @classmethod
    def _lut_exists(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return _existing_file(value, info, "LUT file")

    @field_validator("music")
    @classmethod
    def _music_exists(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return _existing_file(value, info, "music file or folder")


class CarouselStage(Strict):
    items: int = Field(default=3, ge=2, le=10)


class Pipeline(Strict):
    image: ImageStage = Field(default_factory=ImageStage)
    reel: ReelStage = Field(default_factory=ReelStage)
    upscale: UpscaleStage = Field(default_factory=UpscaleStage)
    post: PostStage = Field(default_factory=PostStage)
    carousel: CarouselStage = Field(default_factory=CarouselStage)


class Persona(Strict):
    id: str
    name: NonEmptyText
    timezone: str
    bio: str = ""
    commercial: bool = False
    account: Account = Field(default_factory=OutboxAccount)
    # Several platforms: one entry per platform, instead of `account`. The first is the main
    # one: its platform takes every format and its caption is the one others are made from.
    accounts: list[Account] = Field(default_factory=list)
    disclosure: Disclosure
    voice: Voice = Field(default_factory=Voice)
    appearance: Appearance
    pillars: list[Pillar] = Field(min_length=1)
    schedule: Schedule
    pipeline: Pipeline = Field(default_factory=Pipeline)
    source: Path | None = Field(default=None, exclude=True)

    @property
    def targets(self) -> tuple[AccountBase, ...]:
        """Every account this persona publishes to, the main one first."""
        return tuple(self.accounts) or (self.account,)

    @property
    def platform(self) -> PlatformSpec:
        """What the main platform takes (caption length, media, AI flag)."""
        return self.targets[0].spec()

    def targets_for(self, fmt: str) -> tuple[AccountBase, ...]:
        """The accounts whose platform takes posts of this format (YouTube: reels only)."""
        return tuple(account for account in self.targets if fmt in account.spec().formats)

    def target(self, platform: str) -> AccountBase:
        found = next((a for a in self.targets if a.spec().name == platform), None)
        if found is None:
            raise KeyError(f"persona {self.id} has no {platform} account")
        return found

    def expects_face(self, pillar: str) -> bool:
        """Whether the face guard checks a post of `pillar`."""
        identity = self.appearance.identity
        if identity is None:
            return False
        chosen = next((p for p in self.pillars if p.name == pillar), None)
        if chosen is not None and chosen.expect_face is not None:
            return chosen.expect_face
        return identity.expect_face

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ID.match(value):
            raise _custom(
                "persona_id",
                f"'{value}' is not a valid id — use 1-32 lowercase letters, digits, - or _",
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        if value not in _time_zones():
            close = difflib.get_close_matches(value, _time_zones(), n=1)
            hint = f"did you mean '{close[0]}'?" if close else "use an IANA name like Europe/Berlin"
            raise _custom("timezone", f"unknown time zone '{value}' — {hint}")
        return value

    @model_validator(mode="after")
    def _adapt_fits(self) -> Persona:
        adapt = self.schedule.adapt
        if adapt is not None and adapt.pillars and adapt.min_weight * len(self.pillars) > 1.0 + 1e-9:
            raise _custom(
                "adapt",
                f"schedule.adapt.min_weight {adapt.min_weight:g} × {len(self.pillars)} pillars is more "
                f"than all the slots — lower it to at most {1 / len(self.pillars):.2f}",
            )
        return self

    @field_validator("pillars")
    @classmethod
    def _unique_pillars(cls, value: list[Pillar]) -> list[Pillar]:
        names = [pillar.name for pillar in value]
        for name in names:
            if names.count(name) > 1:
                raise _custom("pillars", f"pillar '{name}' is listed twice — give each a unique name")
        return value

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def pillar(self, name: str) -> Pillar:
        return next(pillar for pillar in self.pillars if pillar.name == name)


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


# --- YAML with positions -------------------------------------------------------------


class _PersonaYamlLoader(yaml.SafeLoader):
    """YAML 1.2-style scalars: only true/false are booleans, no base-60 numbers."""


_PersonaYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_PersonaYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
for _first in "0123456789-+":
    _PersonaYamlLoader.yaml_implicit_resolvers[_first] = [
        (tag, regex)
        for tag, regex in _PersonaYamlLoader.yaml_implicit_resolvers.get(_first, [])
        if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp")
    ]
_PersonaYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?[0-9]+$"), list("-+0123456789")
)
_PersonaYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$"),
    list("-+0123456789."),
)


class _FastPersonaYamlLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The same rules on libyaml's parser (~6× faster); a file it refuses is parsed again by
    the pure-Python one, whose messages say more."""

    yaml_implicit_resolvers = _PersonaYamlLoader.yaml_implicit_resolvers


def _node_at(root: yaml.Node, loc: Sequence[int | str]) -> tuple[yaml.Node, bool]:
    """The deepest YAML node along a pydantic error location; True if it was reached."""
    node = root
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == part), None)
            if match is None:
                key = next((k for k, _ in node.value if k.value == part), None)
                return (key, True) if key is not None else (node, False)
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            return node, False
    return node, True


def _key_node(root: yaml.Node, loc: Sequence[int | str]) -> yaml.Node | None:
    parent, _ = _node_at(root, loc[:-1])
    if isinstance(parent, yaml.MappingNode):
        return next((k for k, _ in parent.value if k.value == loc[-1]), None)
    return None


def _field_path(loc: Sequence[int | str]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "persona"


_TYPE_NAMES = {"int": "a whole number", "float": "a number", "bool": "true or false"}


def _describe(error: ErrorDetails, model_fields: Iterable[str], loc: Sequence[int | str]) -> str:
    """A pydantic error as 'what is wrong — how to fix it'."""
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tag = ctx.get("tag", "")
        return f"unsupported publisher '{tag}' — use one of: {', '.join(publisher_names())}"
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(str(loc[-1]), list(model_fields), n=1)
        hint = f"did you mean '{close[0]}'?" if close else "remove it"
        return f"unknown key '{loc[-1]}' — {hint} (allowed: {', '.join(sorted(model_fields))})"
    if kind == "missing":
        return f"required key '{loc[-1]}' is missing — add it"
    for suffix, name in _TYPE_NAMES.items():
        if kind in (f"{suffix}_parsing", f"{suffix}_type", f"{suffix}_from_float"):
            return f"expected {name}, got {value!r} — write {name} here"
    if kind in ("string_type",):
        return f"expected text, got {value!r} — write text here (quote it if needed)"
    if kind == "list_type":
        return f"expected a list, got {value!r} — write one '- item' per line"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a section of keys, got {value!r} — write 'key: value' lines under it"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        bound = {
            "greater_than_equal": ("at least", "ge"),
            "greater_than": ("more than", "gt"),
            "less_than_equal": ("at most", "le"),
            "less_than": ("less than", "lt"),
        }[kind]
        limit = ctx.get(bound[1])
        return f"{value!r} is out of range — it must be {bound[0]} {limit}"
    if kind == "too_short":
        return f"needs at least {ctx.get('min_length')} item(s) — add some"
    if kind == "too_long":
        return f"has too many items — at most {ctx.get('max_length')}"
    if kind == "string_too_short":
        return "must not be empty — write the text"
    if kind in ("literal_error", "enum"):
        return f"{value!r} is not allowed — use one of {ctx.get('expected')}"
    message = str(error["msg"])
    return message if " — " in message else f"{message} — see the example personas in personas/"


def _in_file(loc: Sequence[int | str]) -> tuple[tuple[int | str, ...], Any]:
    """A pydantic error location as the keys in the file, and the model holding its last key.

    A section chosen by a key (`account`, by `publisher`) has the choice in pydantic's
    location ('account', 'graph', 'token_env'); the file has no 'graph' key, so it goes."""
    model: Any = Persona
    keys: list[int | str] = []
    parts = list(loc)
    while parts:
        part = parts.pop(0)
        keys.append(part)
        if isinstance(part, int) or not parts:
            continue
        field = model.model_fields.get(part) if hasattr(model, "model_fields") else None
        if field is None:
            model = None
            continue
        if field.discriminator is not None:  # the next part is the chosen model's name
            model = account_models().get(str(parts.pop(0))) if parts else None
            continue
        if _tagged_items(field.annotation):  # a list of those: the index, then the name
            if parts:
                keys.append(parts.pop(0))
            model = account_models().get(str(parts.pop(0))) if parts else None
            continue
        args = getattr(field.annotation, "__args__", ())
        candidates = [field.annotation, *args]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
    return tuple(keys), model


def _tagged_items(annotation: Any) -> bool:
    """Whether this is a list whose items are chosen by a key (`accounts`)."""
    items = get_args(annotation) if get_origin(annotation) is list else ()
    return any(
        getattr(meta, "discriminator", None) for item in items for meta in getattr(item, "__metadata__", ())
    )


def _allowed_fields(loc: Sequence[int | str]) -> list[str]:
    _, model = _in_file(loc)
    return list(model.model_fields) if hasattr(model, "model_fields") else []


def _problem_from_error(file: str, root: yaml.Node, error: ErrorDetails) -> Problem:
    loc, _ = _in_file(error["loc"])
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        loc = (*loc, str((error.get("ctx") or {}).get("discriminator", "")).strip("'"))
    if error["type"] == "extra_forbidden":
        node = _key_node(root, loc) or _node_at(root, loc)[0]
        _, model = _in_file(error["loc"])
        if isinstance(model, type) and issubclass(model, AccountBase):
            owners = [name for name, other in account_models().items() if loc[-1] in other.model_fields]
            if owners:
                named = " or ".join([", ".join(owners[:-1]), owners[-1]] if len(owners) > 1 else owners)
                message = (
                    f"'{loc[-1]}' belongs to a {named} account, not {model.publisher_name()} — "
                    f"remove it, or set publisher: {owners[0]}"
                )
                mark = node.start_mark
                return Problem(file, mark.line + 1, mark.column + 1, _field_path(loc), message)
        fields = [name for name in _allowed_fields(error["loc"]) if name != "source"]
    else:
        node, _ = _node_at(root, loc)
        fields = []
    mark = node.start_mark
    return Problem(file, mark.line + 1, mark.column + 1, _field_path(loc), _describe(error, fields, loc))


def _decode(path: Path, raw: bytes) -> str | Problem:
    name = str(path)
    if not raw.strip():
        return Problem(name, 1, 1, "persona", "the file is empty — write a persona (see personas/)")
    if b"\x00" in raw:
        return Problem(name, 1, 1, "persona", "this is a binary file, not YAML — point at a .yaml persona")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        before = raw[: err.start]
        line = before.count(b"\n") + 1
        column = err.start - (before.rfind(b"\n") + 1) + 1
        return Problem(
            name,
            line,
            column,
            "persona",
            f"byte 0x{raw[err.start]:02x} is not UTF-8 — save the file as UTF-8",
        )


def _yaml_problem(name: str, err: yaml.YAMLError) -> Problem:
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = getattr(err, "problem", None) or str(err)
    if "\\t" in str(problem) or "tab" in str(problem):
        fix = "YAML does not allow tabs for indentation — indent with spaces"
    else:
        fix = f"{problem} — check the indentation and the ':' after each key near here"
    return Problem(name, line, column, "persona", fix)


def _duplicate_keys(name: str, node: yaml.Node, path: tuple[str | int, ...] = ()) -> list[Problem]:
    problems: list[Problem] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                problems.append(
                    Problem(
                        name,
                        key.start_mark.line + 1,
                        key.start_mark.column + 1,
                        _field_path(path) if path else "persona",
                        "a key must be plain text, not a list or a section — write 'name: value'",
                    )
                )
                continue
            if key.value in seen:
                problems.append(
                    Problem(
                        name,
                        key.start_mark.line + 1,
                        key.start_mark.column + 1,
                        _field_path((*path, key.value)),
                        f"key '{key.value}' appears twice — keep one of them",
                    )
                )
            seen.add(key.value)
            problems += _duplicate_keys(name, value, (*path, key.value))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            problems += _duplicate_keys(name, item, (*path, index))
    return problems


def _compose(loader_class: type[yaml.SafeLoader], text: str) -> tuple[yaml.Node | None, Any]:
    loader = loader_class(text)
    try:
        root = loader.get_single_node()
        return root, (loader.construct_document(root) if root is not None else None)
    finally:
        loader.dispose()


def _parse(path: Path) -> tuple[yaml.Node, Any] | list[Problem]:
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        return [Problem(name, 1, 1, "persona", f"cannot read the file ({err.strerror}) — check the path")]
    text = _decode(path, raw)
    if isinstance(text, Problem):
        return [text]
    try:
        root, data = _compose(_FastPersonaYamlLoader, text)
    except yaml.YAMLError:
        try:
            root, data = _compose(_PersonaYamlLoader, text)
        except yaml.YAMLError as err:
            return [_yaml_problem(name, err)]
    if root is None or data is None:
        return [Problem(name, 1, 1, "persona", "the file is empty — write a persona (see personas/)")]
    if not isinstance(data, dict):
        mark = root.start_mark
        return [
            Problem(
                name,
                mark.line + 1,
                mark.column + 1,
                "persona",
                "a persona file must be a mapping of keys (id:, name:, …) — see personas/",
            )
        ]
    duplicates = _duplicate_keys(name, root)
    return duplicates or (root, data)


def load_persona(path: Path) -> Persona:
    """Load and validate one persona file; raises PersonaError listing every problem."""
    parsed = _parse(path)
    if isinstance(parsed, list):
        raise PersonaError(parsed)
    root, data = parsed
    try:
        persona = Persona.model_validate(data, context={"base_dir": path.parent})
    except ValidationError as err:
        problems = [_problem_from_error(str(path), root, error) for error in err.errors()]
        raise PersonaError(sorted(problems, key=lambda p: (p.line, p.column))) from None
    problems = _cross_checks(str(path), root, persona)
    if problems:
        raise PersonaError(problems)
    return persona.model_copy(update={"source": path})


def _feed_size_problems(file: str, root: yaml.Node, size: ImageSize, platform: PlatformSpec) -> list[Problem]:
    """The photo size against what the persona's platform takes (none for a reels-only one)."""
    spec = platform.image
    if spec is None:
        return []
    (least, most), (low, high) = spec.width, spec.aspect
    aspect = size.width / size.height
    if not least <= size.width <= most:
        message = (
            f"width {size.width} is outside {platform.title}'s {least}..{most} — use 1080x1350 or 1080x1080"
        )
    elif not low - 1e-3 <= aspect <= high + 1e-3:
        allowed = f"{ratio_name(low)}..{ratio_name(high)}"
        message = (
            f"{size} has aspect {aspect:.2f}, outside {platform.title}'s {allowed} — "
            "use 1080x1350 (4:5), 1080x1080 (1:1) or 1080x566 (1.91:1)"
        )
    else:
        return []
    return [_problem_at(file, root, ("pipeline", "image", "size"), message)]


def _account_problems(file: str, root: yaml.Node, persona: Persona) -> list[Problem]:
    """`accounts:` instead of `account:`, and one entry per platform."""
    if persona.accounts and "account" in persona.model_fields_set:
        message = "give account: (one platform) or accounts: (several), not both — move it into accounts:"
        return [_problem_at(file, root, ("account",), message)]
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for index, account in enumerate(persona.accounts):
        spec = account.spec()
        if spec.name in seen:
            message = (
                f"entries {seen[spec.name] + 1} and {index + 1} both post to {spec.title} — "
                "list one account per platform"
            )
            problems.append(_problem_at(file, root, ("accounts", index, "publisher"), message))
        seen.setdefault(spec.name, index)
    return problems


def _cross_checks(file: str, root: yaml.Node, persona: Persona) -> list[Problem]:
    """Rules that span sections, reported at the key they concern."""
    problems = []
    reel = persona.pipeline.reel
    if reel.backend == ReelBackend.KLING and reel.seconds not in (5, 10):
        message = f"the kling backend makes 5 or 10 second clips, not {reel.seconds:g} — set seconds: 5 or 10"
        problems.append(_problem_at(file, root, ("pipeline", "reel", "seconds"), message))
    problems += _account_problems(file, root, persona)
    platform = persona.platform
    for spec in {a.spec().name: a.spec() for a in persona.targets_for("photo")}.values():
        problems += _feed_size_problems(file, root, persona.pipeline.image.size, spec)
    if "photo" not in platform.formats and persona.schedule.reel_share < 1:
        message = (
            f"{platform.title} takes only {' and '.join(platform.formats)} posts, so every post must "
            "be a reel — set schedule.reel_share: 1"
        )
        problems.append(_problem_at(file, root, ("schedule", "reel_share"), message))
    if persona.commercial:
        checks = [
            (
                ("pipeline", "image", "model"),
                model_info(persona.pipeline.image.model),
                "black-forest-labs/FLUX.1-schnell",
            ),
            (
                ("pipeline", "upscale", "model"),
                upscaler_info(persona.pipeline.upscale.model),
                "RealESRGAN_x4plus (BSD-3-Clause), lanczos",
            ),
        ]
        if reel.backend == ReelBackend.LOCAL:
            checks.append(
                (("pipeline", "reel", "model"), model_info(reel.model), "a Wan 2.x I2V model (Apache-2.0)")
            )
        for loc, info, alternative in checks:
            if info.commercial_use is False:
                problems.append(_licence_problem(file, root, loc, info, alternative))
    return problems


def _licence_problem(
    file: str, root: yaml.Node, loc: tuple[str, ...], info: ModelInfo, alternative: str
) -> Problem:
    what = "the upscaler " if loc[1] == "upscale" else ""
    return _problem_at(
        file,
        root,
        loc,
        f"{what}'{info.name}' is licensed under {info.licence}, which forbids commercial use, "
        f"but this persona is commercial: true — use {alternative}, or set commercial: false",
    )


def _problem_at(file: str, root: yaml.Node, loc: tuple[str | int, ...], message: str) -> Problem:
    """A problem reported at the key `loc` names in the file."""
    mark = _node_at(root, loc)[0].start_mark
    return Problem(file, mark.line + 1, mark.column + 1, _field_path(loc), message)


def load_personas(paths: Iterable[Path]) -> list[Persona]:
    """Load several persona files; collects every problem, including duplicate ids."""
    personas: list[Persona] = []
    problems: list[Problem] = []
    first_seen: dict[str, Path] = {}
    for path in paths:
        try:
            persona = load_persona(path)
        except PersonaError as err:
            problems += err.problems
            continue
        if persona.id in first_seen:
            line, column = _id_position(path)
            problems.append(
                Problem(
                    str(path),
                    line,
                    column,
                    "id",
                    f"persona id '{persona.id}' is already used by {first_seen[persona.id]} — "
                    "give each persona a unique id",
                )
            )
            continue
        first_seen[persona.id] = path
        personas.append(persona)
    if problems:
        raise PersonaError(problems)
    return personas


def _id_position(path: Path) -> tuple[int, int]:
    parsed = _parse(path)
    if isinstance(parsed, list):
        return 1, 1
    node, _ = _node_at(parsed[0], ("id",))
    return node.start_mark.line + 1, node.start_mark.column + 1


def persona_files(directory: Path) -> list[Path]:
    """The persona files in a folder, in a stable order."""
    return sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
