"""The review UI in a real browser (Debian's chromium through Playwright): log in, see the
queue, play a reel, edit a caption with its live count, approve and reject with the
keyboard, and see every status change. Screenshots of the main pages are saved in
$VIBOT_SCREENSHOTS (default test-artifacts/screenshots)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from bot.review import get_post
from storage.status import PostStatus
from tests.support.web import CHROMIUM, PASSWORD, REVIEWER, SHOTS, Site

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (make test installs it)"),
]
# Pages wait on disclosure read-backs (seconds for a reel on a busy 2-core machine).
expect.set_options(timeout=20_000)


SITE_FORMATS = ("photo", "carousel", "reel")


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def log_in(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/queue")
    expect(page).to_have_url(f"{site.url}/login?next=/queue")
    shoot(page, "login")
    page.get_by_label("Name").fill(REVIEWER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{site.url}/queue")


def test_review_a_queue_in_the_browser(page: Page, site: Site) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, site)
    cards = page.locator("li.card")
    expect(cards).to_have_count(3)
    expect(page.locator("#total")).to_have_text("3")
    # Every card's disclosure layers are read back by the server and reported.
    expect(page.locator(".check.ok")).to_have_count(3, timeout=60_000)
    shoot(page, "queue")

    # The reel plays: the browser decodes frames of the H.264 file and time moves on.
    reel = site.posts["reel"]
    video = page.locator(f"#post-{reel} video")
    expect(video).to_be_visible()
    video.evaluate("v => { v.muted = true; return v.play(); }")
    page.wait_for_function(
        "id => { const v = document.querySelector(`#post-${id} video`); return v.currentTime > 0.5; }",
        arg=reel,
        timeout=20_000,
    )
    assert video.evaluate("v => [v.videoWidth, v.videoHeight]") == [1080, 1920]
    video.evaluate("v => v.pause()")

    # Keyboard: the first card is selected; j moves down, a approves the selected one.
    photo, carousel = site.posts["photo"], site.posts["carousel"]
    first_id = int(cards.nth(0).get_attribute("data-post") or 0)
    second_id = int(cards.nth(1).get_attribute("data-post") or 0)
    expect(cards.nth(0)).to_have_class("card current")
    page.keyboard.press("j")
    expect(cards.nth(1)).to_have_class("card current")
    page.keyboard.press("a")
    expect(page.locator(".flash")).to_have_text(f"Post {second_id} approved.")
    expect(cards).to_have_count(2)
    assert get_post(site.app, second_id).post.status == PostStatus.APPROVED

    # r focuses the reason of the selected card; Enter submits the rejection.
    page.keyboard.press("r")
    page.keyboard.type("the horizon is tilted")
    page.keyboard.press("Enter")
    expect(page.locator(".flash")).to_have_text(f"Post {first_id} rejected.")
    rejected = get_post(site.app, first_id).post
    assert rejected.status == PostStatus.REJECTED and rejected.review_note == "the horizon is tilted"
    expect(cards).to_have_count(1)
    left = ({photo, carousel, reel} - {first_id, second_id}).pop()

    # The post page: edit the caption, watch the live count, save, approve.
    page.keyboard.press("o")
    expect(page).to_have_url(f"{site.url}/posts/{left}")
    caption = page.locator("#caption")
    count = page.locator("#count")
    before = count.inner_text()
    page.keyboard.press("e")
    expect(caption).to_be_focused()
    caption.fill("Golden hour on the harbour. #sea")
    expect(count).not_to_have_text(before)
    line = "Tess is a virtual influencer; this post is AI-generated."
    expected = len(line) + 2 + len("Golden hour on the harbour. #sea") + len("\n#AIgenerated")  # added back
    expect(count).to_have_text(f"{expected} / 2200")
    caption.fill("x" * 2200)
    expect(count).to_have_class("over")
    caption.fill("Golden hour on the harbour. #sea")
    shoot(page, "post")
    page.get_by_role("button", name="Save caption").click()
    expect(page.locator(".flash")).to_have_text("Caption saved.")
    saved = get_post(site.app, left).post.caption or ""
    assert saved.startswith(line + "\n\nGolden hour on the harbour. #sea")
    assert len(saved) == expected
    page.keyboard.press("a")
    # Approval reads every disclosure layer back (a reel: seconds on a busy 2-core machine).
    expect(page).to_have_url(f"{site.url}/queue?done=approved&post={left}", timeout=30_000)
    expect(page.locator(".empty")).to_be_visible()
    assert get_post(site.app, left).post.status == PostStatus.APPROVED

    # The other pages, with the changes visible.
    page.goto(f"{site.url}/history?show=rejected")
    expect(page.locator(f"#post-{first_id}")).to_contain_text("the horizon is tilted")
    shoot(page, "history")
    page.goto(f"{site.url}/calendar/tess?view=month")
    expect(page.locator(".slot.status-approved")).to_have_count(2)
    expect(page.locator(".slot.status-rejected")).to_have_count(1)
    shoot(page, "calendar-month")
    page.goto(f"{site.url}/calendar/tess?view=week")
    shoot(page, "calendar-week")
    page.goto(f"{site.url}/personas")
    expect(page.locator(".account-active")).to_have_text("active")
    shoot(page, "personas")
    page.goto(f"{site.url}/health")
    expect(page.locator("table.health")).to_contain_text("0 post(s) in review")
    shoot(page, "health")


def test_the_shortcut_help_and_a_logout(page: Page, site: Site) -> None:
    log_in(page, site)
    page.keyboard.press("?")
    expect(page.locator("#help")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#help")).to_be_hidden()
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{site.url}/login")
    page.goto(f"{site.url}/queue")
    expect(page).to_have_url(f"{site.url}/login?next=/queue")
