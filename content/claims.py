"""Does a caption claim that the persona is a real human?

A persona is openly AI-made, so a caption that says otherwise is refused whoever wrote it.
The rules cover the common ways of saying it in English, German and Spanish: a first-person
claim ("I'm a real person", "ich bin ein echter Mensch", "soy una persona real"), speaking
"as" a human, denying being a machine ("not a bot, promise", "keine KI", "no soy una IA"),
and authorship ("a real human wrote this"). Every language's rules run on every caption: a
persona writing in German still mixes in English. Text is compared without case or accents.
`tests/test_claims.py` holds the corpus they must meet: every claim caught, no innocent line.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

_REAL = r"(?:real|actual|genuine|living|breathing|flesh[- ]and[- ]blood|ordinary|regular|normal|true)"
_BEING = r"(?:person|human(?: being)?|woman|man|girl|guy|boy|lady|dude|individual|people|humans)"
_MACHINE = (
    r"(?:ai|a\.i\.|bot|robot|machine|algorithm|computer|cgi|avatar|virtual (?:influencer|person|model))"
)
_I_AM = r"(?:i'?m|i am|im|we'?re|we are|i'?m just|i am just|just)"

_ENGLISH = [
    rf"\b{_I_AM}\s+(?:(?:just|only|still|really|truly|totally|100%)\s+)*(?:an?\s+)?{_REAL}\s+{_BEING}\b",
    rf"\b{_I_AM}\s+(?:(?:just|only|still|really|truly|totally)\s+)*(?:an?\s+)?human(?: being)?\b",
    rf"\b(?:as|speaking as|talking as|being)\s+an?\s+(?:{_REAL}\s+)?(?:human(?: being)?|{_REAL}\s+{_BEING})\b",
    rf"\b(?:i'?m|i am|im|we'?re|we are|this is|it'?s|it is)\s+(?:definitely\s+|really\s+|totally\s+)?"
    rf"(?:not|no|never)\s+(?:an?\s+)?{_MACHINE}\b",
    rf"(?:^|[.!?,;:]\s*|\s-\s)(?:not|no|never)\s+(?:an?\s+)?{_MACHINE}s?\s*(?:[,.!?]|here|involved|at all|promise)",
    rf"\bno\s+{_MACHINE}s?\s+(?:here|involved|at all|was used|used)\b",
    r"\bnot\s+(?:ai|computer|machine)[- ](?:generated|made)\b",
    rf"\b(?:a|an|one|some)\s+{_REAL}\s+{_BEING}\s+(?:wrote|made|typed|took|shot|created|is behind|runs)\b",
    rf"\b(?:written|made|typed|taken|shot|created|posted)\s+by\s+(?:an?\s+)?(?:{_REAL}\s+)?"
    r"(?:human(?: being)?|person|people|humans|me,? a human)\b",
    r"\b(?:100\s?%|fully|totally|purely|all|entirely)\s+human\b",
    r"\bhuman[- ](?:made|written)\b",
    rf"\b{_REAL}\s+(?:human|person)\s+here\b",
    r"\bhuman here\b",
    r"\bi'?m\s+(?:totally\s+|really\s+|very\s+)?real\s*(?:[,.!?;)]|$|,?\s+(?:i promise|promise|not))",
    r"\bi\s+(?:really\s+)?exist\s+in\s+real\s+life\b",
    r"\b(?:i'?m|i am)\s+(?:made\s+of\s+)?flesh\s+and\s+blood\b",
]
_GERMAN = [
    r"\b(?:ich bin|wir sind)\s+(?:(?:wirklich|nur|ganz|halt)\s+)*(?:ein(?:e)?\s+)?"
    r"(?:echte[rn]?|wirkliche[rn]?|reale[rn]?|normale[rn]?)\s+(?:mensch|menschen|person|frau|mann|madchen)\b",
    r"\b(?:ich bin|wir sind)\s+(?:(?:wirklich|nur|ganz|halt)\s+)*(?:ein\s+)?mensch(?:en)?\b",
    r"\bals\s+(?:echter|echte|realer|reale|richtiger|richtige)\s+(?:mensch|person|frau|mann)\b",
    r"\bals\s+mensch\s+(?:sage|schreibe|finde|kann)\b",
    r"\b(?:ich bin|das ist|hier ist|wir sind)\s+(?:(?:wirklich|definitiv|echt)\s+)?"
    r"(?:kein(?:e)?|nicht)\s+(?:ki|bot|roboter|maschine|avatar|computer|virtuell(?:e|er)?)\b",
    r"(?:^|[.!?,;:]\s*)(?:kein(?:e)?)\s+(?:ki|bot|roboter|maschine)\s*(?:[,.!?]|hier|im spiel|versprochen)",
    r"\bnicht\s+(?:ki-generiert|ki generiert|von\s+(?:einer\s+)?ki)\b",
    r"\bvon\s+(?:einem\s+)?(?:echten\s+)?menschen\s+(?:geschrieben|gemacht|erstellt)\b",
    r"\b(?:ein|eine)\s+(?:echter|echte)\s+(?:mensch|person)\s+(?:hat|schreibt|steckt)\b",
    r"\baus\s+fleisch\s+und\s+blut\b",
    r"\b100\s?%\s+mensch\b",
]
_SPANISH = [
    r"\b(?:soy|somos)\s+(?:una?\s+)?(?:persona|personas|humano|humana|ser humano|mujer|hombre|chica|chico)\s+"
    r"(?:real(?:es)?|de verdad|de carne y hueso|autentic[ao]s?|normal)\b",
    r"\b(?:soy|somos)\s+(?:solo\s+)?(?:una?\s+)?(?:humano|humana|humanos|ser humano)\b",
    r"\b(?:como|hablando como)\s+(?:una?\s+)?(?:persona|humano|humana|ser humano)\s*(?:real|de verdad|,)",
    r"\bno\s+(?:soy|somos|es)\s+(?:una?\s+)?(?:ia|i\.a\.|bot|robot|maquina|avatar|virtual|inteligencia artificial)\b",
    r"(?:^|[.!?,;:]\s*)(?:nada de|sin)\s+(?:ia|bots?|robots?)\s*(?:[,.!?]|aqui|lo prometo)",
    r"\b(?:escrito|hecho|creado)\s+por\s+(?:una?\s+)?(?:humano|humana|persona)(?:\s+real)?\b",
    r"\bde\s+carne\s+y\s+hueso\b",
    r"\b100\s?%\s+human[oa]\b",
]


@cache
def _claims() -> re.Pattern[str]:
    # Compiled on first use, not at import: it takes ~0.15 s, and most commands that import
    # the caption rules (`vibot publish`, every CLI start) never check a caption.
    return re.compile("|".join(f"(?:{rule})" for rule in (*_ENGLISH, *_GERMAN, *_SPANISH)))


def _normal(text: str) -> str:
    """Lower case, plain apostrophes, accents and umlauts dropped (ü → u), single spaces."""
    text = text.replace("’", "'").replace("‘", "'").replace("ß", "ss").lower()
    stripped = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", stripped).strip()


def claims_to_be_human(text: str) -> str | None:
    """The words of `text` that claim a real human is speaking, or None."""
    found = _claims().search(_normal(text))
    return found.group(0).strip() if found else None
