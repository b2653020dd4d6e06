"""Run: one `realtrace convert` end to end: find and plan the inputs, hand them to the
engine (read → sessionize → convert → batch → send), fold the results.

The I/O edge around the pure core: files in, output/rejects/report files and
network out, with the counts the summary and the exit code come from.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config import RunConfig
from pipeline.core.attributes import AudioMode
from pipeline.core.ids import trace_id
from pipeline.dashboard import ReportData, SessionCollector, with_players, write_html
from pipeline.dashboard.data import is_otlp_json, read_otlp_json
from pipeline.engine import check as check_engine
from pipeline.engine.common import Run, load_engine
from pipeline.errors import (
    ConfigError,
    ExitCode,
    Interrupted,
    NotOtlpJsonError,
    RealtraceError,
    io_message,
)
from pipeline.plan import FilePlan, plan_files, read_session_list
from pipeline.progress import Progress
from pipeline.read.files import Reject, find_inputs
from pipeline.redact import Redactor
from pipeline.report import RunStats, elapsed, exit_code_for, write_rejects, write_report
from pipeline.send.attachments import AudioSink, BraintrustAttachments, DirectoryAudio
from pipeline.send.chain import DEAD_LETTER_FOR
from pipeline.send.deliver import Status
from pipeline.send.destination import NoDestination
from pipeline.send.settings import masked_url
from pipeline.send.sinks import drop_traces
from pipeline.state.store import StateStore

log = logging.getLogger("realtrace")


@dataclass(slots=True)
class RunResult:
    stats: RunStats
    exit_code: int


def run_convert(
    cfg: RunConfig,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    collector: SessionCollector | None = None,
) -> RunResult:
    """Convert all inputs and write or export them; never raises on bad input lines.

    `collector`: each converted session is also folded into this report (`report` on logs
    passes its own); with `cfg.html` set the run makes one and writes its page.

    Raises a RealtraceError (pipeline.errors) or FileNotFoundError for problems the user
    must fix before anything is read.
    """
    start = time.perf_counter()
    cfg.validate()
    check_engine(cfg)
    engine = load_engine(cfg.engine)
    stop = stop or threading.Event()
    progress = progress or Progress("none")
    files, missing = find_inputs(cfg.inputs, exclude=cfg.own_files)
    for r in missing:
        log.warning("%s: %s", r.file, r.reason)
    if not files:
        raise ConfigError(
            "no input file found in " + ", ".join(cfg.inputs) + ": name files, directories "
            "or globs of .jsonl/.ndjson/.json/.log (optionally .gz/.zst) or .parquet logs"
        )
    only = read_session_list(cfg.sessions_from) if cfg.sessions_from else None
    try:
        state = _open_state(cfg)
    except OSError as exc:  # the state's disk is full: nothing was done, and the report says so
        if os.environ.get("REALTRACE_DEBUG") or cfg.report is None:
            raise
        stats = RunStats(errors=[io_message(exc)], io_failed=True, wall_seconds=elapsed(start))
        write_report(cfg.report, stats)
        progress.close()
        return RunResult(stats, ExitCode.IO)
    try:
        _first_contact(cfg, stop, start)
        plan = plan_files(files, state, cfg.full)
        run = Run(cfg, files, state, progress, stop, RunStats(), plan, only)
        run.audio = _audio_sink(cfg, state, stop, start, run.stats)
        if collector is None and cfg.html is not None:
            collector = SessionCollector()
        if collector is not None:  # each session's part made where it is converted
            run.watch, run.report = collector.add, collector.part
        run.parts_before = frozenset(str(p) for p in cfg.destination.written)
        tracked = cfg.destination.tracked_file
        run.output_start = tracked.stat().st_size if tracked and tracked.exists() else 0
        run.stats.count_rejects(missing)
        run.rejects += missing
        try:
            engine.run(run)
        except Interrupted:  # a signal while reading: nothing sent yet, nothing recorded
            log.warning("stopped while reading: nothing was sent; the next run reads again")
        except OSError as exc:  # a disk filled mid-run: what was delivered is recorded
            if os.environ.get("REALTRACE_DEBUG"):
                raise
            run.stats.errors.append(io_message(exc))
            run.stats.io_failed = True
        result = _finish(run, start)
        if collector is not None and cfg.html is not None:
            _write_html(collector, cfg.html, result, cfg.audio_dir)
        return result
    finally:
        progress.close()
        if state is not None:
            state.close()


def _first_contact(cfg: RunConfig, stop: threading.Event, start: float) -> None:
    """The destination reached before anything is read: a dead endpoint, refused
    credentials or a wrong URL end the run in seconds (the report says why too)."""
    try:
        cfg.destination.check(stop)
    except RealtraceError as exc:
        if cfg.report is not None:
            write_report(cfg.report, RunStats(errors=[str(exc)], wall_seconds=elapsed(start)))
        raise


def _audio_sink(
    cfg: RunConfig,
    state: StateStore | None,
    stop: threading.Event,
    start: float,
    stats: RunStats,
) -> AudioSink | None:
    """Where `--audio` clips go: files, or Braintrust, logged in once before anything is
    read (refused credentials or an unknown organization end the run here, exit 2)."""
    if cfg.mapping.audio is AudioMode.DIR and cfg.audio_dir is not None:
        return DirectoryAudio(cfg.audio_dir)
    if cfg.mapping.audio is not AudioMode.UPLOAD or cfg.attachments is None:
        return None
    dest = cfg.destination
    sink = BraintrustAttachments(
        cfg.attachments,
        state.uploaded() if state is not None else set(),
        dest.clock,
        stop=stop,
        on_uploaded=(lambda key: state.record_uploaded([key])) if state is not None else None,
    )
    try:
        login = sink.login()
    except RealtraceError as exc:
        if cfg.report is not None:
            write_report(cfg.report, RunStats(errors=[str(exc)], wall_seconds=elapsed(start)))
        raise
    if login is not None and login.orgs_seen > 1:  # as the SDKs: the first, unless named
        stats.braintrust_org = f"{login.org.name} (of {login.orgs_seen} this key sees)"
    return sink


def _open_state(cfg: RunConfig) -> StateStore | None:
    if cfg.state is None:
        return None
    state = StateStore(cfg.state, cfg.destination.state_id)
    output = cfg.destination.tracked_file
    if output is None:  # nothing to reconcile: deliveries alone say what was sent
        return state
    if not output.exists():
        state.forget()  # the output file is gone: what it held must be written again
        state.flush(output_length=0)
        return state
    committed, size = state.committed_length(), output.stat().st_size
    if committed is not None and size > committed:
        # An interrupted run wrote sessions it never recorded: they are sent again below.
        with output.open("r+b") as fh:
            fh.truncate(committed)
        log.warning(
            "%s: removed %d bytes written after the last recorded delivery (an interrupted "
            "run); those sessions are written again",
            output,
            size - committed,
        )
    elif committed is not None and size < committed:
        log.warning(
            "%s is shorter than realtrace left it (%d < %d bytes): every session is written again",
            output,
            size,
            committed,
        )
        state.forget()
    # The file as it stands is accounted for before anything is appended: a run that dies
    # before its first recorded delivery is cut back to here by the next one.
    state.flush(output_length=output.stat().st_size)
    return state


def _finish(run: Run, start: float) -> RunResult:
    """Counts, the files now wholly delivered, late rejects, the report and the exit code."""
    cfg, state, stats, files = run.cfg, run.state, run.stats, run.files
    selector = run.selector
    if state is not None and selector is not None and not stats.io_failed:
        try:
            _record_files(
                state,
                run.plan,
                run.file_sessions,
                files,
                run.outcome,
                set(selector.delivered) | {k for k, st in run.outcome.items() if st != "failed"},
                set(stats.held_files),
            )
        except OSError as exc:  # the state's disk filled at the very end
            stats.errors.append(io_message(exc))
            stats.io_failed = True
    _prune_dead_letters(run)
    _drop_earlier_versions(run)
    if stats.session_rejects:
        late = [Reject(files[fid], line, reason) for fid, line, reason in stats.session_rejects]
        stats.count_rejects(late)
        write_rejects(cfg.rejects_path, late, append=True)
    stats.wall_seconds = elapsed(start)
    redact = Redactor(cfg.secrets)  # whatever said them (a backend echoing a URL), never shown
    stats.errors = [redact(e) for e in stats.errors]
    code = exit_code_for(stats, cfg.strict)
    if cfg.report is not None:
        try:
            write_report(cfg.report, stats)
        except OSError as exc:  # after delivery: what was delivered is recorded all the same
            stats.errors.append(f"could not write the report {cfg.report}: {exc.strerror or exc}")
            code = ExitCode.IO
    return RunResult(stats, code)


def _write_html(
    collector: SessionCollector, path: Path, result: RunResult, audio_dir: Path | None
) -> None:
    """The voice-quality report of the sessions this run converted; a page that cannot be
    written fails the run's exit code (7) but never what was delivered."""
    try:
        write_html(with_players(collector.data(), audio_dir, path), path)
    except OSError as exc:
        result.stats.errors.append(f"could not write the HTML report {path}: {exc.strerror or exc}")
        result.exit_code = ExitCode.IO


