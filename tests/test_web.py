"""The approval web UI over HTTP: logins, sessions, CSRF, media, every page and action,
and keyset pagination — against vibot's real web server on 127.0.0.1."""

from __future__ import annotations

import http.client
import json
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlmodel import select

from bot.context import App
from bot.prepare import prepare_post
from bot.review import approve, get_post
from bot.web import create_web_app
from bot.web.auth import HASHER, LoginLimiter, authenticate
from bot.web.queries import BadCursorError, review_page
from bot.web.routes import verify
from bot.web.serve import make_server
from content.errors import ConfigError
from storage.db import session_scope
from storage.lifecycle import add_planned, move_publication, transition
from storage.models import MediaAsset, Post, WebSession, WebUser
from storage.status import PostStatus, PublicationStatus
from tests.support.cli import cli_here
from tests.support.posts import killed_mid_publish
from tests.support.web import PASSWORD, REVIEWER, Site, api_routes, csrf_of, login, vibot_web


def status_of(app: App, post_id: int) -> PostStatus:
    return get_post(app, post_id).post.status


PAGES = ["/", "/queue", "/calendar", "/calendar/tess?view=month", "/history", "/personas", "/health"]


def test_pages_send_strangers_to_the_login(client: httpx.Client) -> None:
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next="), path


def test_every_state_change_needs_a_session_and_its_csrf_token(
    site: Site, client: httpx.Client, user: httpx.Client
) -> None:
    """Every POST route of the app, found by walking its routes (a new one is covered too).
    The login and the public lookup are the two that change nothing and need no session."""
    post_id = site.posts["photo"]
    public = {"/login", *verify.UPLOAD_PATHS}
    routes = [
        r for r in api_routes(create_web_app(site.app).routes) if "POST" in r.methods and r.path not in public
    ]
    assert len(routes) >= 9
    form = {"reason": "blurry", "caption": "new words", "what": "caption", "decision": "skip"}
    form |= {"when": "2030-01-01T10:00"}
    good = csrf_of(user)
    for route in routes:
        path = route.path.format(post_id=post_id, persona_id="tess")
        anonymous = client.post(path, data={**form, "csrf": good})
        assert anonymous.status_code in (401, 303), path
        missing = user.post(path, data=form)
        assert missing.status_code == 403, path
        wrong = user.post(path, data={**form, "csrf": good[:-2] + "xx"})
        assert wrong.status_code == 403, path
    assert status_of(site.app, post_id) == PostStatus.IN_REVIEW
    assert user.get("/queue").status_code == 200  # and logout was refused too


def test_login_needs_its_own_csrf_token_and_is_rate_limited(client: httpx.Client) -> None:
    refused = client.post("/login", data={"name": REVIEWER, "password": PASSWORD, "csrf": "guess"})
    assert refused.status_code == 403
    for _ in range(5):
        assert login(client, password="wrong password").status_code == 401
    blocked = login(client)  # the right password, but too late
    assert blocked.status_code == 429
    assert 800 <= int(blocked.headers["retry-after"]) <= 901
    assert "Too many failed attempts" in blocked.text
    assert login(client, name="someone-else").status_code == 429  # the address is blocked too


def test_the_limiter_forgets_after_its_window() -> None:
    limiter = LoginLimiter(attempts=2, window_s=60)
    assert limiter.attempt(["ip:1"], now=0) == 0
    assert limiter.attempt(["ip:1"], now=10) == 0
    assert limiter.attempt(["ip:1"], now=20) == pytest.approx(40)
    assert limiter.attempt(["ip:2"], now=20) == 0
    assert limiter.attempt(["ip:1"], now=61) == 0
    for n in range(10_001):  # a flood of made-up names
        limiter.attempt([f"name:{n}"], now=100)
    limiter.attempt(["name:last"], now=200)
    assert set(limiter.failures) == {"name:last"}  # all but the fresh one were outside the window


