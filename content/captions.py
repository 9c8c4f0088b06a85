"""Captions in the persona's voice.

Two writers, one result:

- the template writer (offline, and the fallback): a template from the persona
  file, filled with the slot's pillar and scene;
- the LLM writer: any OpenAI-compatible server (OpenAI, vLLM, Ollama, LM
  Studio) through the `openai` client. It asks for a JSON object (strict
  JSON schema where the server supports it, JSON mode or a plain prompt where
  it does not), checks every rule in code, and sends a reply that breaks one
  back with the reasons, up to `max_rewrites` times. Then it gives up: the
  template writer is used and the post is flagged for the reviewer.

The disclosure line always comes first; `#ad` first among the hashtags of a
sponsored post.

A persona on several platforms gets one caption per platform: the main one, and a
*variant* for each other platform that takes the post, within that platform's limits
(Threads: 500 characters). The LLM writes them all in the same call; the template writer
cuts the main caption down (`fit_caption`).
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from content.claims import claims_to_be_human
from content.disclosure import CaptionDisclosure, lock_disclosure
from content.errors import GenerationError
from content.persona import Persona
from content.platforms import PlatformSpec

ALT_TEXT_LIMIT = 1000
RECENT_CAPTIONS = 20  # how many recent captions the writer sees and is compared with
SIMILARITY_MAX = 0.5
_HASHTAG = re.compile(r"#\w+")
ResponseMode = Literal["json_schema", "json_object", "prompt"]


class ImageBrief(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scene: str
    outfit: str
    mood: str
    camera: str


class CaptionVariant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    platform: str
    caption: str
    hashtags: list[str]


class CaptionDraft(BaseModel):
    """What the LLM must return (also the JSON schema sent to the server)."""

    model_config = ConfigDict(extra="forbid")

    caption: str
    hashtags: list[str]
    alt_text: str
    image_brief: ImageBrief
    motion_brief: str
    # One per other platform of the persona; empty when it has one.
    variants: list[CaptionVariant] = Field(default_factory=list)


@dataclass(frozen=True)
class LLMConfig:
    model: str
    base_url: str | None = None
    api_key: str | None = None
    temperature: float = 0.8
    timeout_s: float = 60.0
    max_retries: int = 3  # the client's own retries with backoff on 429, 5xx and timeouts
    max_rewrites: int = 2  # replies sent back for breaking a rule
    price_in_per_mtok: float = 0.0
    price_out_per_mtok: float = 0.0
    daily_budget_usd: float | None = None


@dataclass(frozen=True)
class CaptionRequest:
    persona: Persona
    pillar: str
    scene: str
    format: str
    seed: int
    sponsored: bool = False
    recent_captions: tuple[str, ...] = ()
    spent_today_usd: float = 0.0
    # Both writers refuse a caption this close to a recent one (see `similarity`).
    similarity_max: float = SIMILARITY_MAX

    @property
    def variant_platforms(self) -> tuple[PlatformSpec, ...]:
        """The persona's other platforms that take this post, each needing its own caption."""
        main = self.persona.platform.name
        specs = (account.spec() for account in self.persona.targets_for(self.format))
        return tuple(spec for spec in specs if spec.name != main)


@dataclass(frozen=True)
class Usage:
    """One call to the model."""

    model: str
    tokens_in: int
    tokens_out: int
    cost_usd: float
    outcome: str  # accepted | rewritten | refused | error


@dataclass
class CaptionResult:
    caption: str  # the full caption: disclosure line, body, hashtags
    alt_text: str
    image_brief: ImageBrief | None
    motion_brief: str
    writer: Literal["llm", "template"]
    flags: list[str] = field(default_factory=list)  # for the reviewer
    usage: list[Usage] = field(default_factory=list)
    variants: dict[str, str] = field(default_factory=dict)  # platform → its full caption

    @property
    def cost_usd(self) -> float:
        return sum(u.cost_usd for u in self.usage)


# --- the template writer -------------------------------------------------------------


def caption_disclosure(persona: Persona) -> CaptionDisclosure:
    return CaptionDisclosure(persona.disclosure.caption_line, persona.disclosure.hashtag)


def hashtags_for(persona: Persona, sponsored: bool = False) -> list[str]:
    """`#ad` first on sponsored posts, the disclosure tag, then the persona's fixed tags
    up to its maximum (the mandatory tags do not count against it)."""
    tags = ["#ad"] if sponsored else []
    tags.append(persona.disclosure.hashtag)
    tags += persona.voice.hashtags.always[: persona.voice.hashtags.max]
    return list(dict.fromkeys(tags))