def _prune_dead_letters(run: Run) -> None:
    """Dead letters keep what is still not delivered: the spans of sessions this run
    delivered (a run with a state sends failed sessions again) leave them, and a dead letter
    goes once nothing is left in it, never because a run "will send its sessions again"."""
    settled = {trace_id(k) for k, status in run.outcome.items() if status != "failed"}
    if not settled:
        return
    here = run.cfg.destination.state_id
    for place in run.cfg.destination.dead_letter_paths:
        files = sorted(place.glob("*.jsonl")) if place.is_dir() else [place]
        for path in files:
            if not path.is_file():
                continue
            try:
                dropped, kept = drop_traces(path, settled, only=(DEAD_LETTER_FOR, here))
            except (OSError, NotOtlpJsonError) as exc:
                run.stats.errors.append(f"could not update the dead letter {path}: {exc}")
                continue
            if dropped:
                log.info(
                    "%s: %d spans of sessions this run delivered to %s removed; %d kept "
                    "(not delivered, or for another destination)",
                    path,
                    dropped,
                    masked_url(here),
                    kept,
                )


def _drop_earlier_versions(run: Run) -> None:
    """A file destination holds each session once: a session sent again because it changed
    (a live call converted half-way, then whole) has its earlier version taken out of what
    the file held before this run (or of the part files a Ray run had written before).
    An OTLP backend replaces spans sent again under the same ids: nothing to do there."""
    if not run.replaced or run.stats.io_failed:
        return
    traces = {trace_id(k) for k in run.replaced}
    tracked = run.cfg.destination.tracked_file
    try:
        if tracked is not None and tracked.exists():
            dropped, _ = drop_traces(tracked, traces, run.output_start, remove_empty=False)
            if run.state is not None:
                run.state.flush(output_length=tracked.stat().st_size)
        else:
            dropped = sum(
                drop_traces(p, traces)[0]
                for p in run.cfg.destination.written
                if str(p) in run.parts_before
            )
    except (OSError, NotOtlpJsonError) as exc:
        run.stats.errors.append(f"could not take earlier versions out of the output: {exc}")
        return
    if dropped:
        log.info("%d spans of %d sessions' earlier versions removed", dropped, len(run.replaced))


