"""The command line (a contract: see DESIGN.md and docs/cli.md).

Exit status: 0 done, 1 failed while running, 2 bad input. A user mistake is
one line on stderr, never a traceback.
"""

from __future__ import annotations

import functools
import getpass
import json
import os
import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from bot.context import App
from bot.log import configure_logging
from bot.settings import Settings, get_settings
from content.errors import PersonaError, UserError, VibotError
from content.images.loading import Quantize
from content.platforms import platforms
from content.reels.kinds import ReelBackend, Transition, names
from storage.status import PostStatus

if TYPE_CHECKING:
    from bot.reeling import ReelRequest

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="vibot: virtual-influencer accounts, approved by a person, disclosed as AI.",
)
persona_app = typer.Typer(no_args_is_help=True, help="Persona files.")
queue_app = typer.Typer(no_args_is_help=True, help="The review queue.")
models_app = typer.Typer(no_args_is_help=True, help="Image models.")
disclosure_app = typer.Typer(no_args_is_help=True, help="AI disclosure and provenance.")
account_app = typer.Typer(no_args_is_help=True, help="Publishing accounts: states and limits.")
web_app = typer.Typer(help="The approval web UI and its reviewers.")
insights_app = typer.Typer(no_args_is_help=True, help="What the audience did: collect and report insights.")
media_app = typer.Typer(
    no_args_is_help=True, help="The media store: files on disk, or in S3-compatible storage."
)
audit_app = typer.Typer(no_args_is_help=True, help="The hash-chained audit trail (VIBOT_HOME/audit.jsonl).")
app.add_typer(persona_app, name="persona")
app.add_typer(queue_app, name="queue")
app.add_typer(models_app, name="models")
app.add_typer(disclosure_app, name="disclosure")
app.add_typer(account_app, name="account")
app.add_typer(web_app, name="web")
app.add_typer(audit_app, name="audit")
app.add_typer(media_app, name="media")
app.add_typer(insights_app, name="insights")
out = Console(highlight=False, soft_wrap=True)
out_err = Console(stderr=True, highlight=False)  # progress bars: stdout stays for results
PLATFORM_HELP = f"one of the post's platforms: {', '.join(platforms())} (default: the persona's main one)"


def _app() -> App:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    return App(settings)


def _reviewer(by: str | None) -> str:
    return by or os.environ.get("VIBOT_REVIEWER") or getpass.getuser() or "cli"