def test_session_cookie_flags_and_secure_behind_https(site: Site, client: httpx.Client) -> None:
    response = login(client)
    assert response.status_code == 303 and response.headers["location"] == "/queue"
    cookie = response.headers["set-cookie"]
    assert "vibot_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain http on loopback
    # Behind a reverse proxy on this machine that terminates HTTPS: every cookie is Secure.
    with httpx.Client(base_url=site.url, headers={"X-Forwarded-Proto": "https"}) as proxied:
        form = proxied.get("/login")
        assert "Secure" in form.headers["set-cookie"]
        token = form.cookies["vibot_login"]
        behind_proxy = proxied.post(
            "/login",
            data={"name": REVIEWER, "password": PASSWORD, "csrf": token},
            headers={"Cookie": f"vibot_login={token}"},  # httpx keeps Secure cookies off plain http
        )
        assert behind_proxy.status_code == 303
        assert "Secure" in behind_proxy.headers["set-cookie"]
    with session_scope(site.app.engine) as session:
        stored = session.exec(select(WebSession)).all()
    token = client.cookies["vibot_session"]
    assert all(token not in row.token_sha256 for row in stored)  # only its hash is kept


def test_passwords_are_argon2id_and_wrong_ones_fail(site: Site) -> None:
    with session_scope(site.app.engine) as session:
        user = session.get(WebUser, REVIEWER)
    assert user is not None and user.password_hash.startswith("$argon2id$")
    assert "m=65536" in user.password_hash  # 64 MiB: memory-hard
    assert HASHER.verify(user.password_hash, PASSWORD)
    assert not authenticate(site.app, REVIEWER, PASSWORD + "x")
    assert not authenticate(site.app, "nobody", PASSWORD)


def test_logout_ends_the_session(user: httpx.Client) -> None:
    token = csrf_of(user)
    assert user.post("/logout", data={"csrf": token}).status_code == 303
    assert user.get("/queue").status_code == 303


def test_security_headers(user: httpx.Client) -> None:
    page = user.get("/queue")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert "<script>" not in page.text and "style=" not in page.text  # the CSP would block them


def raw_get(site: Site, path: str, cookie: str | None) -> int:
    """A request with the path exactly as written: httpx would normalise '..' away."""
    connection = http.client.HTTPConnection("127.0.0.1", site.server.port, timeout=10)
    connection.request("GET", path, headers={"Cookie": f"vibot_session={cookie}"} if cookie else {})
    status = connection.getresponse().status
    connection.close()
    return status


TRAVERSALS = [
    "/media/../vibot.db",
    "/media/..%2fvibot.db",
    "/media/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/media/1/../../vibot.db",
    "/media/999999",
    "/media/-1",
    "/static/../app.py",
    "/static/..%2fapp.py",
    "/static/%2e%2e/%2e%2e/settings.py",
    "/public/media/..%2F..%2Fvibot.db",
    "/public/media/e30.e30",
]


def test_media_is_for_logged_in_users_and_no_path_leaves_the_store(site: Site, user: httpx.Client) -> None:
    asset = get_post(site.app, site.posts["photo"]).media[0]
    assert asset.id is not None
    anonymous = httpx.get(f"{site.url}/media/{asset.id}")
    assert anonymous.status_code == 303 or anonymous.url.path == "/login"
    served = user.get(f"/media/{asset.id}")
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    assert served.content == site.app.media.path(asset.path).read_bytes()
    cookie = user.cookies["vibot_session"]
    for path in TRAVERSALS:
        assert raw_get(site, path, cookie) == 404, path
    # A row pointing outside the store (a tampered database) is refused as well.
    (site.app.settings.home / "secret.txt").write_text("no")
    with session_scope(site.app.engine) as session:
        row = session.get(MediaAsset, asset.id)
        assert row is not None
        row.path = "../secret.txt"
        session.add(row)
    assert user.get(f"/media/{asset.id}").status_code == 404


def test_the_queue_shows_each_post_with_what_a_reviewer_needs(site: Site, user: httpx.Client) -> None:
    page = user.get("/queue").text
    for fmt, post_id in site.posts.items():
        card = page[page.index(f'id="post-{post_id}"') :]
        card = card[: card.index("</li>")]
        view = get_post(site.app, post_id)
        assert fmt in card
        line = "Tess is a virtual influencer; this post is AI-generated."
        assert f'<span class="lock">locked</span> {line}' in card
        assert "caption line present" in card
        assert "#test" in card
        assert (view.post.alt_text or "") in card
        assert "tiny-flux" in card and "seed" in card
        for asset in view.media:
            assert f"/media/{asset.id}" in card
    assert f'<span class="count" id="total">{len(site.posts)}</span>' in page


