"""Sessionize: give each event its session key and order each session's events.

Key precedence (trace model §1): explicit `session_id`, else the `session.id` of
the file's `session.created` event (one file = one connection), else the file path.
Sessions may span rotated files and lines may be out of order, so events are
ordered by timestamp, ties broken by file then line.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import polars as pl


def assign_sessions(
    events: pl.DataFrame, files: Sequence[str], file_ids: Sequence[int] | None = None
) -> pl.DataFrame:
    """Add `session_key` and sort by (session_key, ts_ns, file, line). Pure."""
    ids = list(file_ids) if file_ids is not None else list(range(len(files)))
    created = (
        events.filter(pl.col("created_session_id").is_not_null())
        .group_by("file")
        .agg(pl.col("created_session_id").sort_by("line").first().alias("_file_session"))
    )
    paths = pl.DataFrame(
        {
            "file": pl.Series(ids, dtype=pl.UInt32),
            "_path_key": [f"file:{p}" for p in files],
        }
    )
    return (
        events.join(created, on="file", how="left")
        .join(paths, on="file", how="left")
        .with_columns(pl.coalesce("session_id", "_file_session", "_path_key").alias("session_key"))
        .drop("_file_session", "_path_key")
        .sort(["session_key", "ts_ns", "file", "line"])
    )


def session_bounds(sessions: pl.DataFrame) -> pl.DataFrame:
    """Per session: first/last timestamp and event count (for windows and inspection)."""
    return sessions.group_by("session_key", maintain_order=True).agg(
        pl.col("ts_ns").min().alias("start_ns"),
        pl.col("ts_ns").max().alias("end_ns"),
        pl.len().alias("events"),
    )


def iter_sessions(sessions: pl.DataFrame) -> Iterator[tuple[str, pl.DataFrame]]:
    """(key, that session's ordered events) from a frame sorted by assign_sessions."""
    if sessions.height == 0:
        return
    for part in sessions.partition_by("session_key", maintain_order=True):
        yield str(part["session_key"][0]), part