def _parse_time(text: str | None, option: str = "--until") -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(
            f"{option} '{text}' is not a time — write it like 2026-12-01T18:00 or "
            "2026-12-01T18:00+01:00 (no zone means UTC)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@app.command()
def demo(
    home: Annotated[Path | None, typer.Option(help="data directory for the demo")] = None,
    posts: Annotated[int, typer.Option(min=1, max=10, help="posts to prepare per persona")] = 2,
) -> None:
    """Offline end-to-end run on the example personas: plan, prepare, leave posts in review."""
    from bot.demo import run_demo

    if home is not None:
        os.environ["VIBOT_HOME"] = str(home)
        get_settings.cache_clear()
    context = _app()
    if "VIBOT_LOG_LEVEL" not in os.environ:
        configure_logging("WARNING", context.settings.log_format)  # the demo prints its own progress
    run_demo(context, out, posts)


@persona_app.command("check")
def persona_check(files: Annotated[list[Path], typer.Argument(help="persona YAML files")]) -> None:
    """Validate persona files; problems print as FILE:LINE:COL: field: message."""
    from content.persona import load_personas

    personas = load_personas(files)
    for persona in personas:
        out.print(f"ok  {persona.source}  ({persona.id}: {persona.name})")


@persona_app.command("faces")
def persona_faces(persona_id: Annotated[str, typer.Argument(help="persona id")]) -> None:
    """Each reference photo's distance to the persona's face, outliers, and a suggested limit."""
    from bot.generation import reference_folder
    from content.identity import load_references

    persona = _app().persona(persona_id)
    identity, folder = persona.appearance.identity, reference_folder(persona)
    if identity is None or folder is None:
        raise UserError(
            f"{persona.source}: {persona_id} has no reference faces — set appearance.identity.references "
            "to a folder of face photos, or train its LoRA (vibot persona train)"
        )
    references = load_references(folder)
    outliers = set(references.outliers())
    for name, distance in zip(references.names, references.distances, strict=True):
        note = "  outlier: someone else, or a poor photo? remove it" if name in outliers else ""
        out.print(f"{escape(name)}  {distance:.3f}{note}", soft_wrap=True)
    out.print(f"suggested max_distance: {references.suggested_limit:.2f} (now {identity.max_distance:.2f})")


@persona_app.command("train")
def persona_train(
    persona_id: Annotated[str, typer.Argument(help="persona id")],
    images: Annotated[
        Path, typer.Option(help="folder of the persona's photos (JPEG, PNG, WebP; .txt captions)")
    ],
    steps: Annotated[int, typer.Option(min=1, max=100_000, help="optimizer steps")] = 1000,
    rank: Annotated[int, typer.Option(min=1, max=256, help="LoRA rank (alpha: --alpha, else the rank)")] = 16,
    alpha: Annotated[float | None, typer.Option(min=0.1, max=1024, help="LoRA alpha")] = None,
    lr: Annotated[float, typer.Option(min=1e-7, max=1.0, help="learning rate after the warm-up")] = 1e-4,
    warmup: Annotated[int, typer.Option(min=0, max=10_000, help="warm-up steps")] = 50,
    resolution: Annotated[
        int, typer.Option(min=64, max=2048, help="training side, px (buckets keep its area)")
    ] = 512,
    batch: Annotated[int, typer.Option(min=1, max=64, help="images per step")] = 1,
    seed: Annotated[int, typer.Option(min=0, help="seed of every random draw")] = 0,
    checkpoint_every: Annotated[int, typer.Option(min=1, help="checkpoint and validate every N steps")] = 250,
    validation_steps: Annotated[
        int, typer.Option(min=1, max=100, help="sampling steps per validation image")
    ] = 20,
    quantize: Annotated[
        Quantize,
        typer.Option(help="the frozen base in 8 bits (int8; fp8 needs an sm89+ GPU): half the memory"),
    ] = "none",
    resume: Annotated[bool, typer.Option(help="continue from the latest checkpoint")] = False,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="the LoRA file (default: the persona's appearance.lora)")
    ] = None,
) -> None:
    """Train the persona's LoRA on its photos, keep the checkpoint whose faces match best,
    and write it where the persona loads it (or --out). The persona file is not edited."""
    from bot.training import persona_line, plan_training, run_training
    from content.training.train import Paths, StepDone, TrainSettings, Validation

    if resolution % 64:
        raise UserError(f"--resolution {resolution}: use a multiple of 64 (512, 768, 1024)")
    settings = TrainSettings(
        steps=steps, rank=rank, alpha=alpha, lr=lr, warmup=warmup, resolution=resolution, batch=batch,
        seed=seed, checkpoint_every=checkpoint_every, validation_steps=validation_steps, quantize=quantize,
    )  # fmt: skip
    plan = plan_training(_app(), persona_id, images, settings, resume, out_file)
    for image in plan.dataset.face_problems:
        out_err.print(
            f"note: {image.path}: {image.face} — the identity check is unsure of this photo", soft_wrap=True
        )
    for dropped, original in plan.dataset.duplicates:
        out_err.print(f"note: {dropped}: near-duplicate of {original.name}, left out", soft_wrap=True)
    scored = (
        f"faces scored against {escape(plan.references_from)}"
        if plan.references
        else "no reference face, so the last checkpoint is kept"
    )
    out.print(
        f"training {persona_id}: {len(plan.dataset.images)} photos, {steps} steps, rank {rank}; {scored}"
    )
    columns = (
        TextColumn("step {task.completed}/{task.total}"),
        BarColumn(),
        TextColumn("loss {task.fields[loss]:.4f}"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=out_err, transient=True) as progress:
        task = progress.add_task("train", total=steps, loss=float("nan"), rate="")
        first: dict[str, float] = {}  # the first step seen and when: it/s counts from there

        def stepped(done: StepDone) -> None:
            now = time.perf_counter()
            step, at = first.setdefault("step", done.step), first.setdefault("at", now)
            rate = f"{(done.step - step) / (now - at):.2f} it/s" if now > at else ""
            progress.update(task, completed=done.step, loss=done.loss, rate=rate)

        def checked(validation: Validation) -> None:
            progress.console.print(f"step {validation.step}: {validation.summary}")

        result = run_training(plan, settings, stepped, checked)
    out.print(f"LoRA saved: {result.lora}  (kept step {result.best.step}: {result.best.summary})")
    out.print(f"record: {Paths(result.lora).record}  plot: {Paths(result.lora).plot}")
    out.print(f"{result.seconds_per_step:.3f} s/step, peak memory {result.peak_memory_mb:.0f} MB")
    out.print(f"in {plan.persona.source}:\n{persona_line(plan.persona, result.lora)}")


@app.command()
def plan(
    days: Annotated[int | None, typer.Option(min=1, max=365)] = None,
    persona: Annotated[str | None, typer.Option(help="only this persona id")] = None,
) -> None:
    """Plan calendar slots for the next N days."""
    from bot.planning import plan_persona

    context = _app()
    chosen = [context.persona(persona)] if persona else list(context.personas.values())
    horizon = days or context.settings.plan_days
    for item in chosen:
        added = plan_persona(context, item, datetime.now(UTC), horizon)
        out.print(f"{item.id}: {len(added)} new slot(s) over {horizon} days")


@app.command()
def prepare(
    post: Annotated[int | None, typer.Option(help="only this post id")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="at most N posts")] = None,
) -> None:
    """Run the stages for planned posts within their lead time."""
    from bot.executors import InProcessExecutor, open_executor
    from bot.prepare import posts_to_prepare, prepare_batch, recover_interrupted
    from bot.settings import ExecutorKind
    from storage.locks import hold_lock

    context = _app()
    failures = 0

    def report(post_id: int, error: str | None) -> None:
        nonlocal failures
        failures += error is not None
        out.print(f"post {post_id}: in review" if error is None else f"post {post_id}: failed: {error}")

    with hold_lock(context.engine, "prepare", wait_s=5):
        recover_interrupted(context)
        ids = posts_to_prepare(context, datetime.now(UTC), only=post, limit=limit)
        if post is not None and not ids:
            raise UserError(f"post {post} is not planned — see 'vibot queue show {post}'")
        if ids:
            # local: in this process, as starting a worker costs more than a few posts take
            local = context.settings.executor == ExecutorKind.LOCAL
            executor = InProcessExecutor(context.settings) if local else open_executor(context.settings)
            try:
                prepare_batch(context, ids, executor, on_done=report)
            finally:
                executor.close()
    if failures:
        raise typer.Exit(1)


