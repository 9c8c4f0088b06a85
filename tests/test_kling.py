"""The Kling client against a fake Kling server on 127.0.0.1 (real HTTP, real JWTs)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from bot.context import App
from bot.prepare import prepare_post
from bot.review import get_post
from content.disclosure.verify import verify_file
from content.errors import ConfigError
from content.reels import ffmpeg_exe
from content.reels.kling import KlingConfig, KlingError, animate, token
from storage.status import PostStatus
from tests.fakes.kling_server import VIDEO, FakeKling, fake_kling
from tests.support.personas import make_app, write_persona
from tests.support.posts import planned_post


class FakeTime:
    """Sleeping advances a clock instead of waiting: polling tests run in milliseconds."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


@pytest.fixture
def kling() -> Iterator[FakeKling]:
    with fake_kling() as fake:
        yield fake


@pytest.fixture
def still(tmp_path: Path) -> Path:
    path = tmp_path / "still.jpg"
    path.write_bytes(b"\xff\xd8 a still \xff\xd9")
    return path


def config(kling: FakeKling, **changes: Any) -> KlingConfig:
    values: dict[str, Any] = {
        "base_url": kling.url,
        "access_key": kling.access_key,
        "secret_key": kling.secret_key,
        "timeout_s": 120.0,
    }
    return KlingConfig(**{**values, **changes})


def run(kling: FakeKling, still: Path, tmp_path: Path, clock: FakeTime, **changes: Any) -> Path:
    return animate(
        still,
        "slow push-in",
        5,
        "vibot-post-7-v1",
        tmp_path / "clip.mp4",
        config(kling, **changes),
        sleep=clock.sleep,
        clock=clock.clock,
    )


def test_create_poll_download(kling: FakeKling, still: Path, tmp_path: Path) -> None:
    clock = FakeTime()
    clip = run(kling, still, tmp_path, clock)
    assert clip.read_bytes() == VIDEO
    (created,) = kling.creates
    assert (created["model_name"], created["mode"], created["duration"]) == ("kling-v1-6", "std", "5")
    assert created["external_task_id"] == "vibot-post-7-v1" and created["prompt"] == "slow push-in"
    assert clock.slept == [2.0, 3.0]  # polled with a growing interval


def test_the_jwt_is_short_lived_and_names_the_access_key(kling: FakeKling) -> None:
    import jwt

    claims = jwt.decode(
        token(config(kling), now=1_700_000_000),
        kling.secret_key,
        algorithms=["HS256"],
        options={"verify_exp": False, "verify_nbf": False},
    )
    assert claims == {"iss": "ak-test", "exp": 1_700_001_800, "nbf": 1_699_999_995}


def test_a_retry_never_pays_twice(kling: FakeKling, still: Path, tmp_path: Path) -> None:
    run(kling, still, tmp_path, FakeTime())
    run(kling, still, tmp_path, FakeTime())  # e.g. after a crash before the clip was stored
    assert len(kling.creates) == 1


def test_a_failed_task_says_why(kling: FakeKling, still: Path, tmp_path: Path) -> None:
    kling.outcome = "failed"
    with pytest.raises(KlingError, match="Kling could not make the video: Failure to pass the risk control"):
        run(kling, still, tmp_path, FakeTime())


def test_a_task_that_never_finishes_times_out(kling: FakeKling, still: Path, tmp_path: Path) -> None:
    kling.outcome = "never"
    clock = FakeTime()
    with pytest.raises(KlingError, match="was still processing after 120 s"):
        run(kling, still, tmp_path, clock)
    assert clock.now - 1000.0 <= 120.0 and max(clock.slept) <= 30.0


@pytest.mark.parametrize("status", [429, 500, 503])
def test_rate_limits_and_server_errors_are_retried(
    kling: FakeKling, still: Path, tmp_path: Path, status: int
) -> None:
    kling.fail_next = [status, status]
    assert run(kling, still, tmp_path, FakeTime()).read_bytes() == VIDEO
    assert len(kling.creates) == 1


def test_errors_that_persist_give_up(kling: FakeKling, still: Path, tmp_path: Path) -> None:
    kling.fail_next = [500] * 10
    with pytest.raises(KlingError, match="Kling answered 500 after 3 tries"):
        run(kling, still, tmp_path, FakeTime(), retries=2)


