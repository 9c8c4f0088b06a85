"""YouTube Shorts through the YouTube Data API v3 (FACTS: "YouTube Data API v3").

Shorts are vertical videos of up to 3 minutes; vibot posts reels only. The title is the
caption's first line (100 characters at most, no angle brackets), the description the
whole caption (5,000 bytes). More than 15 hashtags make YouTube ignore all of them.
`status.containsSyntheticMedia: true` is YouTube's own "altered or synthetic content"
flag, sent on every upload. An upload costs about 100 quota units of the project's daily
10,000; vibot counts them per project and day and waits when the next would overrun.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from content.platforms import AccountBase, AiFlag, Limits, PlatformSpec, VideoSpec
from content.schema import EnvName

TITLE_LIMIT = 100
UPLOAD_UNITS = 100  # quota units of one videos.insert

SPEC = PlatformSpec(
    name="youtube",
    title="YouTube",
    caption_limit=5000,
    hashtag_limit=15,
    formats=("reel",),
    image=None,
    carousel_items=None,
    reel=VideoSpec(
        seconds=(1.0, 180.0), fps=(23.0, 60.0), max_width=1920, aspect=9 / 16, max_bytes=256 << 30
    ),
    ai_flag=AiFlag("status.containsSyntheticMedia", note="YouTube's altered-or-synthetic disclosure"),
    limits=Limits(posts_per_day=None),  # bounded by the quota instead
)


class YouTubeAccount(AccountBase):
    """A YouTube channel: an OAuth access token with the youtube.upload scope, by environment
    variable name, the privacy of new Shorts, and the project's daily quota."""

    publisher: Literal["youtube"] = "youtube"
    token_env: EnvName = None
    privacy: Literal["public", "unlisted", "private"] = "public"
    quota_per_day: int = Field(default=10_000, ge=UPLOAD_UNITS)
    project: str = "default"  # quota is per Google Cloud project: channels sharing one share it
