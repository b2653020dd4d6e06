"""Inspect: the sessions found in logs, summarised from their typed facts (`realtrace
inspect`); nothing is sent.

Also `load_sessions`, all files as one sessionized frame in memory, for small inputs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import polars as pl

from pipeline.core.convert import convert_frame
from pipeline.core.sessionize import SORT_KEYS
from pipeline.engine.local import read_into
from pipeline.read.chunks import EventStore
from pipeline.read.extract import EVENT_SCHEMA
from pipeline.read.files import Reject, find_inputs
from pipeline.read.load import DEFAULT_READ, ReadOptions
from pipeline.report import RunStats


def load_sessions(
    files: Sequence[str], options: ReadOptions = DEFAULT_READ
) -> tuple[pl.DataFrame, list[Reject], RunStats]:
    """All files as one sessionized frame, sorted, in memory (inspection, tests, small inputs)."""
    stats = RunStats()
    with EventStore(memory_budget=1 << 62) as store:
        rejects = read_into(store, files, range(len(files)), options, stats)
        frames = [f for f in store.chunks(chunk_bytes=1 << 62) if f.height]
    if not frames:
        return pl.DataFrame(schema={**EVENT_SCHEMA, "session_key": pl.String}), rejects, stats
    frame = frames[0].sort(SORT_KEYS)
    return frame, rejects, stats


def inspect_sessions(
    inputs: list[str], timestamp_fields: tuple[str, ...]
) -> tuple[list[dict[str, Any]], RunStats]:
    """One summary row per session found in the inputs (for `realtrace inspect`), and the
    counts of what was read and rejected, so an input that yields nothing says why."""
    files, missing = find_inputs(inputs)
    frame, _, stats = load_sessions(files, ReadOptions(timestamp_fields))
    stats.count_rejects(missing)
    rows = []
    for sess in convert_frame(frame):
        stats.fold(sess)
        if sess.failed:
            continue
        summary = sess.summary
        assert summary is not None  # converted in this process
        rows.append(
            {
                "session_key": sess.session_key,
                "start": dt.datetime.fromtimestamp(sess.start_ns // 1_000_000_000, dt.UTC)
                .isoformat()
                .replace("+00:00", "Z"),
                "duration_s": round((sess.end_ns - sess.start_ns) / 1e9, 3),
                "turns": summary.turns,
                "responses": summary.responses,
                "tokens": summary.total_tokens,
                "app_spans": sess.counts.app_spans,
                "errors": summary.errors,
                "incomplete": sess.incomplete,
                "spans": len(sess.spans),
                "events": sess.counts.events,
            }
        )
    return sorted(rows, key=lambda r: (r["start"], r["session_key"])), stats