def test_the_disclosure_check_reads_every_layer_back(site: Site, user: httpx.Client) -> None:
    result = user.get(f"/posts/{site.posts['carousel']}/check").json()
    assert result["ok"] is True and result["caption_ok"] is True
    assert len(result["files"]) == len(get_post(site.app, site.posts["carousel"]).media)
    assert all(item["problems"] == [] for item in result["files"])


def test_approve_reject_and_edit_over_http(site: Site, user: httpx.Client) -> None:
    token = csrf_of(user)
    photo, carousel = site.posts["photo"], site.posts["carousel"]
    edited = user.post(f"/posts/{photo}/caption", data={"csrf": token, "caption": "Harbour light. #sea"})
    assert edited.status_code == 303, edited.text
    caption = get_post(site.app, photo).post.caption or ""
    assert caption.startswith("Tess is a virtual influencer; this post is AI-generated.\n\nHarbour light.")
    approved = user.post(f"/posts/{photo}/approve", data={"csrf": token, "next": "/queue"})
    assert approved.headers["location"] == f"/queue?done=approved&post={photo}"
    assert status_of(site.app, photo) == PostStatus.APPROVED
    assert get_post(site.app, photo).approval.approved_by == REVIEWER  # type: ignore[union-attr]
    no_reason = user.post(f"/posts/{carousel}/reject", data={"csrf": token, "reason": " "})
    assert no_reason.status_code == 409 and "needs a reason" in no_reason.text
    user.post(f"/posts/{carousel}/reject", data={"csrf": token, "reason": "hands look wrong"})
    view = get_post(site.app, carousel).post
    assert view.status == PostStatus.REJECTED and view.review_note == "hands look wrong"
    again = user.post(f"/posts/{photo}/approve", data={"csrf": token})
    assert again.status_code == 409 and "only posts in review can be approved" in again.text


def test_a_caption_over_instagrams_limit_is_refused(site: Site, user: httpx.Client) -> None:
    token = csrf_of(user)
    response = user.post(f"/posts/{site.posts['photo']}/caption", data={"csrf": token, "caption": "x" * 2200})
    assert response.status_code == 409 and "Instagram allows 2200" in response.text
    tags = " ".join(f"#t{n}" for n in range(31))
    response = user.post(f"/posts/{site.posts['photo']}/caption", data={"csrf": token, "caption": tags})
    assert response.status_code == 409 and "hashtags" in response.text


def test_new_media_keeps_the_edited_caption(site: Site, user: httpx.Client) -> None:
    post_id = site.posts["photo"]
    token = csrf_of(user)
    user.post(f"/posts/{post_id}/caption", data={"csrf": token, "caption": "My own words. #mine"})
    before = get_post(site.app, post_id)
    response = user.post(f"/posts/{post_id}/regenerate", data={"csrf": token, "what": "media"})
    assert response.headers["location"].startswith("/queue?done=new-media")
    waiting = get_post(site.app, post_id).post
    assert waiting.status == PostStatus.PLANNED and waiting.keep_caption and waiting.seed != before.post.seed
    assert prepare_post(site.app, post_id)
    after = get_post(site.app, post_id)
    assert after.post.status == PostStatus.IN_REVIEW and not after.post.keep_caption
    assert after.post.caption == before.post.caption
    assert [m.sha256 for m in after.media] != [m.sha256 for m in before.media]
    assert len(after.media) == len(before.media)  # replaced, not added


def test_new_caption_over_http(site: Site, user: httpx.Client) -> None:
    post_id = site.posts["photo"]
    response = user.post(f"/posts/{post_id}/regenerate", data={"csrf": csrf_of(user), "what": "caption"})
    assert response.status_code == 303
    assert any("caption regenerated by ada" in e.message for e in get_post(site.app, post_id).events)


