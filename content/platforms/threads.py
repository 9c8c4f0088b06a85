"""Threads (FACTS: "Threads"), through the Threads API with the account's own token.

Posts are text with up to 500 characters; images (JPEG or PNG, at most 8 MB, 320–1440 px
wide, aspect up to 10:1), videos (up to 5 minutes) and carousels of 2–20 items. 250 posts
per 24 hours. Threads turns only the first hashtag of a post into a topic tag; the rest
stay text, so there is no hashtag limit to refuse. The API has no AI-label field.
"""

from __future__ import annotations

from typing import Literal

from content.platforms import AccountBase, AiFlag, ImageSpec, Limits, PlatformSpec, VideoSpec
from content.schema import EnvName

SPEC = PlatformSpec(
    name="threads",
    title="Threads",
    caption_limit=500,
    hashtag_limit=None,
    formats=("photo", "carousel", "reel"),
    image=ImageSpec(
        max_bytes=8 * 1024 * 1024, width=(320, 1440), aspect=(0.1, 10.0), formats=("JPEG", "PNG")
    ),
    carousel_items=(2, 20),
    reel=VideoSpec(seconds=(1.0, 300.0), fps=(23.0, 60.0), max_width=1920, aspect=9 / 16, max_bytes=1 << 30),
    ai_flag=AiFlag(
        None, note="the Threads API has no AI-label field; the caption line and the visible label carry it"
    ),
    limits=Limits(posts_per_day=250),
)


class ThreadsAccount(AccountBase):
    """A Threads profile: its Threads user id and a long-lived Threads access token, by
    environment variable name."""

    publisher: Literal["threads"] = "threads"
    user_id_env: EnvName = None
    token_env: EnvName = None
