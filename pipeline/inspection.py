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
from pipeline.engine.tasks import read_task
from pipeline.read.extract import EVENT_SCHEMA
from pipeline.read.files import Reject, find_inputs
from pipeline.read.load import DEFAULT_READ, ReadOptions
from pipeline.report import RunStats


def load_sessions(
    files: Sequence[str], options: ReadOptions = DEFAULT_READ
) -> tuple[pl.DataFrame, list[Reject], RunStats]:
    """All files as one sessionized frame, sorted, in memory (inspection, tests, small inputs)."""
    stats, rejects, frames = RunStats(), [], []
    for fid, path in enumerate(files):  # the engine-neutral read task, in this process
        events, loaded, _ = read_task(path, fid, options)
        stats.count_loaded(loaded, events.height)
        rejects += loaded.rejects
        if events.height:
            frames.append(events)
    if not frames:
        return pl.DataFrame(schema={**EVENT_SCHEMA, "session_key": pl.String}), rejects, stats
    return pl.concat(frames, how="vertical_relaxed").sort(SORT_KEYS), rejects, stats


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
