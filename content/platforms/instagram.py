"""Instagram (FACTS: "Instagram and Kling"), and the three publishers that post to it.

Images: JPEG, at most 8 MB, 320–1440 px wide, aspect 4:5 to 1.91:1, RGB (sRGB).
Reels: MP4/MOV, H.264 or HEVC, 23–60 fps, at most 1920 px wide, 9:16, 3 s to 15 min, 1 GB.
Carousels: 2–10 items. Captions: 2,200 characters and 30 hashtags. The Graph API takes
`is_ai_generated` on each media container; instagrapi has no such field.
"""

from __future__ import annotations

from typing import Literal

from content.platforms import AccountBase, AiFlag, ImageSpec, Limits, PlatformSpec, VideoSpec
from content.schema import EnvName

REEL = VideoSpec(seconds=(3.0, 900.0), fps=(23.0, 60.0), max_width=1920, aspect=9 / 16, max_bytes=1 << 30)
SPEC = PlatformSpec(
    name="instagram",
    title="Instagram",
    caption_limit=2200,
    hashtag_limit=30,
    formats=("photo", "carousel", "reel"),
    image=ImageSpec(max_bytes=8 * 1024 * 1024, width=(320, 1440), aspect=(4 / 5, 1.91)),
    carousel_items=(2, 10),
    reel=REEL,
    ai_flag=AiFlag(
        "is_ai_generated",
        note="set on every Graph API container; instagrapi and the outbox have no field for it, "
        "so there the caption line and the visible label carry the disclosure",
    ),
    # The Graph API's own quota is read from content_publishing_limit before each post.
    limits=Limits(posts_per_day=50),
)


class OutboxAccount(AccountBase):
    """Publishes nowhere: each post is a line in VIBOT_HOME/outbox/published.jsonl (demo, tests)."""

    publisher: Literal["outbox"] = "outbox"


class GraphAccount(AccountBase):
    """The Instagram Graph API (a business or creator account): the user id and a long-lived
    access token, by environment variable name."""

    publisher: Literal["graph"] = "graph"
    user_id_env: EnvName = None
    token_env: EnvName = None


class InstagrapiAccount(AccountBase):
    """Instagram's private API through instagrapi: the login, and optionally a TOTP seed for
    two-factor logins and a proxy URL, by environment variable name."""

    publisher: Literal["instagrapi"] = "instagrapi"
    username_env: EnvName = None
    password_env: EnvName = None
    totp_seed_env: EnvName = None
    proxy_env: EnvName = None