def compose(persona: Persona, body: str, generated_tags: list[str], sponsored: bool = False) -> str:
    """Disclosure line, body, then the mandatory, fixed and generated hashtags."""
    fixed = hashtags_for(persona, sponsored)
    seen = {tag.lower() for tag in fixed}
    tags = fixed + [tag for tag in generated_tags if tag.lower() not in seen]
    return lock_disclosure(f"{body.strip()}\n\n{' '.join(tags)}", caption_disclosure(persona))


def template_caption(
    persona: Persona, pillar: str, scene: str, seed: int, sponsored: bool = False, template: str | None = None
) -> str:
    """A full caption: disclosure line, a filled template (the seed's pick unless given), then
    hashtags."""
    chosen = template if template is not None else random.Random(seed).choice(persona.voice.templates)
    body = chosen.format(scene=scene, pillar=pillar, pillar_title=pillar.title(), name=persona.name)
    return compose(persona, body[0].upper() + body[1:], [], sponsored)


def fit_caption(caption: str, persona: Persona, platform: PlatformSpec) -> str:
    """The caption cut down to another platform's limits. The disclosure line and the
    mandatory hashtags always stay. The generated hashtags go first (last ones first), the
    persona's fixed ones only where the platform caps hashtags; then the text is shortened
    at a word, ending in an ellipsis."""
    if not platform.caption_problems(caption, len(hashtags_in(caption))):
        return caption
    disclosure = caption_disclosure(persona)
    text = _body(caption, persona).strip()
    prose, _, last = text.rpartition("\n\n")
    tags = last.split()
    if not prose or not all(_HASHTAG.fullmatch(tag) for tag in tags):
        prose, tags = text, []

    def build(prose: str, tags: list[str]) -> str:
        return lock_disclosure(f"{prose.strip()}\n\n{' '.join(tags)}", disclosure)

    def too_many(tags: list[str]) -> bool:
        return platform.hashtag_limit is not None and len(tags) > platform.hashtag_limit

    def too_long(tags: list[str]) -> bool:
        return too_many(tags) or len(build(prose, tags)) > platform.caption_limit

    fixed = {tag.lower() for tag in hashtags_for(persona, sponsored=True)}
    mandatory = {"#ad", persona.disclosure.hashtag.lower()}
    for keep, over in ((fixed, too_long), (mandatory, too_many)):
        while over(tags) and any(tag.lower() not in keep for tag in tags):
            del tags[max(i for i, tag in enumerate(tags) if tag.lower() not in keep)]
    excess = len(build(prose, tags)) - platform.caption_limit
    if excess > 0:
        kept = prose[: max(0, len(prose) - excess - 1)]
        prose = (kept.rsplit(" ", 1)[0] if " " in kept else kept).rstrip(" ,.;:—-") + "…"
    return build(prose, tags)


def _too_close(caption: str, request: CaptionRequest) -> bool:
    body = _body(caption, request.persona)
    return any(
        similarity(body, _body(recent, request.persona)) > request.similarity_max
        for recent in request.recent_captions
    )


def template_result(
    request: CaptionRequest, flags: list[str] | None = None, usage: list[Usage] | None = None
) -> CaptionResult:
    """The persona's templates in the seed's order, the first that does not repeat a recent
    caption; flagged for the reviewer when every one does."""
    persona = request.persona
    first = random.Random(request.seed).choice(persona.voice.templates)
    order = [template for template in dict.fromkeys(persona.voice.templates) if template != first]
    random.Random(request.seed).shuffle(order)
    order.insert(0, first)
    captions = [
        template_caption(persona, request.pillar, request.scene, request.seed, request.sponsored, template)
        for template in order
    ]
    caption = next((c for c in captions if not _too_close(c, request)), None)
    flags = list(flags or [])
    if caption is None:
        caption = captions[0]
        flags.append(
            "every caption template repeats a recent caption of this persona — write a new one "
            "(or add templates to voice.templates)"
        )
    # A template is the persona's own words: too long for its platform (Threads: 500), it is
    # shown to the reviewer to shorten rather than cut here.
    flags += persona.platform.caption_problems(caption, len(hashtags_in(caption)))
    alt_text = f"AI-generated photo: {persona.appearance.base_prompt}, {request.scene}."
    variants = {spec.name: fit_caption(caption, persona, spec) for spec in request.variant_platforms}
    return CaptionResult(caption, alt_text, None, "", "template", flags, usage or [], variants)