def test_moving_a_slot_in_the_calendar(site: Site, user: httpx.Client) -> None:
    post_id = site.posts["photo"]
    token = csrf_of(user)
    berlin = ZoneInfo("Europe/Berlin")
    when = (datetime.now(berlin) + timedelta(days=2)).replace(hour=9, minute=15, second=0, microsecond=0)
    moved = user.post(f"/posts/{post_id}/move", data={"csrf": token, "when": when.strftime("%Y-%m-%dT%H:%M")})
    assert moved.status_code == 303
    assert get_post(site.app, post_id).post.slot_utc == when.astimezone(UTC)
    week = user.get(f"/calendar/tess?start={when.date().isoformat()}").text
    assert f"09:15 #{post_id}" in week and "status-in_review" in week
    month = user.get(f"/calendar/tess?view=month&start={when.date().isoformat()}").text
    assert f"09:15 #{post_id}" in month
    past = user.post(f"/posts/{post_id}/move", data={"csrf": token, "when": "2020-01-01T10:00"})
    assert past.status_code == 409 and "is past" in past.text
    other = site.posts["carousel"]
    taken = user.post(f"/posts/{other}/move", data={"csrf": token, "when": when.strftime("%Y-%m-%dT%H:%M")})
    assert taken.status_code == 409 and f"post {post_id} already has that time" in taken.text
    bad = user.post(f"/posts/{other}/move", data={"csrf": token, "when": "tomorrow"})
    assert bad.status_code == 409 and "YYYY-MM-DDTHH:MM" in bad.text


def stuck(app: App, post_id: int) -> None:
    """A post whose publication nobody could confirm."""
    approve(app, post_id, "tester")
    killed_mid_publish(app, post_id, publisher="graph")
    with session_scope(app.engine) as session:
        move_publication(
            session, post_id, "instagram", PublicationStatus.PUBLISHING, PublicationStatus.NEEDS_RECONCILE
        )


def test_history_settles_posts_that_need_reconciling(site: Site, user: httpx.Client) -> None:
    photo, carousel = site.posts["photo"], site.posts["carousel"]
    stuck(site.app, photo)
    stuck(site.app, carousel)
    listed = user.get("/history?show=reconcile").text
    assert f"#{photo}" in listed and "It is on Instagram" in listed and "publish again" in listed
    token = csrf_of(user)
    link = "https://www.instagram.com/p/abc123/"
    user.post(f"/posts/{photo}/settle", data={"csrf": token, "decision": "published", "permalink": link})
    user.post(f"/posts/{carousel}/settle", data={"csrf": token, "decision": "retry"})
    assert status_of(site.app, photo) == PostStatus.PUBLISHED
    assert status_of(site.app, carousel) == PostStatus.APPROVED
    published = user.get("/history?show=published").text
    assert link in published and f"#{photo}" in published
    bad = user.post(f"/posts/{photo}/settle", data={"csrf": token, "decision": "published"})
    assert bad.status_code == 409


def test_failed_posts_show_their_reason_and_can_be_retried(site: Site, user: httpx.Client) -> None:
    with session_scope(site.app.engine) as session:
        (post,) = add_planned(
            session,
            [
                {
                    "persona_id": "tess",
                    "slot_utc": datetime.now(UTC) + timedelta(hours=5),
                    "timezone": "Europe/Berlin",
                    "format": "photo",
                    "pillar": "food",
                    "scene": "market stall",
                    "seed": 1,
                }
            ],
        )
        assert post.id is not None
        post_id = post.id
        transition(session, post_id, PostStatus.PLANNED, PostStatus.DRAFTING)
        transition(session, post_id, PostStatus.DRAFTING, PostStatus.FAILED, review_note="GPU out of memory")
    page = user.get("/history?show=failed").text
    assert "GPU out of memory" in page and "Prepare it again" in page
    user.post(f"/posts/{post_id}/retry", data={"csrf": csrf_of(user)})
    assert status_of(site.app, post_id) == PostStatus.PLANNED


def test_personas_page_shows_account_states_and_resumes(site: Site, user: httpx.Client) -> None:
    from bot.accounts import hold

    hold(site.app, "tess", "instagram", "the access token expired")
    page = user.get("/personas").text
    assert "account-held" in page and "the access token expired" in page and "Next slots" in page
    user.post("/accounts/tess/resume", data={"csrf": csrf_of(user)})
    assert "account-active" in user.get("/personas").text
    assert user.post("/accounts/nobody/resume", data={"csrf": csrf_of(user)}).status_code == 404


def test_health_page(site: Site, user: httpx.Client) -> None:
    page = user.get("/health").text
    assert "sqlite, schema 0010" in page
    assert "daemon" in page and "not running" in page
    assert "2 post(s) in review" in page
    assert httpx.get(f"{site.url}/healthz").json() == {"status": "ok"}


def test_an_unknown_post_is_a_404_page(user: httpx.Client) -> None:
    response = user.get("/posts/424242")
    assert response.status_code == 404 and "There is no such post" in response.text