@queue_app.command("list")
def queue_list(
    json_output: Annotated[bool, typer.Option("--json", help="stable JSON output")] = False,
    status: Annotated[PostStatus | None, typer.Option(help="only this status")] = None,
    persona: Annotated[str | None, typer.Option(help="only this persona id")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 200,
) -> None:
    """List posts, soonest slot first."""
    from bot.accounts import account_pause
    from bot.review import list_posts, post_json, publications_of

    context = _app()
    rows = list_posts(context, status, persona, limit)
    if json_output:
        published = publications_of(context, [p.id for p, _ in rows if p.id is not None])
        listed = [post_json(context, p, m, published.get(p.id or 0, [])) for p, m in rows]
        sys.stdout.write(json.dumps(listed, indent=2) + "\n")
        return
    now = datetime.now(UTC)
    waits = {
        persona_id: pause.short
        for persona_id in {post.persona_id for post, _ in rows if post.status == PostStatus.APPROVED}
        if persona_id in context.personas
        and (pause := account_pause(context, persona_id, context.persona(persona_id).platform.name, now))
        is not None
    }
    out.print(queue_table(rows, out.width, waits))


def queue_table(rows: list[tuple[Any, list[Any]]], width: int, waits: dict[str, str]) -> Table:
    """Posts as a table that fits `width` columns: the short columns stay whole and the last
    one (the caption, or why an approved post waits) gets what is left; below 100 columns the
    media count and the time zone are left out, below 72 the format too."""
    wide, narrow = width >= 100, width < 72
    headers = ["id", "persona", *([] if narrow else ["format"]), "status", "slot (local)"]
    headers += ["media"] if wide else []
    lines = []
    for post, media in rows:
        local = post.slot_utc.astimezone(ZoneInfo(post.timezone))
        caption = (post.caption or "").strip().splitlines()
        body = next((line for line in caption[1:] if line.strip()), "")
        if post.status == PostStatus.APPROVED and post.persona_id in waits:
            body = f"waits: {waits[post.persona_id]}"
        cells = [str(post.id), post.persona_id[:16], *([] if narrow else [post.format]), str(post.status)]
        cells += [f"{local:%a %d %b %H:%M}" + (f" {local:%Z}" if wide else "")]
        cells += [str(len(media))] if wide else []
        lines.append((cells, body))
    widths = [max([len(h), *(len(cells[i]) for cells, _ in lines)]) for i, h in enumerate(headers)]
    left = max(10, width - sum(widths) - len(headers) - 1)
    table = Table(box=None, pad_edge=False, collapse_padding=True, header_style="bold")
    for header, size in zip(headers, widths, strict=True):
        table.add_column(
            header, no_wrap=True, min_width=size, justify="right" if header in ("id", "media") else "left"
        )
    table.add_column("caption", no_wrap=True, overflow="ellipsis", max_width=left)
    for cells, body in lines:
        table.add_row(*cells, escape(body))
    return table


@queue_app.command("show")
def queue_show(post_id: int) -> None:
    """Everything about one post: caption, media, approvals, attempts, history."""
    from bot.captioning import cost_of, flags_of
    from bot.review import describe_record, get_post
    from storage.db import session_scope

    context = _app()
    view = get_post(context, post_id)
    post = view.post
    with session_scope(context.engine) as session:
        cost = cost_of(session, post_id)
    out.print(f"[bold]post {post.id}[/bold]  {post.persona_id}  {post.format}  {post.status}")
    out.print(f"slot     {post.slot_utc.isoformat()} ({post.timezone})")
    out.print(f"pillar   {post.pillar} — {post.scene}")
    out.print(f"prompt   {post.prompt or '-'}")
    out.print(f"seed     {post.seed}")
    if post.review_note:
        out.print(f"note     {post.review_note}")
    out.print(f"writer   {post.caption_writer or '-'} (LLM cost ${cost:.4f})")
    out.print(f"alt text {post.alt_text or '-'}", markup=False)
    for flag in flags_of(post):
        out.print(f"flag     {flag}", markup=False)
    out.print("caption:")
    out.print((post.caption or "-"), markup=False)
    for platform, variant in json.loads(post.caption_variants or "{}").items():
        out.print(f"caption for {platform}:", markup=False)
        out.print(variant, markup=False)
    for number, record in enumerate(json.loads(post.generation or "[]"), start=1):
        for line in describe_record(number, record):
            out.print(line, markup=False)
    for asset in view.media:
        out.print(f"media    {asset.kind} {asset.width}x{asset.height} {context.media.path(asset.path)}")
        out.print(f"         sha256 {asset.sha256}")
    if view.approval:
        out.print(f"approved by {view.approval.approved_by} at {view.approval.approved_at.isoformat()}")
    for publication in view.publications:
        link = publication.permalink or publication.remote_id or ""
        flag = f"AI flag: {publication.ai_flag}" if publication.ai_flag else ""
        line = f"on {publication.platform:<9} {publication.status} {link} {flag} {publication.note or ''}"
        out.print(line.rstrip(), markup=False)
    for attempt in view.attempts:
        link = attempt.permalink or attempt.remote_id or ""
        line = f"attempt  {attempt.id} {attempt.platform} {attempt.outcome} {link} {attempt.error or ''}"
        out.print(line, markup=False)
    for event in view.events:
        out.print(f"event    {event.at:%Y-%m-%d %H:%M:%S} {event.message}", markup=False)


@queue_app.command("approve")
def queue_approve(post_id: int, by: Annotated[str | None, typer.Option(help="reviewer name")] = None) -> None:
    """Approve a post in review (records the hashes of its caption and media)."""
    from bot.review import approve

    approval = approve(_app(), post_id, _reviewer(by))
    out.print(f"post {post_id}: approved by {approval.approved_by}")


@queue_app.command("reject")
def queue_reject(
    post_id: int,
    reason: Annotated[str, typer.Option(help="why")],
    by: Annotated[str | None, typer.Option(help="reviewer name")] = None,
) -> None:
    """Reject a post in review."""
    from bot.review import reject

    reject(_app(), post_id, reason, _reviewer(by))
    out.print(f"post {post_id}: rejected")


@queue_app.command("edit")
def queue_edit(
    post_id: int,
    caption: Annotated[str, typer.Option(help="the new caption")],
    platform: Annotated[str | None, typer.Option(help=PLATFORM_HELP)] = None,
    by: Annotated[str | None, typer.Option(help="reviewer name")] = None,
) -> None:
    """Replace a caption, or one platform's (the disclosure line stays on top; approved posts
    go back to review)."""
    from bot.review import edit_caption

    edit_caption(_app(), post_id, caption, _reviewer(by), platform)
    which = f"{platform} caption" if platform else "caption"
    out.print(f"post {post_id}: {which} updated; it is in review")


@queue_app.command("regenerate")
def queue_regenerate(
    post_id: int, by: Annotated[str | None, typer.Option(help="reviewer name")] = None
) -> None:
    """New media for a post in review or approved (new seed, same caption); the next prepare
    pass makes it."""
    from bot.review import regenerate_media

    regenerate_media(_app(), post_id, _reviewer(by))
    out.print(f"post {post_id}: back to planned for new media; its caption is kept")


@queue_app.command("move")
def queue_move(
    post_id: int,
    to: Annotated[str, typer.Option(help="the new time (ISO 8601; no zone means UTC)")],
    by: Annotated[str | None, typer.Option(help="reviewer name")] = None,
) -> None:
    """Give a planned, in-review, approved or failed post another time."""
    from bot.review import move_slot

    when = _parse_time(to, "--to")
    assert when is not None
    move_slot(_app(), post_id, when, _reviewer(by))
    out.print(f"post {post_id}: moved to {when.isoformat()}")


@queue_app.command("retry")
def queue_retry(post_id: int, by: Annotated[str | None, typer.Option(help="reviewer name")] = None) -> None:
    """Send a failed post back to planned; the next prepare pass makes it again."""
    from bot.review import retry_failed

    retry_failed(_app(), post_id, _reviewer(by))
    out.print(f"post {post_id}: planned again")


@queue_app.command("settle")
def queue_settle(
    post_id: int,
    decision: Annotated[str, typer.Argument(help="published | retry | skip")],
    permalink: Annotated[str | None, typer.Option(help="the post's link on the platform (published)")] = None,
    platform: Annotated[str | None, typer.Option(help=PLATFORM_HELP)] = None,
    by: Annotated[str | None, typer.Option(help="reviewer name")] = None,
) -> None:
    """Answer for a post vibot could not check (needs_reconcile), after looking at the platform."""
    from bot.review import settle

    settle(_app(), post_id, decision, _reviewer(by), permalink, platform)
    out.print(f"post {post_id}{f' on {platform}' if platform else ''}: {decision}")


@app.command()
def caption(
    post_id: int,
    regenerate: Annotated[
        bool, typer.Option(help="write a new caption; the post goes back to review")
    ] = False,
    by: Annotated[str | None, typer.Option(help="reviewer name")] = None,
) -> None:
    """Show a post's caption, or write a new one with --regenerate."""
    from bot.captioning import flags_of, regenerate_caption
    from bot.review import get_post

    context = _app()
    if regenerate:
        result = regenerate_caption(context, post_id, _reviewer(by))
        out.print(f"post {post_id}: new caption by the {result.writer} writer; it is in review")
        for flag in result.flags:
            out.print(f"flag: {flag}", markup=False)
    post = get_post(context, post_id).post
    out.print(post.caption or "-", markup=False)
    if not regenerate:
        for flag in flags_of(post):
            out.print(f"flag: {flag}", markup=False)


@app.command()
def publish(
    until: Annotated[str | None, typer.Option(help="publish slots due before this time")] = None,
) -> None:
    """One publishing pass over due, approved posts."""
    from bot.publishing import publish_pass

    report = publish_pass(_app(), _parse_time(until))
    for post_id, title in report.published_on:
        out.print(f"post {post_id}: published on {title}")
    for post_id in report.reconciled:
        out.print(f"post {post_id}: found on the platform after an interrupted attempt; recorded")
    for post_id in report.skipped:
        out.print(f"post {post_id}: skipped (its slot passed beyond the grace period)")
    for post_id in report.needs_reconcile:
        out.print(f"post {post_id}: needs a person to check the platform (needs_reconcile)")
    for post_id, reason in report.refused.items():
        out.print(f"post {post_id}: refused: {reason} — it is back in review")
    for post_id, error in report.errors.items():
        out.print(f"post {post_id}: error: {error}")
    waiting = report.waiting_line()
    if waiting:
        out.print(waiting, markup=False)
    elif not any((report.published, report.reconciled, report.skipped, report.refused, report.errors)):
        out.print("nothing due")
    if report.refused or report.errors:
        raise typer.Exit(1)


@app.command()
def verify(
    files: Annotated[list[Path], typer.Argument(help="images (JPEG, PNG, WebP) and reels (MP4)")],
    json_output: Annotated[bool, typer.Option("--json", help="stable JSON output")] = False,
) -> None:
    """Read every disclosure layer back; exit 0 only when all are present and valid."""
    from content.disclosure.verify import verify_file

    context = _app()
    reports = [verify_file(path, context.signing.ca_pem) for path in files]
    if json_output:
        sys.stdout.write(json.dumps([r.as_dict() for r in reports], indent=2) + "\n")
    else:
        for report in reports:
            verdict = "ok" if report.ok else "FAILED: " + "; ".join(report.problems())
            mark = report.watermark
            out.print(f"{report.file}: {verdict}", markup=False)
            out.print(
                f"  label      {'ok' if report.label.ok else 'missing'} '{report.label.text}' "
                f"at {report.label.region}",
                markup=False,
            )
            frames = (
                f", {mark.frames_agreeing} of {len(mark.frames_checked)} frames agree"
                if report.kind == "video"
                else ""
            )
            out.print(
                f"  watermark  {'ok' if mark.ok else 'missing'} post {mark.post_id} "
                f"confidence {mark.confidence:.2f}{frames} (payload {mark.payload}, {mark.algorithm or '-'})",
                markup=False,
            )
            out.print(f"  xmp        {report.xmp.digital_source_type or '-'}", markup=False)
            out.print(
                f"  c2pa       {report.c2pa.state} {report.c2pa.digital_source_type or '-'} "
                f"{' '.join(report.c2pa.errors)}",
                markup=False,
            )
            if report.c2pa.timestamp:
                authority = report.c2pa.timestamp_authority or "?"
                out.print(f"  timestamp  {report.c2pa.timestamp} (RFC 3161, {authority})", markup=False)
    if not all(r.ok for r in reports):
        raise typer.Exit(1)


@insights_app.command("collect")
def insights_collect(
    persona: Annotated[str | None, typer.Option(help="only this persona id")] = None,
) -> None:
    """Collect due insights now (the daemon does this every VIBOT_INSIGHTS_INTERVAL_S)."""
    from bot.insights import collect

    context = _app()
    chosen = [context.persona(persona)] if persona else None
    done = collect(context, chosen)
    retired = f"; retired metrics dropped: {', '.join(done.retired)}" if done.retired else ""
    out.print(
        f"measured {done.measured} (post or account) × checkpoint(s): {done.values} values, "
        f"{done.not_available} not available; {done.waiting} wait for the next hour's budget{retired}",
        markup=False,
    )


@insights_app.command("report")
def insights_report(
    persona: Annotated[str | None, typer.Option(help="only this persona id")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="stable JSON output")] = False,
) -> None:
    """Engagement by pillar and format, and the best and worst posts."""
    from bot.analytics import report

    context = _app()
    chosen = [context.persona(persona)] if persona else list(context.personas.values())
    reports = [report(context, item) for item in chosen]
    if json_output:
        sys.stdout.write(json.dumps(reports, indent=2) + "\n")
        return
    for found in reports:
        simulated = " (SIMULATED audience: the outbox publisher)" if found["simulated"] else ""
        out.print(f"{found['persona']}: {found['posts_measured']} posts measured{simulated}", markup=False)
        if found["followers"] is not None:
            out.print(f"  followers {found['followers']:.0f}", markup=False)
        for title, key in (("pillar", "by_pillar"), ("format", "by_format")):
            for name, numbers in sorted(found[key].items()):
                out.print(
                    f"  {title} {name:<14} {numbers['posts']:>3} posts, median engagement "
                    f"{numbers['median_engagement_rate']:.2%}",
                    markup=False,
                )
        for label, key in (("best", "top"), ("worst", "bottom")):
            for row in found[key]:
                out.print(
                    f"  {label:<5} #{row['post']} {row['pillar']} {row['format']}: engagement "
                    f"{row['engagement_rate']:.2%}, reach {row['reach']:.0f}",
                    markup=False,
                )


