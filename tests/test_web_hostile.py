"""The review UI against hostile clients: parallel guessing, oversized bodies, out-of-range and
malformed parameters on every route, forged tokens — each gets vibot's own answer, never a 500,
never FastAPI's echoing 422, always with the security headers."""

from __future__ import annotations

import base64
import contextlib
import re
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from bot.public_media import make_token, read_token
from bot.signing import seal, unb64, unseal
from bot.web.app import create_web_app
from bot.web.auth import LoginLimiter
from tests.support.web import PASSWORD, REVIEWER, Site, api_routes, csrf_of, login, login_form, vibot_web

HEADERS = ("content-security-policy", "x-content-type-options", "x-frame-options")


def has_security_headers(response: httpx.Response) -> bool:
    return all(name in response.headers for name in HEADERS)


# --- the login limiter ------------------------------------------------------------------


def test_the_limiter_lets_exactly_its_limit_through_when_raced() -> None:
    limiter = LoginLimiter(attempts=5)
    barrier = threading.Barrier(50)
    allowed: list[float] = []

    def guess() -> None:
        barrier.wait()
        allowed.append(limiter.attempt(["ip:x", "name:ada"]))

    threads = [threading.Thread(target=guess) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(allowed)[:6] == [0, 0, 0, 0, 0, pytest.approx(900, abs=5)]


def parallel_logins(site: Site, names: list[str]) -> Counter[int]:
    """One bad login per name, all sent at once, each with its own login form."""
    clients = [httpx.Client(base_url=site.url, timeout=60) for _ in names]
    forms = [login_form(client) for client in clients]
    barrier = threading.Barrier(len(names))

    def attempt(index: int) -> int:
        barrier.wait()
        data = {"name": names[index], "password": "wrong password", "csrf": forms[index]}
        return clients[index].post("/login", data=data).status_code

    try:
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            return Counter(pool.map(attempt, range(len(names))))
    finally:
        for client in clients:
            client.close()


@pytest.mark.slow
def test_fifty_parallel_guesses_for_one_name_check_at_most_five(site: Site) -> None:
    answers = parallel_logins(site, [REVIEWER] * 50)
    print(f"50 parallel bad logins for one name: {dict(answers)}")
    assert answers[401] <= 5 and answers[401] + answers[429] == 50, answers


@pytest.mark.slow
def test_thirty_parallel_made_up_names_from_one_address_check_at_most_five(site: Site) -> None:
    answers = parallel_logins(site, [f"stranger{n}" for n in range(30)])
    print(f"30 parallel made-up names from one address: {dict(answers)}")
    assert answers[401] <= 5 and answers[401] + answers[429] == 30, answers


def test_a_known_device_still_logs_in_while_strangers_lock_the_name(site: Site) -> None:
    with httpx.Client(base_url=site.url) as reviewer, httpx.Client(base_url=site.url) as stranger:
        assert login(reviewer).status_code == 303
        device = reviewer.cookies["vibot_device"]
        reviewer.post("/logout", data={"csrf": csrf_of(reviewer)})
        for _ in range(5):
            assert login(stranger, password="wrong password").status_code == 401
        assert login(stranger).status_code == 429  # locked for strangers, even with the password
        assert login(reviewer).status_code == 303  # the reviewer's browser is not locked out
        # The device cookie is signed and names its reviewer: it helps no other name.
        assert login(stranger, name="nobody").status_code == 429
        tampered = device[:-3] + ("AAA" if device[-3:] != "AAA" else "BBB")
        with httpx.Client(base_url=site.url, cookies={"vibot_device": tampered}) as forger:
            assert login(forger).status_code == 429


# --- request bodies ---------------------------------------------------------------------


def peak_rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"VmHWM:\s+(\d+) kB", status)
    assert found is not None
    return int(found.group(1)) / 1024