# --- rules ---------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", _HASHTAG.sub(" ", text.lower()))


def similarity(first: str, second: str) -> float:
    """Jaccard similarity of the two texts' word pairs (hashtags ignored): the share of
    adjacent-word pairs they have in common. 1.0 is the same wording, 0 nothing shared;
    swapping one word in a ten-word caption still scores about 0.6."""
    pairs = [set(pairwise(w)) for w in (_words(first), _words(second))]
    union = pairs[0] | pairs[1]
    return len(pairs[0] & pairs[1]) / len(union) if union else 0.0


def hashtags_in(text: str) -> list[str]:
    """The hashtags in a caption, as Instagram counts them."""
    return list(_HASHTAG.findall(text))


def _body(caption: str, persona: Persona) -> str:
    return "\n".join(line for line in caption.splitlines() if line.strip() != persona.disclosure.caption_line)


def _caption_rules(
    request: CaptionRequest, platform: PlatformSpec, body: str, hashtags: list[str], what: str
) -> list[str]:
    """The rules one caption (the main one, or a platform's variant) must keep on its platform."""
    persona = request.persona
    reasons = []
    full = compose(persona, body, hashtags, request.sponsored)
    if len(full) > platform.caption_limit:
        reasons.append(
            f"{what} is {len(full)} characters with the disclosure line and hashtags; "
            f"{platform.title} allows {platform.caption_limit} — shorten it"
        )
    bad_tags = [tag for tag in hashtags if not _HASHTAG.fullmatch(tag)]
    if bad_tags:
        reasons.append(f"these are not hashtags: {', '.join(bad_tags)} — write them like #travel")
    if len(hashtags) > persona.voice.hashtags.max:
        reasons.append(f"{len(hashtags)} hashtags given in {what}; at most {persona.voice.hashtags.max}")
    if platform.hashtag_limit is not None and len(hashtags_in(full)) > platform.hashtag_limit:
        reasons.append(f"more than {platform.hashtag_limit} hashtags in all in {what}")
    text = " ".join([body, *hashtags]).lower()
    banned = [w for w in persona.voice.banned_words if re.search(rf"\b{re.escape(w.lower())}\b", text)]
    if banned:
        reasons.append(f"{what} uses banned words: {', '.join(banned)} — never use them")
    claim = claims_to_be_human(body)
    if claim is not None:
        reasons.append(
            f'{what} claims the persona is a real human ("{claim}") — the persona is openly AI-made; '
            "never say so"
        )
    if request.sponsored and hashtags_in(full)[0].lower() != "#ad":
        reasons.append(f"a sponsored post needs #ad as its first hashtag in {what}")
    return reasons


def check_rules(request: CaptionRequest, draft: CaptionDraft, config: LLMConfig) -> list[str]:
    """Every rule a caption must keep; each broken one as a reason the model can act on."""
    persona = request.persona
    reasons = _caption_rules(request, persona.platform, draft.caption, draft.hashtags, "the caption")
    claim = claims_to_be_human(draft.alt_text)
    if claim is not None:
        reasons.append(
            f'the alt text claims the persona is a real human ("{claim}") — the persona is openly '
            "AI-made; never say so"
        )
    alt = draft.alt_text.lower()
    banned = [w for w in persona.voice.banned_words if re.search(rf"\b{re.escape(w.lower())}\b", alt)]
    if banned:
        reasons.append(f"the alt text uses banned words: {', '.join(banned)} — never use them")
    if not draft.alt_text.strip() or len(draft.alt_text) > ALT_TEXT_LIMIT:
        reasons.append(f"alt text must be 1 to {ALT_TEXT_LIMIT} characters")
    given = {variant.platform: variant for variant in draft.variants}
    for spec in request.variant_platforms:
        variant = given.get(spec.name)
        if variant is None:
            reasons.append(f"variants has no {spec.title} caption — add one with platform: {spec.name}")
            continue
        what = f"the {spec.title} variant"
        reasons += _caption_rules(request, spec, variant.caption, variant.hashtags, what)
    for recent in request.recent_captions:
        score = similarity(draft.caption, _body(recent, persona))
        if score > request.similarity_max:
            reasons.append(
                f"it is too close to a recent caption (similarity {score:.2f} > "
                f'{request.similarity_max:.2f}): "{_body(recent, persona).strip()[:80]}" — '
                "say something new"
            )
            break
    return reasons


