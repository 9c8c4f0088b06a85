"""`vibot demo`: plan a week for the example personas, prepare the next posts
and leave them in review — offline, on a fresh machine."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from bot.context import App
from bot.planning import plan_persona
from bot.prepare import prepare_post, recover_interrupted
from bot.review import count_by_status, get_post, list_posts
from storage.locks import hold_lock
from storage.status import PostStatus

DEMO_DAYS = 7


def run_demo(app: App, console: Console, posts_per_persona: int = 2) -> None:
    started = time.perf_counter()
    home = app.settings.home.resolve()
    console.print(f"vibot demo — data in {home}")
    now = datetime.now(UTC)
    for persona in app.personas.values():
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
    if app.settings.llm_model is None:
        console.print("\nCaptions came from the personas' templates. To have a language model write them,")
        console.print("set VIBOT_LLM_MODEL and, for OpenAI, OPENAI_API_KEY — or point OPENAI_BASE_URL at any")
        console.print(
            "OpenAI-compatible server (vLLM: http://host:8000/v1, Ollama: http://localhost:11434/v1,"
        )
        console.print("LM Studio: http://localhost:1234/v1) — then: vibot caption ID --regenerate")
