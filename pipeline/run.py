"""Run: one `realtrace convert` end to end (load → sessionize → convert → batch → send).

The I/O edge around the pure core: files in, output/rejects/report files and
network out, with the counts the summary and the exit code come from.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from pipeline.config import ConfigError, RunConfig
from pipeline.core.convert import convert_frame, encoder_for
from pipeline.core.model import SessionSpans
from pipeline.engine.local import Workers, convert_chunk, read_into
from pipeline.progress import Progress
from pipeline.read.chunks import EventStore
from pipeline.read.files import Reject, find_inputs
from pipeline.read.raw import estimated_events
from pipeline.read.selection import FilePlan, Selector, plan_files, read_session_list
from pipeline.report import (
    ExitCode,
    RunStats,
    elapsed,
    exit_code_for,
    write_rejects,
    write_report,
)
from pipeline.send.deliver import Destination, send_run
from pipeline.state.store import FileInfo, StateStore

log = logging.getLogger("realtrace")


@dataclass(slots=True)
class RunResult:
    stats: RunStats
    exit_code: int


def run_convert(
    cfg: RunConfig, progress: Progress | None = None, stop: threading.Event | None = None
) -> RunResult:
    """Convert all inputs and write or export them; never raises on bad input lines.

    Raises ConfigError / FileNotFoundError / StateLockedError for problems the user
    must fix before anything is read.
    """
    start = time.perf_counter()
    cfg.validate()
    progress = progress or Progress("none")
    files, missing = find_inputs(cfg.inputs)
    for r in missing:
        log.warning("%s: %s", r.file, r.reason)
    if not files:
        raise ConfigError(
            "no input file found in " + ", ".join(cfg.inputs) + ": name files, directories "
            "or globs of .jsonl/.ndjson/.json/.log (optionally .gz/.zst) or .parquet logs"
        )
    if cfg.workers <= 0 and cfg.engine == "local":
        cfg = dataclasses.replace(cfg, workers=auto_workers(files))
    only = read_session_list(cfg.sessions_from) if cfg.sessions_from else None
    state = _open_state(cfg)
    try:
        run = Run(cfg, files, state, progress, stop or threading.Event(), RunStats())
        run.stats.count_rejects(missing)
        run.rejects += missing
        if cfg.engine == "ray":
            from pipeline.engine.ray import run_on_ray

            run_on_ray(run, only)
        else:
            with (
                EventStore(cfg.memory_budget, spill_dir=cfg.spill_dir) as store,
                Workers(cfg.workers) as run.workers,
            ):
                _run_local(run, store, only)
        return _finish(run, start)
    finally:
        progress.close()
        if state is not None:
            state.close()


AUTO_WORKERS_EVENTS = 100_000  # break-even measured at ~70k events (see auto_workers)


def auto_workers(files: list[str]) -> int:
    """One process per CPU (at most 4, at most one per file) when the input holds enough
    events to repay their start-up: worker processes pay off by events, not bytes (an
    audio-heavy log is mostly payload bytes, an events-dense one has ten times the events
    per byte). Measured on 2 CPUs: 1 and 2 workers break even at ~70k events (300 MB
    audio-heavy: 1.95 vs 1.87 s; 30 MB events-dense: 1.88 vs 1.84 s); 100 MB dense
    (242k events) runs 4.9 s with 1, 3.9 s with 2. Files are the unit of reading: with
    one big file a second process only waits."""
    if estimated_events(files) <= AUTO_WORKERS_EVENTS:
        return 1
    return max(1, min(os.cpu_count() or 1, 4, len(files)))


def _open_state(cfg: RunConfig) -> StateStore | None:
    if cfg.state is None:
        return None
    state = StateStore(cfg.state, cfg.destination)
    if cfg.export is not None:
        return state
    if not cfg.output.exists():
        state.forget()  # the output file is gone: what it held must be written again
        state.flush(output_length=0)
        return state
    committed, size = state.committed_length(), cfg.output.stat().st_size
    if committed is not None and size > committed:
        # An interrupted run wrote sessions it never recorded: they are sent again below.
        with cfg.output.open("r+b") as fh:
            fh.truncate(committed)
        log.warning(
            "%s: removed %d bytes written after the last recorded delivery (an interrupted "
            "run); those sessions are written again",
            cfg.output,
            size - committed,
        )
    elif committed is not None and size < committed:
        log.warning(
            "%s is shorter than realtrace left it (%d < %d bytes): every session is written again",
            cfg.output,
            size,
            committed,
        )
        state.forget()
    # The file as it stands is accounted for before anything is appended: a run that dies
    # before its first recorded delivery is cut back to here by the next one.
    state.flush(output_length=cfg.output.stat().st_size)
    return state


@dataclass(slots=True)
class Run:
    """One run's shared state, for whichever engine converts and delivers."""

    cfg: RunConfig
    files: list[str]
    state: StateStore | None
    progress: Progress
    stop: threading.Event
    stats: RunStats
    rejects: list[Reject] = field(default_factory=list)
    plan: FilePlan | None = None
    file_sessions: dict[int, list[str]] = field(default_factory=dict)
    outcome: dict[str, bool] = field(default_factory=dict)  # session key → delivered
    selector: Selector | None = None
    errors: list[str] = field(default_factory=list)
    workers: Workers = field(default_factory=lambda: Workers(1))  # the local engine's processes

    @property
    def ids(self) -> dict[str, int]:
        return {f: i for i, f in enumerate(self.files)}

    def make_selector(self, keys: set[str], only: frozenset[str] | None) -> Selector:
        cfg, state = self.cfg, self.state
        self.selector = Selector(
            since_ns=cfg.since_ns,
            until_ns=cfg.until_ns,
            only=only,
            delivered=state.delivered_hashes(keys) if state is not None else {},
            full=cfg.full,
            skip_changed=cfg.skip_changed,
            hash_sessions=state is not None,
        )
        return self.selector

    def session_done(
        self, key: str, content_hash: str, ok: bool, spans: int, start_ns: int
    ) -> None:
        """A session's delivery settled: remember it, and queue it for the state."""
        self.outcome[key] = ok
        if self.state is not None:
            self.state.record_session(key, content_hash, ok, spans, start_ns)

    def clear_dead_letter(self) -> None:
        """With a state, failed sessions are not recorded as delivered: this run sends them
        again, so the previous dead letter is obsolete (replaying it too would duplicate)."""
        cfg = self.cfg
        if self.state is None or cfg.export is None:
            return
        for path in (cfg.dead_letter_path, cfg.dead_letter_parts):
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
            else:
                continue
            log.info("cleared %s: its sessions are sent again by this run", path)


