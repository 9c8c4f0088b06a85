"""One post from slot to platform: prepare, review, approve, publish, reconcile.

The steps whose outcome rests on the database — preparing, approving, publishing exactly
once, reconciling after a crash, recovering an interrupted preparation — run on SQLite and on
PostgreSQL; the rest (which only need a post in review) on SQLite: generating a post does
not depend on the database, and it is what a test costs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from bot.context import App
from bot.prepare import posts_to_prepare, prepare_post, recover_interrupted
from bot.publishing import publish_pass
from bot.review import approve, edit_caption, get_post, reject
from content.errors import UserError
from storage.db import session_scope
from storage.lifecycle import add_planned, ensure_publications, transition
from storage.models import PublishAttempt
from storage.status import PostStatus
from tests.support.personas import make_app, write_persona
from tests.support.posts import killed_mid_publish, outbox_lines, planned_post, ready_post


def test_prepare_puts_a_labelled_photo_and_caption_in_review(app: App) -> None:
    post_id = ready_post(app)
    view = get_post(app, post_id)
    assert view.post.status == PostStatus.IN_REVIEW
    assert view.post.caption is not None and view.post.caption.startswith("Tess is a virtual influencer")
    assert view.post.prompt == "t3ss woman, photo of a woman, harbour at dawn, travel"
    (asset,) = view.media
    path = app.media.path(asset.path)
    assert path.exists() and (asset.width, asset.height) == (320, 400)
    assert path.name.startswith(asset.sha256)
    statuses = [e.message.split(":")[0] for e in view.events]
    assert statuses[1:] == ["planned → drafting", "drafting → generating", "generating → in_review"]


def test_carousel_gets_several_distinct_images(sqlite_app: App) -> None:
    app = sqlite_app  # generation and these rules do not depend on the database
    post_id = ready_post(app, fmt="carousel")
    media = get_post(app, post_id).media
    assert [m.position for m in media] == [0, 1, 2]
    assert len({m.sha256 for m in media}) == 3


def test_approve_then_publish_exactly_once(app: App) -> None:
    post_id = ready_post(app)
    approval = approve(app, post_id, by="ana")
    view = get_post(app, post_id)
    assert approval.approved_by == "ana" and json.loads(approval.media_sha256) == [view.media[0].sha256]
    report = publish_pass(app)
    assert report.published == [post_id]
    assert publish_pass(app).published == []  # a second pass publishes nothing
    (line,) = outbox_lines(app)
    assert line["post_id"] == post_id and line["media_sha256"] == [view.media[0].sha256]
    assert line["caption"] == view.post.caption
    view = get_post(app, post_id)
    assert view.post.status == PostStatus.PUBLISHED
    assert view.attempts[0].remote_id == line["remote_id"] and view.attempts[0].outcome == "published"


@pytest.mark.slow
def test_several_posts_in_one_pass_each_get_one_line(sqlite_app: App) -> None:
    app = sqlite_app  # generation and these rules do not depend on the database
    ids = [ready_post(app, slot=datetime.now(UTC) - timedelta(minutes=m)) for m in (3, 2, 1)]
    for post_id in ids:
        approve(app, post_id, by="ana")
    assert publish_pass(app).published == ids
    assert [line["post_id"] for line in outbox_lines(app)] == ids
    assert len({line["remote_id"] for line in outbox_lines(app)}) == 3


def test_a_slot_not_yet_due_waits_unless_until_says_so(sqlite_app: App) -> None:
    app = sqlite_app  # generation and these rules do not depend on the database
    post_id = ready_post(app, slot=datetime.now(UTC) + timedelta(hours=5))
    approve(app, post_id, by="ana")
    assert publish_pass(app).published == []
    assert publish_pass(app, until=datetime.now(UTC) + timedelta(hours=6)).published == [post_id]


def test_media_changed_after_approval_is_refused_and_back_in_review(sqlite_app: App) -> None:
    app = sqlite_app  # generation and these rules do not depend on the database
    post_id = ready_post(app)
    approve(app, post_id, by="ana")
    path = app.media.path(get_post(app, post_id).media[0].path)
    path.write_bytes(path.read_bytes() + b"tampered")
    report = publish_pass(app)
    assert report.published == [] and post_id in report.refused
    assert "changed after approval" in report.refused[post_id]
    view = get_post(app, post_id)
    assert view.post.status == PostStatus.IN_REVIEW and "Refused to publish" in (view.post.review_note or "")
    assert outbox_lines(app) == []
    with pytest.raises(UserError, match="was changed on disk"):
        approve(app, post_id, by="ana")


def test_a_missing_media_file_is_refused(sqlite_app: App) -> None:
    app = sqlite_app  # generation and these rules do not depend on the database
    post_id = ready_post(app)
    approve(app, post_id, by="ana")
    app.media.path(get_post(app, post_id).media[0].path).unlink()
    assert "is missing" in publish_pass(app).refused[post_id]


def test_editing_after_approval_sends_back_to_review_and_keeps_disclosure(sqlite_app: App) -> None:
    app = sqlite_app  # generation and these rules do not depend on the database
    post_id = ready_post(app)
    approve(app, post_id, by="ana")
    caption = edit_caption(app, post_id, "A brand new caption", by="ana")
    assert caption.splitlines()[0] == "Tess is a virtual influencer; this post is AI-generated."
    assert get_post(app, post_id).post.status == PostStatus.IN_REVIEW
    assert publish_pass(app).published == []
    approve(app, post_id, by="ana")
    assert publish_pass(app).published == [post_id]
    assert outbox_lines(app)[0]["caption"] == caption


def test_caption_changed_behind_vibots_back_is_refused(sqlite_app: App) -> None:
    app = sqlite_app  # generation and these rules do not depend on the database
    post_id = ready_post(app)
    approve(app, post_id, by="ana")
    with session_scope(app.engine) as session:
        from storage.models import Post

        post = session.get(Post, post_id)
        assert post is not None
        post.caption = (post.caption or "") + " buy now"
        session.add(post)
    assert "caption changed after approval" in publish_pass(app).refused[post_id]


def test_reject_needs_a_reason_and_only_works_in_review(sqlite_app: App) -> None:
    app = sqlite_app  # generation and these rules do not depend on the database
    post_id = ready_post(app)
    with pytest.raises(UserError, match="needs a reason"):
        reject(app, post_id, " ", by="ana")
    reject(app, post_id, "off-brand", by="ana")
    assert get_post(app, post_id).post.review_note == "off-brand"
    with pytest.raises(UserError, match="is rejected; only posts in review can be approved"):
        approve(app, post_id, by="ana")


def crash_while_publishing(app: App, post_id: int, *, write_outbox: bool) -> str:
    """What a process killed right after (or right before) the platform call leaves behind."""
    from bot.publishers import PublishRequest
    from bot.publishers.outbox import OutboxPublisher

    attempt_id = killed_mid_publish(app, post_id)
    if write_outbox:
        OutboxPublisher(app.settings.outbox_dir).publish(
            PublishRequest(post_id, "tess", "photo", "caption", [], [], marker=attempt_id)
        )
    return attempt_id


@pytest.mark.parametrize("published_before_crash", [True, False])
def test_reconcile_after_a_crash(app: App, published_before_crash: bool) -> None:
    post_id = ready_post(app)
    approve(app, post_id, by="ana")
    crash_while_publishing(app, post_id, write_outbox=published_before_crash)
    report = publish_pass(app)
    if published_before_crash:
        assert report.reconciled == [post_id] and report.published == []
    else:
        assert report.retried == [post_id] and report.published == [post_id]
    assert [line["post_id"] for line in outbox_lines(app)] == [post_id]
    assert get_post(app, post_id).post.status == PostStatus.PUBLISHED


def test_when_the_platform_cannot_tell_a_person_decides(sqlite_app: App) -> None:
    app = sqlite_app  # generation and these rules do not depend on the database
    post_id = ready_post(app)
    approve(app, post_id, by="ana")
    crash_while_publishing(app, post_id, write_outbox=False)
    (app.settings.outbox_dir / "published.jsonl").mkdir(parents=True)  # unreadable "platform"
    report = publish_pass(app)
    assert report.needs_reconcile == [post_id]
    view = get_post(app, post_id)
    assert view.post.status == PostStatus.NEEDS_RECONCILE and view.attempts[-1].outcome == "unclear"


@pytest.mark.slow
def test_missed_slots_publish_late_within_grace_else_skip(sqlite_app: App) -> None:
    app = sqlite_app  # generation and these rules do not depend on the database
    late = ready_post(app, slot=datetime.now(UTC) - timedelta(minutes=90))  # grace is 2h
    too_late = ready_post(app, slot=datetime.now(UTC) - timedelta(hours=3))
    approve(app, late, by="ana")
    approve(app, too_late, by="ana")
    with session_scope(app.engine) as session:  # as a rate limit leaves it: approved, pending
        ensure_publications(session, too_late, {"instagram": "outbox"})
    report = publish_pass(app)
    assert report.published == [late] and report.skipped == [too_late]
    view = get_post(app, too_late)
    assert view.post.status == PostStatus.SKIPPED and [p.status for p in view.publications] == ["skipped"]
    assert "approved → skipped: slot" in view.events[-1].message  # straight there, not via publishing


def test_interrupted_preparation_is_retried(app: App) -> None:
    post_id = planned_post(app, datetime.now(UTC) + timedelta(hours=1))
    with session_scope(app.engine) as session:
        transition(session, post_id, PostStatus.PLANNED, PostStatus.DRAFTING)
    app.settings.media_dir.mkdir(parents=True, exist_ok=True)
    leftover = app.settings.media_dir / ".incoming-crashed"
    leftover.write_bytes(b"half a file")
    assert recover_interrupted(app) == 1
    assert not leftover.exists()
    assert get_post(app, post_id).post.status == PostStatus.PLANNED
    assert prepare_post(app, post_id)
    assert not prepare_post(app, post_id)  # already taken


def test_a_failing_stage_marks_the_post_failed_with_the_reason(app: App) -> None:
    post_id = planned_post(app, datetime.now(UTC) + timedelta(hours=1))
    (app.settings.models_dir / "tiny-flux" / "model_index.json").unlink()
    with pytest.raises(Exception, match="cannot load the model from"):
        prepare_post(app, post_id)
    view = get_post(app, post_id)
    assert view.post.status == PostStatus.FAILED and "cannot load the model from" in (
        view.post.review_note or ""
    )
    with session_scope(app.engine) as session:
        assert session.exec(select(PublishAttempt)).all() == []


def test_prepare_work_is_grouped_by_persona_so_loras_switch_rarely(tmp_path: Path, tiny_model: Path) -> None:
    home = tmp_path / "home"
    write_persona(home / "personas")
    (home / "personas" / "remy.yaml").write_text(
        (home / "personas" / "tess.yaml").read_text().replace("id: tess", "id: remy")
    )
    app = make_app(home, f"sqlite:///{home / 'vibot.db'}", tiny_model)
    now = datetime.now(UTC)
    slots = [("tess", 1), ("remy", 2), ("tess", 3), ("remy", 4), ("tess", 5)]  # interleaved in time
    with session_scope(app.engine) as session:
        posts = add_planned(
            session,
            [
                {"persona_id": who, "slot_utc": now + timedelta(hours=h), "timezone": "UTC",
                 "format": "photo", "pillar": "travel", "scene": "harbour", "seed": h}
                for who, h in slots
            ],
        )  # fmt: skip
    order = posts_to_prepare(app, now)
    by_id = {post.id: post.persona_id for post in posts}
    assert [by_id[i] for i in order] == ["tess", "tess", "tess", "remy", "remy"]  # one switch
    tess_ids = [i for i in order if by_id[i] == "tess"]
    assert tess_ids == sorted(tess_ids)  # soonest first within a persona