def test_wrong_keys_are_named_without_the_secret(kling: FakeKling, still: Path, tmp_path: Path) -> None:
    with pytest.raises(KlingError) as caught:
        run(kling, still, tmp_path, FakeTime(), secret_key="wrong-secret-value-0123456789abcdef")
    assert "check KLING_ACCESS_KEY and KLING_SECRET_KEY" in str(caught.value)
    assert "wrong-secret-value" not in str(caught.value) and kling.creates == []


def test_an_unreachable_server(still: Path, tmp_path: Path) -> None:
    unreachable = KlingConfig(base_url="http://127.0.0.1:9", access_key="a", secret_key="s" * 32, retries=1)
    with pytest.raises(KlingError, match=r"cannot reach Kling at http://127\.0\.0\.1:9"):
        animate(still, "x", 5, "id", tmp_path / "clip.mp4", unreachable, sleep=lambda _: None)


def test_only_5_or_10_seconds(kling: FakeKling, still: Path, tmp_path: Path) -> None:
    with pytest.raises(KlingError, match="5 or 10 second clips, not 7"):
        animate(still, "x", 7, "id", tmp_path / "clip.mp4", config(kling))


# --- the kling backend inside vibot ---------------------------------------------------------


def test_kling_clips_are_5_or_10_seconds_in_persona_files(tmp_path: Path) -> None:
    from content.errors import PersonaError
    from content.persona import load_persona

    path = write_persona(tmp_path, pipeline={"reel": {"backend": "kling", "seconds": 7}})
    with pytest.raises(PersonaError) as caught:
        load_persona(path)
    (problem,) = caught.value.problems
    assert problem.field == "pipeline.reel.seconds"
    assert problem.message == "the kling backend makes 5 or 10 second clips, not 7 — set seconds: 5 or 10"


def kling_app(tmp_path: Path, tiny_model: Path, kling: FakeKling | None) -> App:
    """A persona making 5 s reels with Kling; the keys and URL of `kling` when given."""
    home = tmp_path / "home"
    image = {"model": "tiny-flux", "steps": 2, "size": "320x400"}
    write_persona(home / "personas", pipeline={"image": image, "reel": {"backend": "kling", "seconds": 5}})
    app = make_app(home, f"sqlite:///{home / 'vibot.db'}", tiny_model)
    if kling is None:
        return app
    keys = {
        "kling_api_url": kling.url,
        "kling_access_key": SecretStr(kling.access_key),
        "kling_secret_key": SecretStr(kling.secret_key),
    }
    return App(app.settings.model_copy(update=keys))


@pytest.mark.slow
def test_a_kling_reel_reaches_review_with_every_disclosure_layer(
    tmp_path: Path, tiny_model: Path, kling: FakeKling
) -> None:
    clip = tmp_path / "kling.mp4"
    subprocess.run(
        [
            ffmpeg_exe(),
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x568:rate=24:duration=2",
            "-pix_fmt",
            "yuv420p",
            str(clip),
        ],
        check=True,
    )
    kling.video = clip.read_bytes()
    kling.polls_to_finish = 0  # polling has its own tests; here it would only sleep the first 2 s
    app = kling_app(tmp_path, tiny_model, kling)
    post_id = planned_post(app, datetime.now(UTC) + timedelta(hours=3), "reel")
    assert prepare_post(app, post_id)
    view = get_post(app, post_id)
    video = view.media[0]
    assert view.post.status == PostStatus.IN_REVIEW
    assert (video.kind, video.width, video.height) == ("video", 1080, 1920)
    assert video.duration_s == 5.0
    report = verify_file(app.media.path(video.path), app.signing.ca_pem)
    assert report.ok, report.problems()
    (created,) = kling.creates
    assert created["external_task_id"] == f"vibot-tess-{post_id}-42" and created["duration"] == "5"


def test_kling_without_keys_fails_the_post_with_the_fix(tmp_path: Path, tiny_model: Path) -> None:
    app = kling_app(tmp_path, tiny_model, None)
    post_id = planned_post(app, datetime.now(UTC) + timedelta(hours=3), "reel")
    with pytest.raises(ConfigError, match="set KLING_ACCESS_KEY and KLING_SECRET_KEY"):
        prepare_post(app, post_id)
    post = get_post(app, post_id).post
    assert post.status == PostStatus.FAILED and "KLING_ACCESS_KEY" in (post.review_note or "")
