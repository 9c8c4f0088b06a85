"""TikTok, through the Content Posting API v2's Direct Post (FACTS: "TikTok Content Posting API v2").

Videos up to 10 minutes (the creator's own maximum is read from creator_info), 9:16;
photo posts of up to 35 images (JPEG or WebP, pulled from a public URL). The video
`title` takes 2,200 characters; a photo post's description 4,000, its title 90. `is_aigc:
true` is TikTok's "AI-generated content" label, sent on every post. An unaudited app may
post only as SELF_ONLY, and each token may make 6 requests a minute.
"""

from __future__ import annotations

from typing import Literal

from content.platforms import AccountBase, AiFlag, ImageSpec, Limits, PlatformSpec, VideoSpec
from content.schema import EnvName

SPEC = PlatformSpec(
    name="tiktok",
    title="TikTok",
    caption_limit=2200,
    hashtag_limit=None,
    formats=("photo", "carousel", "reel"),
    # TikTok documents the formats and 20 MB, not a width or an aspect: only those are checked.
    image=ImageSpec(max_bytes=20 << 20, width=(1, 100_000), aspect=(0.01, 100.0), formats=("JPEG", "WEBP")),
    carousel_items=(2, 35),
    reel=VideoSpec(seconds=(3.0, 600.0), fps=(23.0, 60.0), max_width=4096, aspect=9 / 16, max_bytes=4 << 30),
    ai_flag=AiFlag("is_aigc", note="TikTok's AI-generated content label"),
    limits=Limits(requests_per_minute=6),
)

PrivacyLevel = Literal["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "FOLLOWER_OF_CREATOR", "SELF_ONLY"]


class TikTokAccount(AccountBase):
    """A TikTok creator: a user access token with video.publish, by environment variable
    name, and the privacy to post with (it must be one the creator's account offers)."""

    publisher: Literal["tiktok"] = "tiktok"
    token_env: EnvName = None
    privacy: PrivacyLevel = "PUBLIC_TO_EVERYONE"
