"""Convert: the engine-agnostic core (events frame → span records) and the run orchestration.

`convert_frame` is a pure function of a frame holding one or more whole sessions;
it is what a process pool, Ray Data or Spark task calls. `run_convert` adds the
edges: reading files, writing the output and the rejects file, counting.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl

from pipeline.core.attributes import DEFAULT_MAPPING, MappingOptions, map_session
from pipeline.core.encode import json_line
from pipeline.core.ids import trace_id
from pipeline.core.model import SessionEvents, SessionSpans
from pipeline.core.reconstruct import reconstruct
from pipeline.core.sessionize import split_sessions
from pipeline.read.files import Reject
from pipeline.report import RunStats


def convert_session(se: SessionEvents, options: MappingOptions = DEFAULT_MAPPING) -> SessionSpans:
    """One session's events → its spans; never raises.

    The safety net of trace model §2: every field read is type-tolerant, and a
    session whose conversion still fails comes back `failed`, with no spans and
    one reject naming it, so that every other session is still converted.
    """
    try:
        t0 = time.perf_counter_ns()
        tree = reconstruct(se)
        t1 = time.perf_counter_ns()
        spans = map_session(tree, options)
        spans.stats["ns_reconstruct"] = t1 - t0
        spans.stats["ns_attributes"] = time.perf_counter_ns() - t1
        return spans
    except Exception as exc:  # a bug meeting an odd log: reported, the batch goes on
        reason = f"session {se.key}: {type(exc).__name__}: {exc}"[:300]
        stats = {"events": len(se.ts) + se.audio_events, "unknown_events": 0}
        return SessionSpans(
            se.key,
            trace_id(se.key),
            [],
            se.first_ns,
            se.last_ns,
            stats,
            False,
            rejects=[(se.first_file, se.first_line, reason)],
            failed=True,
        )


def convert_frame(
    sessions: pl.DataFrame, options: MappingOptions = DEFAULT_MAPPING
) -> list[SessionSpans]:
    """Events of whole sessions (sorted, with `session_key`) → one SessionSpans per session."""
    return [convert_session(se, options) for se in split_sessions(sessions)]


def write_rejects(path: Path, rejects: list[Reject], append: bool = False) -> None:
    """Rejects as JSON lines (file, line, reason, excerpt); always written so cron can check it.

    Line rejects are written once reading ends; rejects found while converting
    (bad app records, unconvertible sessions) are appended after.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a" if append else "w", encoding="utf-8") as fh:
        for r in rejects:
            row = {"file": r.file, "line": r.line, "reason": r.reason, "excerpt": r.excerpt}
            fh.write(json_line(row) + "\n")


def iter_converted(
    frame: pl.DataFrame,
    options: MappingOptions,
    stats: RunStats,
    keep: Callable[[SessionEvents], bool] | None = None,
    on_converted: Callable[[int], None] | None = None,
) -> Iterator[SessionSpans]:
    """Convert session by session, counting as it goes; `keep` filters sessions first."""
    for se in split_sessions(frame):
        if keep is not None and not keep(se):
            continue
        sess = convert_session(se, options)
        stats.session_rejects += sess.rejects
        if sess.failed:
            stats.sessions_unconvertible += 1
            continue
        stats.sessions += 1
        stats.spans += sess.span_count
        stats.unknown_events += sess.stats["unknown_events"]
        for stage in ("reconstruct", "attributes"):
            stats.add_time(stage, sess.stats.get(f"ns_{stage}", 0) / 1e9)
        stats.app_spans += sess.stats.get("app_spans", 0)
        stats.sessions_incomplete += int(sess.incomplete)
        if on_converted is not None:
            on_converted(sess.span_count)
        yield sess


def elapsed(start: float) -> float:
    return round(time.perf_counter() - start, 3)
