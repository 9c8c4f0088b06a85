"""The human-claim rules against a corpus: every claim caught, every innocent line passes."""

from __future__ import annotations

import pytest

from content.claims import claims_to_be_human

CLAIMS = [
    # English
    "I'm a real person, not a filter.",
    "I am human, just like you.",
    "Speaking as a real person, this view got me",
    "Trust me, a real human wrote this",
    "As a real person I can tell you: go early.",
    "speaking as a human, coffee is a right",
    "Not a bot, promise",
    "not a bot. promise!",
    "I'm not an AI, I swear",
    "This is not AI-generated",
    "I'm not a robot, I just love routines",
    "Written by a human, for humans",
    "Just a regular girl who loves rooftops",
    "I'm an actual human being behind this account",
    "100% human, 0% filter",
    "Real human here, saying hi",
    "We are real people with real lives",
    "Trust me, I'm real!",
    "No AI here, just me and my camera",
    "Human-made memories only",
    "I really exist in real life, come say hi",
    "I'm flesh and blood, not pixels",
    "It's not a bot posting this",
    "being a real woman in this industry is hard",
    "a genuine person took this photo",
    "Fully human and proud",
    "I’m a real girl, whatever the comments say",
    "i am just a normal guy",
    # German
    "Ich bin ein echter Mensch!",
    "Ich bin eine echte Frau, keine Puppe",
    "Als echter Mensch sage ich: Kaffee zuerst.",
    "Keine KI, versprochen.",
    "Ich bin keine KI",
    "Das ist nicht KI-generiert.",
    "Von einem echten Menschen geschrieben",
    "Ich bin wirklich nur ein Mensch",
    "Aus Fleisch und Blut, wie ihr",
    "Wir sind echte Menschen",
    "100 % Mensch",
    "Ein echter Mensch steckt hinter diesem Account",
    # Spanish
    "Soy una persona real",
    "Soy humana, como tú",
    "Hablando como una persona real, esto es precioso",
    "No soy una IA, lo prometo",
    "No soy un bot",
    "Nada de IA, lo prometo",
    "Escrito por una persona real",
    "Soy de carne y hueso",
    "Somos personas reales",
    "No es inteligencia artificial, soy yo",
    "Como humana, necesito café",
]
INNOCENT = [
    # English
    "Real talk: this café changed my mornings.",
    "Happy Human Rights Day to everyone marching today.",
    "A person I met on the ferry told me about this place.",
    "Real love is a second espresso.",
    "People here are so kind.",
    "The man at the market gave me a peach.",
    "Keep it real, keep it simple.",
    "AI-generated, as always: this view deserves a look.",
    "Humans of the night market, you're the best.",
    "Not a cloud in the sky today.",
    "No filter needed for this sunset.",
    "Bot-anical garden vibes (sorry).",
    "The robot vacuum in this hotel is my new friend.",
    "This is a real treat.",
    "Meet the real star: the croissant.",
    "Human connection is why I travel.",
    "I'm really excited about this one.",
    "I'm a night person.",
    "Realistic goals: coffee, then more coffee.",
    "Made by hand at a tiny ceramics studio.",
    "The woman who runs this bakery is a legend.",
    "It's a man's world, said nobody in this kitchen.",
    "Getting real about slow mornings.",
    "Not AI-free, never will be: I'm a virtual influencer.",
    "Humanity at its best on this street.",
    "Girls' trip, part two.",
    "A real gem of a bookshop.",
    "Normal people don't queue for an hour for bread. We do.",
    # German
    "Menschenrechte gelten für alle.",
    "Echt schön hier am Hafen.",
    "Ein Mensch, den ich am Markt getroffen habe, hat mir das empfohlen.",
    "Echte Liebe ist ein zweiter Kaffee.",
    "Die Menschen hier sind so freundlich.",
    "Keine Wolke am Himmel.",
    "Ich bin ein Morgenmensch? Eher nicht.",
    "Kein Filter nötig.",
    # Spanish
    "Los derechos humanos importan.",
    "Una persona que conocí me recomendó este sitio.",
    "De verdad, me encanta este café.",
    "La vida real es mejor con café.",
    "Sin filtro, solo luz natural.",
    "Soy una persona de mañanas.",
    "Hay gente muy amable aquí.",
]


def test_the_corpus_is_big_enough() -> None:
    assert len(CLAIMS) >= 40 and len(INNOCENT) >= 40
    for language_marker in ("Ich bin", "Soy"):
        assert any(language_marker in line for line in CLAIMS)


@pytest.mark.parametrize("text", CLAIMS)
def test_every_claim_is_caught(text: str) -> None:
    assert claims_to_be_human(text) is not None, text


@pytest.mark.parametrize("text", INNOCENT)
def test_no_innocent_line_is_flagged(text: str) -> None:
    assert claims_to_be_human(text) is None, (text, claims_to_be_human(text))