# --- the LLM writer ------------------------------------------------------------------


class _Refused(GenerationError):
    pass


_EMOJI = {"none": "Use no emoji.", "few": "Use at most two emoji.", "many": "Emoji are welcome."}


def _body_budget(caption_limit: int) -> int:
    """What the model may write: the limit less room for the disclosure line and hashtags."""
    return caption_limit - min(300, caption_limit // 3)


def _messages(request: CaptionRequest) -> list[dict[str, str]]:
    persona = request.persona
    voice, platform = persona.voice, persona.platform
    system = (
        f"You write {platform.title} captions for {persona.name}, a virtual influencer who is openly "
        f"AI-made. Bio: {persona.bio or '-'}. Language: {voice.language}. Tone: {voice.tone or 'natural'}. "
        f"{_EMOJI[voice.emoji]} Never claim to be a real human. "
        f"Never use these words: {', '.join(voice.banned_words) or '-'}. "
        f"Give at most {voice.hashtags.max} hashtags of your own (the account adds "
        f"{' '.join(hashtags_for(persona, request.sponsored))} itself). Keep the caption under "
        f"{_body_budget(platform.caption_limit)} characters. Reply with one JSON object with the keys "
        "caption, hashtags (list), alt_text (a plain description of the photo for blind readers), "
        "image_brief (scene, outfit, mood, camera) and motion_brief (one sentence on how the photo "
        "should move in a reel)."
    )
    if request.variant_platforms:
        wanted = ", ".join(
            f"{spec.name} ({spec.title}, under {_body_budget(spec.caption_limit)} characters)"
            for spec in request.variant_platforms
        )
        system += (
            " The post also goes to other platforms: in the key variants, give a list with one object "
            f"(platform, caption, hashtags) per platform, in the same voice and within its limit: {wanted}."
        )
    recent = "\n".join(f"- {text.strip()[:200]}" for text in request.recent_captions[:RECENT_CAPTIONS])
    user = (
        f"Post format: {request.format}. Pillar: {request.pillar}. Scene: {request.scene}."
        f"{' This is a sponsored post.' if request.sponsored else ''}\n"
        f"Recent captions (do not repeat them):\n{recent or '- none yet'}"
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def _response_format(mode: ResponseMode) -> dict[str, Any] | None:
    if mode == "json_schema":
        schema = CaptionDraft.model_json_schema()
        schema["required"] = list(schema["properties"])  # strict mode wants every key required
        return {"type": "json_schema", "json_schema": {"name": "caption", "strict": True, "schema": schema}}
    if mode == "json_object":
        return {"type": "json_object"}
    return None


# Which response_format each server accepted, so the probing happens once per process.
_MODES: dict[tuple[str | None, str], ResponseMode] = {}
_MODE_ORDER: tuple[ResponseMode, ...] = ("json_schema", "json_object", "prompt")


def _rejects_response_format(err: Exception) -> bool:
    return "response_format" in str(err) or "json_schema" in str(err) or "json_object" in str(err)


def _client(config: LLMConfig) -> Any:
    from openai import OpenAI

    # Local servers (Ollama, vLLM, LM Studio) take any key; the client insists on one.
    return OpenAI(
        api_key=config.api_key or "not-needed",
        base_url=config.base_url,
        timeout=config.timeout_s,
        max_retries=config.max_retries,
    )


def _call(client: Any, config: LLMConfig, messages: list[dict[str, str]]) -> Any:
    """One completion, in the best response format this server accepts."""
    import openai

    key = (config.base_url, config.model)
    start = _MODE_ORDER.index(_MODES.get(key, "json_schema"))
    for mode in _MODE_ORDER[start:]:
        response_format = _response_format(mode)
        try:
            response = client.chat.completions.create(
                model=config.model,
                messages=messages,
                temperature=config.temperature,
                **({"response_format": response_format} if response_format else {}),
            )
        except openai.BadRequestError as err:
            if mode != "prompt" and _rejects_response_format(err):
                continue
            raise
        _MODES[key] = mode
        return response
    raise GenerationError("the server refused every response format")  # unreachable: "prompt" has none


def _parse(content: str | None) -> CaptionDraft:
    text = (content or "").strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", text, re.DOTALL)  # some local models fence it
    return CaptionDraft.model_validate_json(fenced[1] if fenced else text)


def _usage(response: Any, config: LLMConfig, outcome: str) -> Usage:
    tokens_in = getattr(response.usage, "prompt_tokens", 0) or 0
    tokens_out = getattr(response.usage, "completion_tokens", 0) or 0
    cost = tokens_in * config.price_in_per_mtok / 1e6 + tokens_out * config.price_out_per_mtok / 1e6
    return Usage(config.model, tokens_in, tokens_out, cost, outcome)


def _llm_caption(request: CaptionRequest, config: LLMConfig, usage: list[Usage]) -> CaptionResult:
    client = _client(config)
    messages = _messages(request)
    reasons: list[str] = []
    for _attempt in range(config.max_rewrites + 1):
        response = _call(client, config, messages)
        message = response.choices[0].message
        if message.refusal or response.choices[0].finish_reason == "content_filter":
            usage.append(_usage(response, config, "refused"))
            raise _Refused(f"the model refused: {(message.refusal or 'content filter')[:200]}")
        try:
            draft = _parse(message.content)
            reasons = check_rules(request, draft, config)
        except ValidationError as err:
            first = err.errors()[0]
            reasons = [
                f"the reply was not the JSON object asked for ({first['msg']} at "
                f"{'.'.join(str(p) for p in first['loc']) or 'top level'}) — reply with JSON only"
            ]
        if not reasons:
            usage.append(_usage(response, config, "accepted"))
            caption = compose(request.persona, draft.caption, draft.hashtags, request.sponsored)
            given = {variant.platform: variant for variant in draft.variants}
            variants = {
                spec.name: compose(
                    request.persona, given[spec.name].caption, given[spec.name].hashtags, request.sponsored
                )
                for spec in request.variant_platforms
            }
            return CaptionResult(
                caption,
                draft.alt_text.strip(),
                draft.image_brief,
                draft.motion_brief.strip(),
                "llm",
                [],
                usage,
                variants,
            )
        usage.append(_usage(response, config, "rewritten"))
        messages += [
            {"role": "assistant", "content": message.content or ""},
            {"role": "user", "content": "Rewrite it. Problems: " + "; ".join(reasons)},
        ]
    raise GenerationError(
        f"the caption still broke a rule after {config.max_rewrites} rewrite(s): " + "; ".join(reasons)
    )


def write_caption(request: CaptionRequest, config: LLMConfig | None) -> CaptionResult:
    """The caption for one post: by the LLM when one is configured and within budget,
    otherwise from templates (flagged for the reviewer when the LLM was meant to write it)."""
    if config is None:
        return template_result(request)
    budget = config.daily_budget_usd
    if budget is not None and request.spent_today_usd >= budget:
        return template_result(
            request,
            [
                f"the daily LLM budget of ${budget:.2f} for {request.persona.id} is spent "
                f"(${request.spent_today_usd:.4f}); template caption used"
            ],
        )
    import openai

    usage: list[Usage] = []
    try:
        return _llm_caption(request, config, usage)
    except GenerationError as err:  # refused, or still breaking a rule: its calls are in `usage`
        reason = str(err)
    except openai.OpenAIError as err:  # no usable answer at all
        reason = _explain(err)
        usage.append(Usage(config.model, 0, 0, 0.0, "error"))
    return template_result(request, [f"LLM caption failed ({reason}); template caption used"], usage)


def _explain(err: Exception) -> str:
    """A short reason; never the server's own message, which may echo the API key."""
    import openai

    if isinstance(err, openai.APITimeoutError):
        return "the server did not answer in time"
    if isinstance(err, openai.RateLimitError):
        return "rate limited (429) after retries"
    if isinstance(err, openai.AuthenticationError):
        return "the API key was refused (401) — check OPENAI_API_KEY"
    if isinstance(err, openai.APIConnectionError):
        return "cannot reach the server — check OPENAI_BASE_URL"
    if isinstance(err, openai.APIStatusError):
        return f"the server answered {err.status_code}"
    return type(err).__name__


def llm_payload(result: CaptionResult) -> dict[str, str | None]:
    """The result's extra fields as stored with the post."""
    return {
        "alt_text": result.alt_text,
        "image_brief": result.image_brief.model_dump_json() if result.image_brief else None,
        "motion_brief": result.motion_brief or None,
        "caption_writer": result.writer,
        "review_flags": json.dumps(result.flags) if result.flags else None,
        "caption_variants": json.dumps(result.variants, sort_keys=True) if result.variants else None,
    }