def _record_files(
    state: StateStore,
    plan: FilePlan,
    file_sessions: dict[int, list[str]],
    files: list[str],
    outcome: dict[str, Status],
    delivered: set[str],
    held: set[str],
) -> None:
    """Remember the files read whose every session is now delivered, so later runs skip
    reading them: files with rejected lines too, and files with no session at all (empty,
    junk, a truncated archive), whose rejects were reported on the night they were found
    and would otherwise be read and rejected again every night. A file that changes (it
    grows, it is rewritten) has another fingerprint and is read again."""
    done = []
    for fid, path in enumerate(files):
        if path not in plan.infos or path in plan.unchanged or path in held:
            continue  # unreadable at listing, not read this time, or still being written
        keys = file_sessions.get(fid, [])
        if all(k in delivered and outcome.get(k) != "failed" for k in keys):
            done.append((plan.infos[path], keys))
    if done:
        state.record_files(done)


def report_from_inputs(
    inputs: Sequence[str], timestamp_fields: tuple[str, ...] | None = None
) -> ReportData:
    """The report of realtrace OTLP JSON files (their spans) and of logs, converted here
    for the report alone: each session's part comes from its typed records, no span is
    encoded, written or sent, and nothing is remembered (no state). A session found in
    both counts once, as the logs make it."""
    traces = [Path(p) for p in inputs if Path(p).is_file() and is_otlp_json(Path(p))]
    logs = tuple(p for p in inputs if Path(p) not in traces)
    collector = SessionCollector()
    collector.builder.add_spans(read_otlp_json(traces))
    if logs:
        with tempfile.TemporaryDirectory(prefix="realtrace-report-") as tmp:  # its rejects
            # every session, also one still being logged: a report sends nothing to settle
            settings: dict[str, Any] = {"rejects": Path(tmp) / "rejects.jsonl", "settle_ns": 0}
            if timestamp_fields:
                settings["timestamp_fields"] = timestamp_fields
            cfg = RunConfig(logs, NoDestination(), Path(tmp) / "report", **settings)
            run_convert(cfg, collector=collector)
    return collector.data()