@disclosure_app.command("init-cert")
def disclosure_init_cert() -> None:
    """Make a local CA and a C2PA signing certificate under VIBOT_HOME/certs (development)."""
    from content.disclosure.certs import init_local_ca

    directory = init_local_ca(get_settings().certs_dir)
    out.print(f"signing certificate and key in {directory} (keys readable by you only)")
    out.print("for production set VIBOT_C2PA_CERT and VIBOT_C2PA_KEY to a real certificate chain and key")


@app.command()
def reel(
    stills: Annotated[list[Path], typer.Argument(help="one or more stills, in order (cropped to 9:16)")],
    out_file: Annotated[Path, typer.Option("--out", help="the reel to write (.mp4)")],
    seconds: Annotated[float, typer.Option(help="length, 3-90 s")] = 8.0,
    music: Annotated[
        Path | None, typer.Option(help="a music file or folder (normalised to -14 LUFS)")
    ] = None,
    backend: Annotated[str, typer.Option(help=", ".join(names(ReelBackend)))] = ReelBackend.MOTION.value,
    lut: Annotated[Path | None, typer.Option(help="a .cube colour LUT")] = None,
    transition: Annotated[str, typer.Option(help=", ".join(names(Transition)))] = Transition.CROSSFADE.value,
    text: Annotated[str | None, typer.Option(help="a text overlay")] = None,
    label: Annotated[str, typer.Option(help="the visible AI label")] = "AI-generated",
    upscaler: Annotated[
        str, typer.Option(help="lanczos or a spandrel model file (local backend)")
    ] = "lanczos",
    video_model: Annotated[str, typer.Option(help="the local backend's model")] = "tiny-ltx",
    seed: Annotated[int, typer.Option(help="camera moves, music choice, model noise")] = 0,
) -> None:
    """Make a reel from stills: animate, post-produce, check the Reels spec, stamp the AI disclosure."""
    from bot.reeling import make_standalone_reel

    context = _app()
    request = _reel_request(stills, out_file, seconds, music, backend, lut, transition, text, label, upscaler)
    with Progress(
        TextColumn("  {task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=out_err,
    ) as progress:
        task = progress.add_task("rendering the reel", total=1.0)
        record = make_standalone_reel(
            context, request, video_model, seed, lambda fraction: progress.update(task, completed=fraction)
        )
    out.print(
        f"{request.out}: {record['seconds']:g} s from {record['stills']} still(s) by {record['backend']}, "
        f"rendered in {record['render_seconds']} s; AI disclosure stamped (vibot verify {request.out})"
    )


def _reel_request(
    stills: list[Path],
    out_file: Path,
    seconds: float,
    music: Path | None,
    backend: str,
    lut: Path | None,
    transition: str,
    text: str | None,
    label: str,
    upscaler: str,
) -> ReelRequest:
    """Every option checked before any work: one line naming the option and the fix."""
    from PIL import Image, UnidentifiedImageError

    for still in stills:
        try:
            with Image.open(still) as image:
                image.verify()
        except FileNotFoundError:
            raise UserError(f"{still}: no such file — give the stills to animate") from None
        except (UnidentifiedImageError, OSError):
            raise UserError(f"{still}: not an image vibot can read — use JPEG, PNG or WebP") from None
    if out_file.suffix.lower() != ".mp4":
        raise UserError(f"--out {out_file}: a reel is an .mp4 file — name it like reel.mp4")
    if not out_file.parent.is_dir():
        raise UserError(f"--out {out_file}: the folder {out_file.parent} does not exist — create it first")
    if not 3 <= seconds <= 90:
        raise UserError(f"--seconds {seconds:g}: reels are 3-90 s here — pick a length in that range")
    choices = {"backend": (backend, names(ReelBackend)), "transition": (transition, names(Transition))}
    for option, (value, allowed) in choices.items():
        if value not in allowed:
            raise UserError(f"--{option} {value}: use one of {', '.join(allowed)}")
    for option, path in (("music", music), ("lut", lut)):
        if path is not None and not path.exists():
            raise UserError(f"--{option} {path}: no such file — fix the path")
    if upscaler != "lanczos" and not Path(upscaler).is_file():
        raise UserError(f"--upscaler {upscaler}: no such file — give a spandrel model file or lanczos")
    if not label.strip():
        raise UserError("--label: the AI label cannot be empty — AI disclosure is mandatory")
    from bot.reeling import ReelRequest

    return ReelRequest(
        stills,
        out_file,
        seconds,
        music,
        ReelBackend(backend),
        lut,
        Transition(transition),
        text,
        label,
        upscaler,
    )


@account_app.command("list")
def account_list() -> None:
    """Each persona's accounts: active, cooling down (until when) or held (why)."""
    from bot.accounts import pause_reason, state_of

    context = _app()
    table = Table("persona", "platform", "publisher", "state", "until", "now", "reason")
    now = datetime.now(UTC)
    for persona_id, persona in sorted(context.personas.items()):
        for account in persona.targets:
            platform = account.spec().name
            state = state_of(context, persona_id, platform)
            until = f"{state.until:%Y-%m-%d %H:%M}" if state.until else "-"
            paused = pause_reason(context, persona_id, platform, now)
            table.add_row(
                persona_id,
                platform,
                account.publisher,
                state.state,
                until,
                "paused" if paused else "ok",
                escape(paused or "-"),
            )
    out.print(table)


@account_app.command("resume")
def account_resume(
    persona_id: str,
    platform: Annotated[str | None, typer.Option(help="only this platform's account (default: all)")] = None,
) -> None:
    """Clear a hold or cool-down once the cause is fixed (a renewed token, a solved challenge)."""
    from bot.accounts import resume

    resume(_app(), persona_id, platform)  # an unknown persona or platform is a user error
    out.print(f"account of {persona_id}{f' on {platform}' if platform else ''}: active")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the audit trail: names the first edited, removed or reordered line (exit 1)."""
    from storage.audit import verify_log

    context = _app()
    context.write_audit()  # entries a crash left unwritten are late, not missing
    verdict = verify_log(context.engine, context.settings.audit_file)
    if not verdict.ok:
        sys.stderr.write(f"audit trail broken: {verdict.problem}\n")
        raise typer.Exit(1)
    out.print(f"audit trail intact: {verdict.lines} line(s), every one chained and matching the database")


@audit_app.command("export")
def audit_export(
    since: Annotated[
        str | None, typer.Option(help="only lines from this time (ISO 8601; UTC unless given)")
    ] = None,
) -> None:
    """Print the audit trail's lines (JSON lines), from --since on."""
    from storage.audit import export_lines

    context = _app()
    context.write_audit()
    for line in export_lines(context.settings.audit_file, _parse_time(since, "--since")):
        sys.stdout.write(line + "\n")


@media_app.command("migrate")
def media_migrate(
    to: Annotated[str, typer.Option("--to", help="the S3 location, like s3://my-bucket/vibot")],
) -> None:
    """Copy every media file to S3-compatible storage, each checked by its SHA-256. Stopped
    midway, run it again: what is already there is skipped."""
    from storage.media import DiskMediaStore, S3Location, S3MediaStore, migrate, s3_client

    settings = _app().settings
    source = DiskMediaStore(settings.media_dir)
    target = S3MediaStore(
        S3Location.parse(to, "--to"), settings.media_dir, s3_client(settings.s3_endpoint_url)
    )
    sent = kept = 0
    for _, uploaded in migrate(source, target):
        sent, kept = sent + uploaded, kept + (not uploaded)
    done = f"{sent} file(s) copied to {target.location}, {kept} already there; each checked by its SHA-256"
    out.print(done, soft_wrap=True, markup=False)
    out.print(
        f"Next: set VIBOT_MEDIA_STORE={target.location} (and VIBOT_S3_ENDPOINT_URL unless it is AWS), "
        "then restart vibot",
        soft_wrap=True,
        markup=False,
    )


@app.command()
def daemon() -> None:
    """The long-running scheduler: plans, prepares and publishes on time."""
    from bot.daemon import run_daemon

    run_daemon(_app())


@web_app.callback(invoke_without_command=True)
def web(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="address to listen on [VIBOT_WEB_HOST: 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="port [VIBOT_WEB_PORT: 8080]")] = None,
) -> None:
    """Serve the approval web UI alone (the daemon serves it too)."""
    if ctx.invoked_subcommand is not None:
        return
    from bot.web.auth import list_users
    from bot.web.serve import make_server, serve_forever

    context = _app()
    _ = context.personas  # persona files are checked before the server starts
    if not list_users(context):
        raise UserError("nobody could log in: add a reviewer first with 'vibot web add-user NAME'")
    settings = context.settings
    made = make_server(context, host or settings.web_host, port if port is not None else settings.web_port)
    out_err.print(f"vibot web UI on http://{host or settings.web_host}:{made.port} (Ctrl-C stops it)")
    serve_forever(made)


@web_app.command("add-user")
def web_add_user(
    name: str,
    replace: Annotated[bool, typer.Option(help="set a new password for an existing reviewer")] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from standard input (scripts)")
    ] = False,
) -> None:
    """Add a reviewer who can log in to the web UI (asks for the password twice)."""
    from bot.web.auth import add_user, check_name

    check_name(name)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    add_user(_app(), name, password, replace=replace)
    out.print(f"reviewer {name}: {'password replaced' if replace else 'added'}")