def _read_local(run: Run, store: EventStore) -> set[str]:
    """Read what the plan says into the store; a second round reads old files that a new
    file continues (rotated logs). Returns the session keys read."""
    cfg, stats, ids = run.cfg, run.stats, run.ids
    assert run.plan is not None
    todo = run.plan.first_pass(run.files)
    run.progress.set_phase("reading", total=len(todo), unit="files")
    keys: set[str] = set()
    while todo:
        run.rejects += read_into(
            store,
            todo,
            [ids[f] for f in todo],
            cfg.timestamp_fields,
            stats,
            run.workers,
            run.progress.file_read,
        )
        keys = store.keys()
        todo = run.plan.pull_in(keys)
    run.file_sessions = store.file_sessions()
    return keys


def _run_local(run: Run, store: EventStore, only: frozenset[str] | None) -> None:
    """The local engine: read into the store, then convert and deliver chunk by chunk."""
    cfg, state, stats = run.cfg, run.state, run.stats
    run.plan = plan_files(run.files, state, cfg.full)
    keys = _read_local(run, store)
    stats.files_skipped = len(run.plan.unchanged)
    stats.sessions_skipped += len(run.plan.skipped_sessions(keys))
    write_rejects(cfg.rejects_path, run.rejects)
    selector = run.make_selector(keys, only)

    def on_session(sess: SessionSpans, ok: bool) -> None:
        key = sess.session_key
        run.session_done(key, sess.content_hash, ok, sess.span_count, sess.start_ns)

    def on_batch(delivered: int, clean: bool) -> None:
        run.progress.delivered(delivered)
        if state is None:
            return
        if cfg.export is not None:
            state.flush()
        elif clean:  # the file's length and the sessions it holds, committed together
            state.flush(output_length=cfg.output.stat().st_size)

    run.clear_dead_letter()
    run.progress.set_phase("converting and sending", total=len(keys))
    sessions = _converted(cfg, store, stats, selector, run.progress, run.workers)
    dest = Destination(cfg.output, cfg.export, cfg.dead_letter_path, append=state is not None)
    run.errors = send_run(sessions, cfg, dest, stats, run.stop, on_session, on_batch)
    if state is not None:
        state.flush(output_length=cfg.output.stat().st_size if cfg.export is None else None)