def test_the_next_parameter_cannot_leave_the_site(client: httpx.Client) -> None:
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        form = client.get("/login", params={"next": target}).text
        assert 'name="next" value="/queue"' in form


def many_in_review(app: App, count: int, start: datetime) -> list[int]:
    rows = [
        {
            # Pairs share a time (two personas): the id breaks the tie.
            "persona_id": ("tess", "zoe")[n % 2],
            "slot_utc": start + timedelta(minutes=n // 2),
            "timezone": "Europe/Berlin",
            "format": "photo",
            "pillar": "travel",
            "scene": "harbour at dawn",
            "seed": n,
        }
        for n in range(count)
    ]
    with session_scope(app.engine) as session:
        ids = []
        for row in rows:
            post = Post(status=PostStatus.IN_REVIEW, caption="x", **row)
            session.add(post)
            session.flush()
            assert post.id is not None
            ids.append(post.id)
    return ids


def test_keyset_pages_walk_every_post_once_both_ways(app: App) -> None:
    """On SQLite and PostgreSQL: row-value comparisons and the deferred read transactions."""
    sqlite_app = app
    ids = many_in_review(sqlite_app, 95, datetime(2031, 1, 1, tzinfo=UTC))
    seen, cursor, pages = [], None, []
    while True:
        page = review_page(sqlite_app, after=cursor, size=20)
        pages.append(page)
        seen += [card.post.id for card in page.cards]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == ids and len(pages) == 5 and pages[0].total == 95
    back, cursor = [], pages[-1].prev_cursor
    while cursor is not None:
        page = review_page(sqlite_app, before=cursor, size=20)
        back = [card.post.id for card in page.cards] + back
        cursor = page.prev_cursor
    assert back + [card.post.id for card in pages[-1].cards] == ids
    with pytest.raises(BadCursorError):  # a hand-edited link is a 400 page, not a guess
        review_page(sqlite_app, after="not-a-cursor", size=20)


def test_the_daemon_serves_the_web_ui(sqlite_app: App) -> None:
    from bot.daemon import Daemon

    daemon = Daemon(sqlite_app)
    web = daemon.start_web()
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while not web.server.started and datetime.now(UTC) < deadline:
            pass
        assert httpx.get(f"http://127.0.0.1:{web.port}/healthz").json() == {"status": "ok"}
        assert httpx.get(f"http://127.0.0.1:{web.port}/queue").status_code == 303
    finally:
        web.stop()


def test_a_taken_port_is_a_clear_error(sqlite_app: App) -> None:
    first = make_server(sqlite_app, "127.0.0.1", 0)
    try:
        with pytest.raises(ConfigError, match=r"cannot listen on 127\.0\.0\.1"):
            make_server(sqlite_app, "127.0.0.1", first.port)
    finally:
        first.sock.close()


def test_web_add_user_and_its_mistakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support.personas import write_persona

    home = tmp_path / "home"
    write_persona(home / "personas")

    def vibot(home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return cli_here(monkeypatch, home, *args, stdin=stdin)

    nobody = vibot(home, "web", "--port", "0")
    assert nobody.returncode == 2 and "vibot web add-user NAME" in nobody.stderr
    added = vibot(home, "web", "add-user", "ada", "--password-stdin", stdin="a long password\n")
    assert added.returncode == 0, added.stderr
    assert "reviewer ada: added" in added.stdout
    again = vibot(home, "web", "add-user", "ada", "--password-stdin", stdin="a long password\n")
    assert again.returncode == 2 and "--replace" in again.stderr and "Traceback" not in again.stderr
    short = vibot(home, "web", "add-user", "bob", "--password-stdin", stdin="short\n")
    assert short.returncode == 2 and "at least 10" in short.stderr
    odd = vibot(home, "web", "add-user", "../x", "--password-stdin", stdin="a long password\n")
    assert odd.returncode == 2 and "reviewer name" in odd.stderr
    listed = vibot(home, "web", "users")
    assert "ada" in listed.stdout and "never" in listed.stdout
    removed = vibot(home, "web", "remove-user", "ada")
    assert removed.returncode == 0 and "removed" in removed.stdout
    assert json.dumps(vibot(home, "web", "remove-user", "ada").returncode) == "2"
    assert "a long password" not in (home / "vibot.db").read_bytes().decode("latin-1")
    assert not re.search(r"Traceback", short.stderr + odd.stderr)


def test_the_cli_does_what_the_web_ui_does(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    home = site.app.settings.home

    def vibot(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return cli_here(monkeypatch, home, *args)

    photo, carousel = site.posts["photo"], site.posts["carousel"]
    regenerated = vibot(home, "queue", "regenerate", str(photo), "--by", "ada")
    assert regenerated.returncode == 0, regenerated.stderr
    assert status_of(site.app, photo) == PostStatus.PLANNED
    later = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    moved = vibot(home, "queue", "move", str(carousel), "--to", later.isoformat())
    assert moved.returncode == 0, moved.stderr
    assert get_post(site.app, carousel).post.slot_utc == later
    stuck(site.app, carousel)
    settled = vibot(home, "queue", "settle", str(carousel), "skip")
    assert settled.returncode == 0 and status_of(site.app, carousel) == PostStatus.SKIPPED


def test_actions_come_back_to_the_same_page_without_the_last_message(site: Site, user: httpx.Client) -> None:
    page = user.get("/queue", params={"persona": "tess", "done": "approved", "post": 1}).text
    assert 'name="next" value="/queue?persona=tess"' in page
    assert "Post 1 approved." in page


def test_reviewers_and_sessions_on_both_databases(app: App) -> None:
    from bot.web.auth import add_user, end_session, remove_user, reviewer_for, start_session

    add_user(app, "ada", PASSWORD)
    assert authenticate(app, "ada", PASSWORD) and not authenticate(app, "ada", "wrong password!")
    token = start_session(app, "ada")
    found = reviewer_for(app, token)
    assert found is not None and found.name == "ada" and len(found.csrf_token) >= 32
    end_session(app, token)
    assert reviewer_for(app, token) is None
    other = start_session(app, "ada")
    remove_user(app, "ada")
    assert reviewer_for(app, other) is None


def test_a_session_ends_when_it_expires(sqlite_app: App) -> None:
    from bot.web.auth import add_user, reviewer_for, start_session

    add_user(sqlite_app, "ada", PASSWORD)
    token = start_session(sqlite_app, "ada")
    with session_scope(sqlite_app.engine) as session:
        for row in session.exec(select(WebSession)):
            row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
            session.add(row)
    assert reviewer_for(sqlite_app, token) is None


def test_a_media_request_from_the_ui_wakes_the_daemons_prepare_job(sqlite_app: App) -> None:
    from bot.daemon import Daemon

    daemon = Daemon(sqlite_app)
    daemon.add_jobs()
    daemon.scheduler.start(paused=True)
    try:
        later = datetime.now(UTC) + timedelta(hours=1)
        daemon.scheduler.modify_job("prepare", next_run_time=later)
        daemon.wake_prepare()
        woken = daemon.scheduler.get_job("prepare").next_run_time
        assert woken < later - timedelta(minutes=59)
    finally:
        daemon.scheduler.shutdown(wait=False)


@pytest.mark.slow
def test_vibot_web_serves_until_stopped(site: Site) -> None:
    with vibot_web(site.app.settings.home) as running:
        assert httpx.get(f"{running.url}/healthz").json() == {"status": "ok"}
        with httpx.Client(base_url=running.url) as browser:
            assert login(browser).status_code == 303
            assert f'id="post-{site.posts["photo"]}"' in browser.get("/queue").text
    # uvicorn shuts down gracefully, then re-raises SIGTERM: the status a service manager expects.
    assert running.process.returncode in (0, -15)
    assert "Traceback" not in running.stderr


def test_each_router_runs_on_its_own(sqlite_app: App) -> None:
    """The routers are module-level: a FastAPI with one of them and the state runs it."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from bot.web.routes import pages, public
    from bot.web.state import NotLoggedInError, WebState

    alone = FastAPI()
    alone.state.vibot = WebState.for_app(sqlite_app)
    alone.include_router(public.router)
    alone.include_router(pages.router)
    with TestClient(alone, raise_server_exceptions=False) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/public/media/not-a-token").status_code == 404
        with TestClient(alone) as strict, pytest.raises(NotLoggedInError):
            strict.get("/health")  # the page router's guard, without the app's handler
        assert client.get("/queue").status_code == 404  # the review router is not part of it