@pytest.fixture
def web_process(site: Site) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`vibot web` in its own process, so its memory can be measured."""
    with vibot_web(site.app.settings.home) as running:
        yield running.process, running.url


def send_chunked(url: str, path: str, total_mib: int, cookie: str = "") -> bytes:
    """POST `total_mib` MiB as a chunked body, stopping when the server answers or hangs up."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"Transfer-Encoding: chunked\r\nCookie: {cookie}\r\n\r\n"
        )
        connection.sendall(head.encode())
        chunk = b"%x\r\n" % (1 << 20) + b"a=" + b"x" * ((1 << 20) - 2) + b"\r\n"
        # Refused part-way, as it should be, the rest cannot be sent: read the answer.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for _ in range(total_mib):
                connection.sendall(chunk)
            connection.sendall(b"0\r\n\r\n")
        try:
            return connection.recv(65536)
        except ConnectionResetError:
            return b""


@pytest.mark.slow
def test_an_oversized_anonymous_post_is_refused_before_it_is_read(
    site: Site, web_process: tuple[subprocess.Popen[str], str]
) -> None:
    server, url = web_process
    before = peak_rss_mib(server.pid)
    started = time.monotonic()
    declared = httpx.post(
        f"{url}/login",
        content=b"x" * (2 << 20),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert declared.status_code == 413 and has_security_headers(declared)
    assert "larger than this server accepts" in declared.text
    answer = send_chunked(url, "/login", total_mib=300)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    answer = send_chunked(url, f"/posts/{site.posts['photo']}/caption", total_mib=300)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert time.monotonic() - started < 20
    grown = peak_rss_mib(server.pid) - before
    print(f"peak server memory grew by {grown:.1f} MiB under 2×300 MiB anonymous posts")
    assert grown < 16, f"server memory grew by {grown:.0f} MiB"
    assert httpx.get(f"{url}/healthz").status_code == 200


def test_a_reviewers_oversized_form_is_refused_too(site: Site, user: httpx.Client) -> None:
    post_id = site.posts["photo"]
    big = user.post(f"/posts/{post_id}/caption", data={"csrf": csrf_of(user), "caption": "x" * (2 << 20)})
    assert big.status_code == 413 and has_security_headers(big)


# --- every route with hostile parameters ------------------------------------------------

HOSTILE_IDS = [
    "99999999999999999999999", "9223372036854775808", "-1", "0", "%00", "1%00", "%252e%252e%252f",
    "1.5", "1e9", "%EF%BC%91", "x" * 3000, "%3Cscript%3E",
]  # fmt: skip
HOSTILE_QUERIES = [
    "after=" + base64.urlsafe_b64encode(b"2026-01-01T00:00:00|99999999999999999999999").decode().rstrip("="),
    "before=" + base64.urlsafe_b64encode(b"9999-12-31T23:59:59|1").decode().rstrip("="),
    "after=" + base64.urlsafe_b64encode(b"0001-01-01T00:00:00|-5").decode().rstrip("="),
    "after=%00",
    "after=" + "A" * 3001,
    "after=bm90IGEgY3Vyc29y===",
    "start=9999-12-31",
    "start=0001-01-01",
    "start=2026-02-30",
    "start=%00",
    "view=" + "m" * 3000,
    "persona=%00&format=%00",
    "post=99999999999999999999999",
    "show=%00",
    "next=%2F%2Fevil.example",
]
MARKER = "zq9hostilemarker"


def echoed(response: httpx.Response) -> bool:
    return MARKER in response.text or "x" * 200 in response.text or "<script>" in response.text


@pytest.mark.slow
def test_every_route_answers_hostile_parameters_with_its_own_page(site: Site, user: httpx.Client) -> None:
    """Each route with each hostile path value, then with real path values and each hostile query."""
    token = csrf_of(user)
    real = {"post_id": str(site.posts["photo"]), "asset_id": "1", "persona_id": "tess", "token": "e30.e30"}
    seen = Counter[int]()

    def check(method: str, url: str) -> None:
        form = {"csrf": token, "when": "99999-01-01T00:00", "caption": MARKER, "decision": MARKER}
        response = user.get(url) if method == "GET" else user.post(url, data=form)
        seen[response.status_code] += 1
        assert response.status_code not in (422, 500), (method, url, response.status_code)
        assert has_security_headers(response), (method, url)
        assert not echoed(response), (method, url)

    for route in api_routes(create_web_app(site.app).routes):
        names = re.findall(r"{(\w+)}", route.path)
        methods = sorted(route.methods - ({"POST"} if route.path == "/logout" else set()))
        for method in methods:
            for value in [*HOSTILE_IDS, MARKER] if names else []:
                check(method, re.sub(r"{\w+}", value, route.path))
            path = re.sub(r"{(\w+)}", lambda m: real[m.group(1)], route.path)
            for query in ["", *HOSTILE_QUERIES, f"persona={MARKER}"]:
                check(method, f"{path}?{query}" if query else path)
    assert seen[404] > 50 and seen[400] > 5, seen
    assert user.get("/queue").status_code == 200  # still logged in, nothing broke


def test_error_pages_are_the_uis_own_with_headers(user: httpx.Client, client: httpx.Client) -> None:
    for response, status in [
        (user.get("/posts/99999999999999999999999"), 404),
        (user.get("/media/%00"), 404),
        (user.get("/calendar/tess?start=9999-12-31"), 404),
        (user.get("/queue?after=junk!"), 400),
        (client.get("/logout"), 405),
        (client.get("/no/such/page"), 404),
    ]:
        assert response.status_code == status
        assert has_security_headers(response) and response.headers["cache-control"] == "no-store"
        assert "<h1>" in response.text and "detail" not in response.text  # not FastAPI's JSON


# --- tokens, sessions, caching, paths ---------------------------------------------------


def test_public_media_tokens_are_read_strictly() -> None:
    key = b"k" * 32
    token = make_token(key, 7, "ab" * 32)
    assert read_token(key, token) is not None
    for variant in [
        token + "A",
        token + "==",
        token.replace(".", ".="),
        "A" + token,
        token + "\n",
        token + "%",
    ]:
        assert read_token(key, variant) is None, variant
    assert unb64("QQ") == b"A"
    for spelling in ["QR", "QQ==", "Q", "Q Q", "QQ\n"]:  # unused bits set, padding, torn, junk
        with pytest.raises(ValueError):
            unb64(spelling)


def test_the_login_csrf_token_is_signed_by_the_server(site: Site, client: httpx.Client) -> None:
    forged = "x" * 43
    client.cookies.set("vibot_login", forged, path="/login")
    refused = client.post("/login", data={"name": REVIEWER, "password": PASSWORD, "csrf": forged})
    assert refused.status_code == 403
    other_key = seal(b"another server's key" * 2, "login", "abc", 3600)
    client.cookies.set("vibot_login", other_key, path="/login")
    assert (
        client.post("/login", data={"name": REVIEWER, "password": PASSWORD, "csrf": other_key}).status_code
        == 403
    )
    assert unseal(b"k" * 32, "login", seal(b"k" * 32, "login", "v", -1)) is None  # expired
    assert unseal(b"k" * 32, "device", seal(b"k" * 32, "login", "v", 60)) is None  # other purpose
    assert login(client).status_code == 303


def test_a_new_login_ends_the_reviewers_other_sessions(site: Site) -> None:
    with httpx.Client(base_url=site.url) as first, httpx.Client(base_url=site.url) as second:
        assert login(first).status_code == 303
        assert first.get("/queue", follow_redirects=False).status_code == 200
        assert login(second).status_code == 303
        assert first.get("/queue", follow_redirects=False).status_code == 303  # back to the login
        assert second.get("/queue", follow_redirects=False).status_code == 200


def test_media_is_not_kept_by_the_browser(site: Site, user: httpx.Client) -> None:
    from bot.review import get_post

    asset = get_post(site.app, site.posts["photo"]).media[0]
    assert user.get(f"/media/{asset.id}").headers["cache-control"] == "private, no-store"


def test_pages_show_no_server_paths(site: Site, user: httpx.Client) -> None:
    home = str(site.app.settings.home.resolve())
    for path in ["/queue", f"/posts/{site.posts['photo']}", f"/posts/{site.posts['carousel']}", "/personas"]:
        page = user.get(path)
        assert page.status_code == 200 and home not in page.text, path
