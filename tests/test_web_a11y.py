"""Accessibility of the review UI, measured with axe-core in Debian's chromium: every page has
no critical and no serious violation; the header fits a 390 px phone; focus is not stolen."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.support.web import CHROMIUM, PASSWORD, REVIEWER, Site

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (make test installs it)"),
]
SITE_FORMATS = ("photo", "carousel", "reel")
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
# Pages wait on disclosure read-backs (seconds for a reel on a busy 2-core machine).
expect.set_options(timeout=20_000)
SHOTS = Path("test-artifacts/screenshots")


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """axe is injected as a script: this context lets it past the pages' strict CSP."""
    made = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})
    yield made
    made.close()


def log_in(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/login")
    page.get_by_label("Name").fill(REVIEWER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{site.url}/queue")


def violations(page: Page) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return found


def pages_of(site: Site) -> list[str]:
    posts = [f"/posts/{post_id}" for post_id in site.posts.values()]
    return [
        "/queue", *posts, "/calendar/tess", "/calendar/tess?view=month", "/history", "/history?show=rejected",
        "/personas", "/health", "/posts/999999",
    ]  # fmt: skip


def test_no_page_has_a_critical_or_serious_violation(context: BrowserContext, site: Site) -> None:
    page = context.new_page()
    page.goto(f"{site.url}/login")
    found = {"/login": violations(page)}
    log_in(page, site)
    for path in pages_of(site):
        page.goto(f"{site.url}{path}")
        page.wait_for_load_state("networkidle")
        found[path] = violations(page)
    counts = Counter(v["impact"] for page_violations in found.values() for v in page_violations)
    nodes = Counter(
        v["impact"] for page_violations in found.values() for v in page_violations for _ in v["nodes"]
    )
    print(f"axe-core over {len(found)} pages: rules by impact {dict(counts)}, nodes by impact {dict(nodes)}")
    for path, page_violations in found.items():
        for v in page_violations:
            print(f"  {path}: {v['impact']} {v['id']} × {len(v['nodes'])}: {v['nodes'][0]['target']}")
    bad = {
        path: [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in serious]
        for path, page_violations in found.items()
        if (serious := [v for v in page_violations if v["impact"] in ("critical", "serious")])
    }
    assert not bad, json.dumps(bad, indent=1)


def test_the_header_wraps_on_a_390px_phone(browser: Browser, site: Site) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page = context.new_page()
    try:
        log_in(page, site)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing falls off
        header = page.locator("header.top").bounding_box()
        assert header is not None and header["width"] <= 390
        for item in [page.get_by_role("link", name="Health"), page.get_by_role("button", name="Log out"),
                     page.locator("header .who")]:  # fmt: skip
            box = item.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
            inside = header["y"] <= box["y"] and box["y"] + box["height"] <= header["y"] + header["height"]
            assert inside, "each header item stays on the dark bar"
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "queue-390px.png"), full_page=True)
    finally:
        context.close()


def test_the_queue_does_not_steal_focus_on_load(page: Page, site: Site) -> None:
    log_in(page, site)
    assert page.evaluate("document.activeElement === document.body")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('header') !== null"), "Tab starts at the navigation"
