"""The run as every engine sees it: its settings, state, counts and per-session outcomes.

`run.run_convert` plans and folds; an engine (engine/local.py, engine/ray.py) reads,
converts and delivers, and tells the `Run` what happened through the few methods
here, so that no engine imports the run and each engine's loop is its own.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from pipeline.config import RunConfig
from pipeline.engine import ENGINES
from pipeline.errors import ConfigError
from pipeline.plan import FilePlan, Selector
from pipeline.progress import Progress
from pipeline.read.files import Reject
from pipeline.read.load import LoadResult
from pipeline.records import ReportHook, SessionSpans
from pipeline.report import RunStats, write_rejects
from pipeline.send.deliver import Delivery, Status, send_run
from pipeline.state.store import StateStore

if TYPE_CHECKING:  # workers import this module: no HTTP client for them
    from pipeline.send.attachments import AudioSink

COMMIT_EVERY = 256  # sessions settled elsewhere between two commits of the state

log = logging.getLogger("realtrace")


@dataclass(slots=True)
class Run:
    """One run's shared state, for whichever engine converts and delivers."""

    cfg: RunConfig
    files: list[str]
    state: StateStore | None
    progress: Progress
    stop: threading.Event
    stats: RunStats
    plan: FilePlan
    only: frozenset[str] | None = None  # --sessions-from
    rejects: list[Reject] = field(default_factory=list)
    file_sessions: dict[int, list[str]] = field(default_factory=dict)
    outcome: dict[str, Status] = field(default_factory=dict)  # session key → how it ended
    replaced: set[str] = field(default_factory=set)  # changed since delivered, sent again
    # the output as the run found it (file: its length; parts: their names), to take the
    # replaced sessions' earlier versions out of
    output_start: int = 0
    parts_before: frozenset[str] = frozenset()
    selector: Selector | None = None
    # each converted session as it settles (`--html`, `report` on logs); `report` makes
    # each session's part of that report from its typed records, in the worker that
    # converts it (an engine passes it to `convert_frame`, or in the `Job`)
    watch: Callable[[SessionSpans], None] | None = None
    report: ReportHook | None = None
    # where --audio clips go before their session's spans (files, or Braintrust, logged in)
    audio: AudioSink | None = None

    @property
    def ids(self) -> dict[str, int]:
        return {f: i for i, f in enumerate(self.files)}

    def pulled_in(self, files: list[str]) -> list[str]:
        """Old files read again (they hold a session a new file continues): counted, said."""
        if files:
            self.stats.files_reread += len(files)
            log.info(
                "reading %d more file%s: unchanged, but holding sessions continued in new files",
                len(files),
                "s" * (len(files) != 1),
            )
        return files

    def files_read(self, keys: set[str]) -> Selector:
        """Reading is over (`keys`: the sessions read): count what was skipped, write the
        rejects, and judge sessions against the state from here on."""
        cfg, state = self.cfg, self.state
        self.stats.files_skipped = len(self.plan.unchanged)
        self.stats.sessions_skipped += len(self.plan.skipped_sessions(keys))
        for r in self.rejects:  # said on stderr, even under -q: the exit code (7) is theirs
            if r.whole_file and r.reason.startswith("unreadable"):
                self.stats.errors.append(
                    f"{r.file}: {r.reason} (its readable lines were kept; fix or remove it)"
                )
        write_rejects(cfg.rejects_path, self.rejects)
        now = cfg.now_ns if cfg.now_ns is not None else time.time_ns()
        self.selector = Selector(
            since_ns=cfg.since_ns,
            until_ns=cfg.until_ns,
            settled_before_ns=now - cfg.settle_ns if cfg.settle_ns else None,
            now_ns=now,
            only=self.only,
            delivered=state.delivered_hashes(keys) if state is not None else {},
            full=cfg.full,
            skip_changed=cfg.skip_changed,
            hash_sessions=state is not None,
        )
        self.progress.set_phase("converting and sending", total=len(keys))
        return self.selector

    def session_done(self, sess: SessionSpans, status: Status) -> None:
        """A session's delivery settled: remember it (and whether it replaced an earlier
        version), and queue it for the state."""
        key = sess.session_key
        self.outcome[key] = status
        if self.watch is not None:
            self.watch(sess)
        if sess.changed and status != "failed":
            self.replaced.add(key)
        if self.state is not None:
            self.state.record_session(
                key, sess.content_hash, status, sess.span_count, sess.start_ns
            )

    def delivered(self, delivery: Delivery) -> None:
        """Fold what a delivery did into the run's counts."""
        self.stats.absorb(delivery)

    def file_read(self, fid: int, loaded: LoadResult, events: int, keys: list[str]) -> None:
        """One file read, wherever it was (`tasks.read_task`): its accounting (the `events`
        it yielded: its frame may be on disk or in an object store), rejects and sessions."""
        self.stats.count_loaded(loaded, events)
        self.rejects += loaded.rejects
        self.file_sessions[fid] = keys

    def settled(self, sess: SessionSpans, status: Status) -> None:
        """One session converted and delivered elsewhere (a worker's result): counted,
        shown, remembered; the state committed every `COMMIT_EVERY` sessions."""
        for settled in self.converted([sess]):  # counted; shown and remembered if converted
            self.progress.delivered(settled.span_count if status == "delivered" else 0)
            self.session_done(settled, status)
            if self.state is not None and self.stats.sessions % COMMIT_EVERY == 0:
                self.state.flush()

    def converted(self, results: Iterable[SessionSpans]) -> Iterator[SessionSpans]:
        """Conversion results, each folded into the run's counts; the sessions to deliver go
        on (skipped sessions and those that failed stop here)."""
        for sess in results:
            self.stats.fold(sess)
            if sess.skipped is None and not sess.failed:
                self.progress.converted(sess.span_count)
                yield sess

    def send(self, sessions: Iterable[SessionSpans]) -> None:
        """Deliver converted sessions from this process through the run's destination: their
        clips first (the run's audio sink), the state committed after each batch (with a
        tracked file, only when the batch was written whole: its length and its sessions
        together), every count folded in."""
        from pipeline.send.attachments import AudioCounts, with_audio  # not in workers

        cfg, state = self.cfg, self.state
        tracked = cfg.destination.tracked_file

        def on_batch(delivered: int, clean: bool) -> None:
            self.progress.delivered(delivered)
            if state is None:
                return
            if tracked is None:
                state.flush()
            elif clean:
                state.flush(output_length=tracked.stat().st_size)

        audio = AudioCounts()
        self.delivered(
            send_run(
                with_audio(sessions, self.audio, audio),
                cfg.destination,
                cfg.limits,
                cfg.service,
                self.stop,
                append=state is not None,
                on_session=self.session_done,
                on_batch=on_batch,
            )
        )
        if self.audio is not None:
            self.audio.close(audio)
        self.stats.absorb(audio)
        if state is not None:
            state.flush(output_length=tracked.stat().st_size if tracked else None)


class Engine(Protocol):
    def run(self, run: Run) -> None:
        """Read, convert and deliver the run's files; every session's outcome goes to
        `run.session_done`, the counts to `run.stats`."""


def load_engine(name: str) -> Engine:
    """The engine registered as `name` in `ENGINES` (its module imported now)."""
    if name not in ENGINES:
        raise ConfigError(f"--engine {name}: use one of {', '.join(ENGINES)}")
    engine: Engine = importlib.import_module(ENGINES[name].module).ENGINE
    return engine
