"""`vibot daemon`: plan, prepare and publish on time, until told to stop.

APScheduler 3 with an in-memory job store: the database is the truth, so
jobs are rebuilt from it at every start and a restart loses nothing. Media
generation runs in the executor's workers (bot/executors.py: a local process, or actors on
a Ray cluster), which keep their models loaded between posts; the daemon itself never
imports torch. One active daemon per database: on
SQLite a second one refuses to start; on PostgreSQL it stands by and takes over when the
active one stops or dies.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

import structlog
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlmodel import col, select

from bot.context import App
from bot.executors import Executor, open_executor
from bot.planning import plan_persona
from bot.prepare import posts_to_prepare, prepare_batch, recover_interrupted, skip_missed_planned
from bot.publishing import publish_pass
from content.errors import LockHeldError, VibotError
from storage.db import session_scope
from storage.locks import hold_lock
from storage.models import Post
from storage.status import PostStatus

log = structlog.get_logger(__name__)


class Daemon:
    def __init__(self, app: App) -> None:
        self.app = app
        self.stop = threading.Event()
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults={
                "coalesce": True,  # a job that missed several runs runs once
                "max_instances": 1,
                # APScheduler's default of 1 s silently drops a job that starts late.
                "misfire_grace_time": app.settings.misfire_grace_s,
            },
        )
        self.executor: Executor | None = None

    # -- jobs -------------------------------------------------------------------------

    def insights_job(self) -> None:
        from bot.insights import collect

        collect(self.app)

    def plan_job(self, persona_id: str) -> None:
        persona = self.app.persona(persona_id)
        added = plan_persona(self.app, persona, datetime.now(UTC), self.app.settings.plan_days)
        log.info("planned", persona=persona_id, new_slots=len(added))
        if added and self.scheduler.running:
            # New slots may already be within the lead time: prepare now, not at the next interval.
            self.scheduler.modify_job("prepare", next_run_time=datetime.now(UTC))

    def prepare_job(self) -> None:
        with hold_lock(self.app.engine, "prepare", wait_s=0):
            recover_interrupted(self.app)
            skip_missed_planned(self.app, datetime.now(UTC))
            # Claim and caption here, generate in the executor's workers (which have no
            # database), then disclose, store and move to review here.
            batch = prepare_batch(
                self.app, posts_to_prepare(self.app, datetime.now(UTC)), self._executor(), self.stop.is_set
            )
            if batch.ready or batch.failed or batch.dropped:
                log.info(
                    "prepare pass",
                    ready=len(batch.ready),
                    failed=len(batch.failed),
                    dropped=len(batch.dropped),
                    resent=batch.resent,
                )
        self.schedule_publish_wakeups()

    def publish_job(self) -> None:
        report = publish_pass(self.app, lock_wait_s=10)
        if report.published or report.reconciled or report.skipped or report.refused:
            log.info(
                "publish pass",
                published=report.published,
                reconciled=report.reconciled,
                skipped=report.skipped,
                refused=list(report.refused),
            )

    def _guarded(self, name: str, job: Any, *args: Any) -> None:
        try:
            job(*args)
        except LockHeldError as err:
            log.info("job skipped: lock held", job=name, detail=str(err))
        except VibotError as err:
            log.error("job failed", job=name, error=str(err))
        except Exception:
            log.exception("job crashed", job=name)

    # -- wiring -----------------------------------------------------------------------

    def _executor(self) -> Executor:
        if self.executor is None:
            self.executor = open_executor(self.app.settings)
        return self.executor

    def schedule_publish_wakeups(self) -> None:
        """A publish run at each upcoming slot, on top of the regular interval."""
        horizon = datetime.now(UTC) + timedelta(days=2)
        with session_scope(self.app.engine) as session:
            slots = session.exec(
                select(Post.slot_utc).where(
                    col(Post.status).in_([PostStatus.APPROVED, PostStatus.IN_REVIEW]),
                    col(Post.slot_utc) <= horizon,
                    col(Post.slot_utc) >= datetime.now(UTC),
                )
            ).all()
        for slot in set(slots):
            self.scheduler.add_job(
                self._guarded,
                "date",
                run_date=slot,
                args=("publish", self.publish_job),
                id=f"publish-at-{slot.isoformat()}",
                replace_existing=True,
            )

    def add_jobs(self) -> None:
        now = datetime.now(UTC)
        settings = self.app.settings
        for persona in self.app.personas.values():
            # Plan once before anything else runs, so the first prepare pass sees the calendar.
            self._guarded("plan", self.plan_job, persona.id)
            self.scheduler.add_job(
                self._guarded,
                CronTrigger(hour=3, minute=0, timezone=persona.zone),
                args=("plan", self.plan_job, persona.id),
                id=f"plan-{persona.id}",
            )
        self.scheduler.add_job(
            self._guarded,
            "interval",
            seconds=settings.prepare_interval_s,
            args=("prepare", self.prepare_job),
            id="prepare",
            next_run_time=now,
        )
        self.scheduler.add_job(
            self._guarded,
            "interval",
            seconds=settings.publish_interval_s,
            args=("publish", self.publish_job),
            id="publish",
            next_run_time=now,
        )
        self.scheduler.add_job(
            self._guarded,
            "interval",
            seconds=settings.insights_interval_s,
            args=("insights", self.insights_job),
            id="insights",
        )

    def start_web(self) -> Any:
        """vibot's web server: the review UI and the public media URLs of the Graph API."""
        settings = self.app.settings
        if not settings.web_enabled:
            return None
        from bot.web.auth import list_users
        from bot.web.serve import make_server, start_in_thread

        made = start_in_thread(
            make_server(self.app, settings.web_host, settings.web_port, wake_prepare=self.wake_prepare)
        )
        if not list_users(self.app):
            log.warning("no reviewers can log in to the web UI yet: vibot web add-user NAME")
        return made

    def wake_prepare(self) -> None:
        """Run the prepare job now (a reviewer asked for new media), not at its next interval."""
        if self.scheduler.running:
            self.scheduler.modify_job("prepare", next_run_time=datetime.now(UTC))

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        log.info("stopping after the current step", signal=signal.Signals(signum).name)
        self.stop.set()

    @contextmanager
    def _daemon_lock(self) -> Iterator[bool]:
        """The daemon lock, held for the block: True once held, False when told to stop first.

        SQLite: a short wait (the web UI's health page probes this lock for a moment), then
        LockHeldError: one daemon per database file. PostgreSQL: a daemon that finds the lock
        taken stands by, asking every `standby_poll_s`, and takes over when the active one
        stops or dies (the server drops a dead session's advisory lock with its connection)."""
        engine = self.app.engine
        if engine.dialect.name != "postgresql":
            with hold_lock(engine, "daemon", wait_s=2):
                yield True
            return
        with ExitStack() as held:
            waiting_since: float | None = None
            while True:
                try:
                    held.enter_context(hold_lock(engine, "daemon", wait_s=0))
                    break
                except LockHeldError:
                    if waiting_since is None:
                        waiting_since = time.monotonic()
                        log.warning(
                            "standing by: another vibot daemon is active on this database; "
                            "this one takes over when it stops",
                            poll_s=self.app.settings.standby_poll_s,
                        )
                    if self.stop.wait(self.app.settings.standby_poll_s):
                        yield False
                        return
            if waiting_since is not None:
                log.warning(
                    "taking over: the active daemon is gone",
                    stood_by_s=round(time.monotonic() - waiting_since, 1),
                )
            yield True

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        try:
            with self._daemon_lock() as held:
                if not held:
                    log.info("daemon stopped", standby=True)
                    return
                self._executor()  # first: a Ray cluster out of reach stops the start
                log.info(
                    "daemon started", personas=sorted(self.app.personas), home=str(self.app.settings.home)
                )
                web = self.start_web()  # a taken port stops the start before any job runs
                self.app.write_audit()  # lines a crash left unwritten go in before anything new
                self.add_jobs()
                self.scheduler.start()
                while not self.stop.wait(1.0):
                    pass
                self.scheduler.shutdown(wait=True)  # lets the running job finish its step
                if web is not None:
                    web.stop()
                if self.executor is not None:
                    self.executor.close()
                log.info("daemon stopped")
        except LockHeldError as err:
            raise LockHeldError(
                f"another vibot daemon is already running on this database ({err}) — "
                "stop it first, or point VIBOT_HOME/VIBOT_DATABASE_URL elsewhere"
            ) from None


def run_daemon(app: App) -> None:
    _ = app.personas  # validate persona files before anything starts
    Daemon(app).run()