def _finish(run: Run, start: float) -> RunResult:
    """Counts, the files now wholly delivered, late rejects, the report and the exit code."""
    cfg, state, stats, files = run.cfg, run.state, run.stats, run.files
    selector = run.selector
    if state is not None and run.plan is not None and selector is not None:
        _record_files(
            state,
            run.plan.infos,
            run.file_sessions,
            files,
            run.outcome,
            set(selector.delivered) | {k for k, ok in run.outcome.items() if ok},
            # a file with rejects is read again next time (and --strict fails again)
            {r.file for r in run.rejects} | {files[fid] for fid, _, _ in stats.session_rejects},
        )
    if stats.session_rejects:
        late = [Reject(files[fid], line, reason) for fid, line, reason in stats.session_rejects]
        stats.count_rejects(late)
        write_rejects(cfg.rejects_path, late, append=True)
    stats.errors = run.errors
    stats.wall_seconds = elapsed(start)
    code = exit_code_for(stats, cfg.strict)
    if cfg.report is not None:
        try:
            write_report(cfg.report, stats)
        except OSError as exc:  # after delivery: what was delivered is recorded all the same
            stats.errors.append(f"could not write the report {cfg.report}: {exc.strerror or exc}")
            code = ExitCode.IO
    return RunResult(stats, code)


def _converted(
    cfg: RunConfig,
    store: EventStore,
    stats: RunStats,
    selector: Selector,
    progress: Progress,
    workers: Workers,
) -> Iterator[SessionSpans]:
    """Sessions of every chunk, converted in-process or by worker processes, in chunk order,
    each folded into the run's counts; skipped sessions and those that failed stop here."""
    for sess in _convert_chunks(cfg, store, selector, workers):
        stats.fold(sess)
        if sess.skipped is None and not sess.failed:
            progress.converted(sess.span_count)
            yield sess


def _convert_chunks(
    cfg: RunConfig, store: EventStore, selector: Selector, workers: Workers
) -> Iterator[SessionSpans]:
    encode = encoder_for(cfg.export is None)
    if cfg.workers <= 1:
        for chunk in store.chunks(cfg.chunk_bytes):
            if chunk.height:
                yield from convert_frame(chunk, cfg.mapping, selector, encode)
        return
    # Smaller chunks so that every worker has work; each carries only its sessions' state.
    chunk_bytes = max(1, min(cfg.chunk_bytes, store.total_bytes // (4 * cfg.workers) + 1))
    tasks = (
        (
            [s.part for s in batch],
            cfg.mapping,
            selector.for_keys({k for s in batch for k in s.keys}),
            encode,
        )
        for batch in store.chunk_parts(chunk_bytes)
        if any(s.rows for s in batch)
    )
    for sessions in workers.map(convert_chunk, tasks):
        yield from sessions


def _record_files(
    state: StateStore,
    infos: dict[str, FileInfo],
    file_sessions: dict[int, list[str]],
    files: list[str],
    outcome: dict[str, bool],
    delivered: set[str],
    with_rejects: set[str],
) -> None:
    """Remember files whose every session is now delivered, so later runs can skip reading them."""
    done = []
    for fid, keys in file_sessions.items():
        path = files[fid]
        if (
            path in infos
            and path not in with_rejects
            and all(k in delivered and outcome.get(k, True) for k in keys)
        ):
            done.append((infos[path], keys))
    if done:
        state.record_files(done)