@web_app.command("remove-user")
def web_remove_user(name: str) -> None:
    """Remove a reviewer and end their sessions."""
    from bot.web.auth import remove_user

    remove_user(_app(), name)
    out.print(f"reviewer {name}: removed")


@web_app.command("users")
def web_users() -> None:
    """The reviewers and when each last logged in."""
    from bot.web.auth import list_users

    table = Table("reviewer", "added", "last login")
    for user in list_users(_app()):
        last = f"{user.last_login_at:%Y-%m-%d %H:%M}" if user.last_login_at else "never"
        table.add_row(escape(user.name), f"{user.created_at:%Y-%m-%d %H:%M}", last)
    out.print(table)


@models_app.command("list")
def models_list() -> None:
    """The image models vibot knows, with their licences."""
    from content.models import KNOWN_FACE_MODELS, KNOWN_MODELS, KNOWN_UPSCALERS, ModelInfo, present_locally

    models_dir = get_settings().models_dir

    def licences(title: str, infos: Iterable[ModelInfo], here: bool = False) -> Table:
        table = Table(title, "licence", "commercial use", *(["here"] if here else []), "note")
        for info in infos:
            commercial = {True: "yes", False: "no", None: "?"}[info.commercial_use]
            local = ["yes" if present_locally(info.name, models_dir) else "no"] if here else []
            table.add_row(info.name, escape(info.licence), commercial, *local, escape(info.note))
        return table

    out.print(licences("model", KNOWN_MODELS.values(), here=True))
    out.print(licences("upscaler (file name)", KNOWN_UPSCALERS.values()))
    out.print(licences("face model (identity guard)", KNOWN_FACE_MODELS.values()))


