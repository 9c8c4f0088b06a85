"""`vibot demo`: plan a week for the example personas, prepare the next posts
and leave them in review — offline, on a fresh machine."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from bot.context import App
from bot.insights import collect
from bot.planning import plan_persona
from bot.prepare import prepare_post, recover_interrupted
from bot.review import count_by_status, get_post, list_posts
from content.persona import Persona
from storage.db import session_scope
from storage.locks import hold_lock
from storage.models import Post, Publication
from storage.status import PostStatus, PublicationStatus

DEMO_DAYS = 7
SIMULATED_WEEKS = 6
SIMULATED_NOTE = "simulated history (vibot demo): never generated nor sent; a simulated audience measured it"


def simulate_weeks(app: App, persona: Persona, now: datetime, weeks: int = SIMULATED_WEEKS) -> int:
    """Weeks of history before `now`, for the analytics page and the adaptive planner to
    have something to show: each week planned (adapting to the weeks before, if the persona
    does), its posts marked published without media, and the outbox's simulated audience
    measuring them. Every such post says so in its note. Returns how many posts."""
    made = 0
    for week in range(weeks, 0, -1):
        start = now - timedelta(weeks=week)
        posts = plan_persona(app, persona, start, 7)
        with session_scope(app.engine) as session:
            for post in posts:
                row = session.get(Post, post.id)
                assert row is not None and row.id is not None
                row.status, row.review_note = PostStatus.PUBLISHED, SIMULATED_NOTE
                session.add(row)
                session.add(
                    Publication(
                        post_id=row.id, platform=persona.platform.name, publisher="outbox",
                        status=PublicationStatus.PUBLISHED, remote_id=f"simulated-{row.id}",
                        updated_at=row.slot_utc,
                    )
                )  # fmt: skip
        made += len(posts)
        collect(app, [persona], now=min(now, start + timedelta(days=14)))
    return made


def run_demo(app: App, console: Console, posts_per_persona: int = 2) -> None:
    started = time.perf_counter()
    home = app.settings.home.resolve()
    console.print(f"vibot demo — data in {home}")
    now = datetime.now(UTC)
    for persona in app.personas.values():
        if persona.targets[0].publisher == "outbox":
            made = simulate_weeks(app, persona, now)
            console.print(
                f"  SIMULATED {SIMULATED_WEEKS} past weeks for {persona.name}: {made} posts marked published "
                "and measured by a simulated audience (Analytics page, vibot insights report)"
            )
        added = plan_persona(app, persona, now, DEMO_DAYS)
        console.print(f"  planned {len(added)} new slot(s) for {persona.name} ({persona.id})")
    with hold_lock(app.engine, "prepare", wait_s=5):
        recover_interrupted(app)
        # The next few slots of each persona, whatever their lead time: it is a demo.
        chosen = [
            post.id
            for persona_id in app.personas
            for post, _ in list_posts(app, PostStatus.PLANNED, persona_id, posts_per_persona)
            if post.id is not None
        ]
        with Progress(
            TextColumn("  {task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("preparing posts", total=len(chosen))
            for post_id in chosen:
                prepare_post(app, post_id)
                progress.advance(task)
    counts = count_by_status(app)
    console.print(f"\nposts by status: {', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}")
    for post_id in chosen:
        flags = json.loads(get_post(app, post_id).post.review_flags or "[]")
        for flag in flags:  # what the reviewer is asked to look at, e.g. the face guard's verdict
            console.print(f"flagged post {post_id}: {flag}", markup=False)
    console.print(f"media files:     {app.settings.media_dir.resolve()}")
    console.print(f"database:        {app.settings.db_url}")
    console.print(f"done in {time.perf_counter() - started:.1f} s\n")
    program = sys.argv[0] if Path(sys.argv[0]).name == "vibot" else "vibot"
    env = f"VIBOT_HOME={home} {program}"
    console.print("Next:")
    console.print(f"  {env} queue list --status in_review")
    console.print(f"  {env} queue show ID")
    console.print(f"  {env} verify FILE                 # every AI-disclosure layer of a media file")
    console.print(f"  {env} queue approve ID")
    console.print(f"  {env} web add-user NAME && {env} web   # review in a browser: http://127.0.0.1:8080")
    console.print(f"  {env} publish --until 2100-01-01   # publish approved posts now")
    console.print(f"  published posts land in {app.settings.outbox_dir.resolve() / 'published.jsonl'}")
    console.print(
        f"  {env} insights report          # what the (simulated) audience did; also the Analytics page"
    )
    if app.settings.llm_model is None:
        console.print("\nCaptions came from the personas' templates. To have a language model write them,")
        console.print("set VIBOT_LLM_MODEL and, for OpenAI, OPENAI_API_KEY — or point OPENAI_BASE_URL at any")
        console.print(
            "OpenAI-compatible server (vLLM: http://host:8000/v1, Ollama: http://localhost:11434/v1,"
        )
        console.print("LM Studio: http://localhost:1234/v1) — then: vibot caption ID --regenerate")
