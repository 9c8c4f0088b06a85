"""The instagrapi publisher: Instagram's private app API, for accounts without Graph access.

- The session is kept in a settings file (mode 0600) and reused, so vibot does not log in
  afresh each time (fresh logins are what trigger challenges); TOTP two-factor codes come
  from a seed in the environment; each account has its own proxy.
- A challenge, a feedback block, a bad password or a two-factor demand holds the account
  for a person: never a retry loop. `PleaseWaitFewMinutes` and throttling cool it down.
- The prepared, signed bytes go up unchanged. instagrapi's `photo_upload` re-encodes the
  JPEG (stripping XMP and C2PA), so photos and carousels use a raw upload of the file's
  bytes and instagrapi's configure calls; reels use its clip upload with the cover.
- The account-level AI label (`account_set_ai_info(True)`) is set at every login.
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog
from PIL import Image

from bot.publishers import (
    InFlight,
    Progress,
    PublishRequest,
    Registration,
    RemoteMedia,
    UrlFor,
    first_unclaimed,
    from_env,
    no_progress,
)
from bot.settings import Settings
from content.errors import AccountHeldError, PublishError, RateLimitedError
from content.persona import Persona
from content.platforms.instagram import InstagrapiAccount

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class PrivateConfig:
    username: str
    password: str
    settings_path: Path  # the saved session
    totp_seed: str | None = None
    proxy: str | None = None


class PrivatePublisher:
    name = "instagrapi"
    ai_flag = "the account's AI label (account_set_ai_info)"

    def __init__(self, config: PrivateConfig, client: Any = None) -> None:
        self.config = config
        self._client = client
        self._logged_in = False

    # --- session ---------------------------------------------------------------------

    def client(self) -> Any:
        if self._logged_in:
            return self._client
        from instagrapi import Client

        client = self._client if self._client is not None else Client()
        client.delay_range = [1, 3]  # human-like pauses between private API calls
        if self.config.proxy:
            client.set_proxy(self.config.proxy)
        if self.config.settings_path.exists():
            client.load_settings(self.config.settings_path)
        code = client.totp_generate_code(self.config.totp_seed) if self.config.totp_seed else ""
        with _mapped_errors("logging in"):
            client.login(self.config.username, self.config.password, verification_code=code)
            client.account_set_ai_info(True)
        self._save_session(client)
        self._client, self._logged_in = client, True
        return client

    def _save_session(self, client: Any) -> None:
        path = self.config.settings_path
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        client.dump_settings(path)
        os.chmod(path, 0o600)  # it holds session cookies: as good as the password

    # --- publishing ------------------------------------------------------------------

    def publish(self, request: PublishRequest, progress: Progress = no_progress) -> RemoteMedia:
        from instagrapi.extractors import extract_media_v1

        client = self.client()
        with _mapped_errors("publishing"):
            if request.format == "reel":
                video, cover = request.media[0], request.media[-1]
                # instagrapi uploads and configures a clip in one call: mark the attempt as
                # possibly published before it.
                progress("clip")
                media = client.clip_upload(video, request.caption, thumbnail=cover)
            elif request.format == "carousel":
                children = [_child(*upload_exact(client, path, to_album=True)) for path in request.media]
                progress(",".join(child["upload_id"] for child in children))
                media = extract_media_v1(client.album_configure(children, request.caption)["media"])
            else:
                upload_id, width, height = upload_exact(client, request.media[0])
                progress(upload_id)  # uploaded, not yet configured: nothing is on the account
                configured = client.photo_configure(upload_id, width, height, request.caption)
                media = extract_media_v1(configured["media"])
        self._save_session(client)
        return RemoteMedia(str(media.pk), None, request.caption, media.taken_at, _permalink(media))

    def close(self) -> None:
        """Nothing to release."""

    def find(self, in_flight: InFlight) -> RemoteMedia | None:
        """No handle: the attempt died before configuring, so nothing went out. With one, the
        account's media with this caption since the attempt began, unless another post owns it
        (the private API keeps no marker and gives no container to ask)."""
        if in_flight.handle is None:
            return None
        return first_unclaimed(self.recent_media(in_flight.started_at), in_flight)

    def recent_media(self, since: datetime) -> list[RemoteMedia]:
        client = self.client()
        with _mapped_errors("listing recent media"):
            medias = client.user_medias_v1(client.user_id, amount=20)
        return [
            RemoteMedia(str(m.pk), None, m.caption_text or "", m.taken_at, _permalink(m))
            for m in medias
            if m.taken_at >= since.replace(microsecond=0)  # Instagram gives whole seconds
        ]


def upload_exact(client: Any, path: Path, to_album: bool = False) -> tuple[str, int, int]:
    """instagrapi's photo upload request, sending the file's bytes as they are (its own
    `photo_rupload` re-encodes them first, which would strip the disclosure metadata)."""
    from instagrapi import config
    from instagrapi.exceptions import PhotoNotUpload

    data = path.read_bytes()
    upload_id = str(int(time.time() * 1000))
    name = f"{upload_id}_0_{random.randint(1000000000, 9999999999)}"
    params = {
        "retry_context": '{"num_step_auto_retry":0,"num_reupload":0,"num_step_manual_retry":0}',
        "media_type": "1",
        "xsharing_user_ids": "[]",
        "upload_id": upload_id,
        "image_compression": json.dumps({"lib_name": "moz", "lib_version": "3.1.m", "quality": "92"}),
    }
    if to_album:
        params["is_sidecar"] = "1"
    headers = client.private_headers(
        {
            "Accept-Encoding": "gzip",
            "X-Instagram-Rupload-Params": json.dumps(params),
            "X_FB_PHOTO_WATERFALL_ID": str(uuid.uuid4()),
            "X-Entity-Type": "image/jpeg",
            "Offset": "0",
            "X-Entity-Name": name,
            "X-Entity-Length": str(len(data)),
            "Content-Type": "application/octet-stream",
            "Content-Length": str(len(data)),
        }
    )
    response = client.private.post(
        f"https://{config.API_DOMAIN}/rupload_igphoto/{name}", data=data, headers=headers
    )
    if response.status_code != 200:
        raise PhotoNotUpload(response.text, response=response)
    with Image.open(path) as image:
        width, height = image.size
    return upload_id, width, height


def _child(upload_id: str, width: int, height: int) -> dict[str, str]:
    crop = {"crop_original_size": [width, height], "crop_center": [0.0, -0.0], "crop_zoom": 1.0}
    return {
        "upload_id": upload_id,
        "edits": json.dumps(crop),
        "extra": json.dumps({"source_width": width, "source_height": height}),
    }


def _permalink(media: Any) -> str | None:
    code = getattr(media, "code", None)
    return f"https://www.instagram.com/p/{code}/" if code else None


@contextmanager
def _mapped_errors(doing: str) -> Iterator[None]:
    """instagrapi's exceptions as vibot's outcomes."""
    from instagrapi import exceptions as ig

    held = (ig.ChallengeRequired, ig.FeedbackRequired, ig.BadPassword, ig.TwoFactorRequired,
            ig.LoginRequired, ig.SentryBlock, ig.ProxyAddressIsBlocked)  # fmt: skip
    try:
        yield
    except held as error:
        raise AccountHeldError(
            f"Instagram needs a person while {doing} ({type(error).__name__}) — sign in to the account "
            "in the app, resolve it, then run vibot account resume"
        ) from None
    except (ig.PleaseWaitFewMinutes, ig.RateLimitError, ig.ClientThrottledError) as error:
        raise RateLimitedError(
            f"Instagram asks to wait ({type(error).__name__}) while {doing}", retry_after_s=1800.0
        ) from None
    except ig.ClientError as error:
        raise PublishError(f"Instagram error while {doing}: {type(error).__name__}") from None


def build(
    account: InstagrapiAccount, persona: Persona, settings: Settings, url_for: UrlFor
) -> PrivatePublisher:
    config = PrivateConfig(
        username=from_env(persona, account, "username_env", account.username_env),
        password=from_env(persona, account, "password_env", account.password_env),
        settings_path=settings.home / "sessions" / f"{persona.id}.json",
        totp_seed=os.environ.get(account.totp_seed_env) if account.totp_seed_env else None,
        proxy=os.environ.get(account.proxy_env) if account.proxy_env else None,
    )
    return PrivatePublisher(config)


REGISTRATION = Registration(InstagrapiAccount, build)