@models_app.command("make-tiny")
def models_make_tiny(directory: Path) -> None:
    """Build the tiny offline Flux model into DIR (for tests and the demo)."""
    from content.tiny import build_tiny_flux

    build_tiny_flux(directory)
    out.print(f"tiny Flux model saved in {directory}")


@models_app.command("make-tiny-lora")
def models_make_tiny_lora(
    file: Path,
    model: Annotated[Path, typer.Option(help="the tiny model's folder")],
    seed: Annotated[int, typer.Option(help="random seed of the LoRA weights")] = 0,
) -> None:
    """Write a small random LoRA for the tiny model (the example personas use two)."""
    from content.images.lora import make_test_lora

    make_test_lora(model, file, seed=seed)
    out.print(f"LoRA saved in {file}")


@models_app.command("make-tiny-upscaler")
def models_make_tiny_upscaler(
    file: Path,
    scale: Annotated[int, typer.Option(help="2 or 4")] = 4,
    seed: Annotated[int, typer.Option(help="random seed of the weights")] = 0,
) -> None:
    """Write a tiny random ESRGAN upscaler (.pth or .safetensors) that spandrel loads."""
    from content.images.upscale import make_test_upscaler

    if scale not in (2, 4):
        raise UserError(f"--scale {scale}: use 2 or 4")
    make_test_upscaler(file, scale=scale, seed=seed)
    out.print(f"upscaler saved in {file}")


def _settings_error(err: Exception) -> str:
    return f"invalid setting: {str(err).splitlines()[0]} — check your VIBOT_* environment and .env"


@functools.cache
def _command() -> Any:
    """The click command typer builds from `app` (reading every signature: built once)."""
    return typer.main.get_command(app)


def main(argv: list[str] | None = None) -> None:
    try:
        _command()(args=argv, prog_name="vibot")
    except PersonaError as err:
        for problem in err.problems:
            sys.stderr.write(f"{problem}\n")
        sys.exit(err.exit_code)
    except VibotError as err:
        sys.stderr.write(f"error: {err}\n")
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    except Exception as err:
        from pydantic import ValidationError

        if isinstance(err, ValidationError) and err.title == Settings.__name__:
            sys.stderr.write(f"error: {_settings_error(err)}\n")
            sys.exit(2)
        raise
