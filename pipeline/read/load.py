"""Load: one file's events, read (`raw`) and extracted (`extract`), with the accounting
of every line: events, blank lines and rejects with their reasons.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl
from polars.exceptions import PanicException

from pipeline.errors import Interrupted, NotJsonLinesError
from pipeline.read.columns import Columns, decode_columns
from pipeline.read.extract import (
    DEFAULT_TIMESTAMP_FIELDS,
    EVENT_SCHEMA,
    extract_decoded,
    extract_events,
)
from pipeline.read.files import Reject
from pipeline.read.formats import format_of, read_raw
from pipeline.read.parse import Irregular
from pipeline.read.raw import (
    COMPRESSED_SUFFIXES,
    MAX_LINE_BYTES,
    SLICE_BYTES,
    Lines,
    Overlong,
    is_remote,
)
from pipeline.read.scan import scan_lines

LISTED_REJECTS = 1000  # line rejects listed per file; past them, counted by reason


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """How files are read: where the event time is, and the bounds that keep memory by
    bytes whatever a file holds."""

    timestamp_fields: tuple[str, ...] = DEFAULT_TIMESTAMP_FIELDS
    max_line_bytes: int = MAX_LINE_BYTES
    slice_bytes: int = SLICE_BYTES
    # --audio: keep each audio event's base64 payload (`audio_b64`); else only its length
    keep_audio: bool = False
    # --settle: a file changed after this time (ns) whose last line has no newline yet is
    # still being written: that line is held (read by a later run), not rejected
    hold_partial_after_ns: int | None = None


DEFAULT_READ = ReadOptions()


@dataclass(slots=True)
class LoadResult:
    """Events of a set of files, plus the accounting of every line read."""

    events: pl.DataFrame
    files: list[str]
    rejects: list[Reject] = field(default_factory=list)
    lines_read: int = 0
    blank_lines: int = 0
    seconds: float = 0.0  # reading and extracting (the report's "read" stage)
    held_lines: int = 0  # a half-written last line of a log still being written (not a reject)
    sessionize_seconds: float = 0.0  # keying and ordering the events by session


def load_file(
    path: str, fid: int, options: ReadOptions = DEFAULT_READ, stop: threading.Event | None = None
) -> LoadResult:
    """One file's events and the accounting of each of its lines.

    Files are the unit of reading and slices of them the unit of parsing: memory
    holds one slice's raw text at a time (bounded in bytes and in lines), and one
    irregular line only sends its own slice down the tolerant parse. A line over
    `max_line_bytes` is a reject with its length, never read whole. The first
    `LISTED_REJECTS` rejected lines are listed; the others are counted by reason.
    A `stop` set (a signal) ends the reading between two slices (Interrupted).
    """
    started = time.perf_counter()
    events: list[pl.DataFrame] = []
    rejects: list[Reject] = []
    unlisted: dict[str, int] = {}
    lines = blank = 0
    tf = options.timestamp_fields
    try:
        for part in read_raw(path, options.slice_bytes, options.max_line_bytes):
            if stop is not None and stop.is_set():
                raise Interrupted(f"stopped while reading {path}")
            if isinstance(part, Overlong):
                lines += 1
                reason = (
                    f"line over --max-line-bytes: {part.length:,} bytes, over "
                    f"{options.max_line_bytes:,}: not read"
                )
                _listed(rejects, unlisted, Reject(path, lines, reason))
                continue
            extracted = _extract(part, lines + 1, fid, tf, options.keep_audio)
            lines += extracted.height
            blank += extracted.filter(pl.col("reject") == "blank").height
            bad = extracted.filter(pl.col("reject").is_not_null() & (pl.col("reject") != "blank"))
            if bad.height:
                room = max(0, LISTED_REJECTS - len(rejects))
                rejects += [
                    Reject(path, n, reason, excerpt)
                    for n, reason, excerpt in bad.head(room)
                    .select("line", "reject", "excerpt")
                    .iter_rows()
                ]
                for reason, n in bad.slice(room)["reject"].value_counts().iter_rows():
                    unlisted[reason] = unlisted.get(reason, 0) + n
            events.append(extracted.filter(pl.col("reject").is_null()).select(list(EVENT_SCHEMA)))
    except Interrupted:
        raise
    except NotJsonLinesError as exc:
        rejects.append(Reject(path, 0, str(exc), whole_file=True))
        return LoadResult(pl.DataFrame(schema=EVENT_SCHEMA), [path], rejects, 0, 0)
    except (Exception, PanicException) as exc:  # unreadable/corrupt file (or its tail), or a
        # file Polars' Rust code gives up on (a panic, raised as a BaseException): one reject
        where = f" after line {lines}:" if lines else ""
        rejects.append(
            Reject(
                path,
                0,
                f"unreadable file:{where} {type(exc).__name__}: {exc}"[:300],
                whole_file=True,
            )
        )
    rejects += [
        Reject(path, 0, reason, f"{n:,} more lines rejected for this reason, not listed", n)
        for reason, n in sorted(unlisted.items())
    ]
    held = 0
    last = rejects[-1] if rejects else None
    if last and not last.whole_file and 0 < last.line == lines and _being_written(path, options):
        rejects.pop()  # the writer is still at it: the line is whole by the next run
        held, lines = 1, lines - 1
    if lines == 0 and not rejects and not held:
        rejects.append(Reject(path, 0, "empty file", whole_file=True))
    frame = pl.concat(events, how="vertical") if events else pl.DataFrame(schema=EVENT_SCHEMA)
    result = LoadResult(frame, [path], rejects, lines, blank, time.perf_counter() - started)
    result.held_lines = held
    return result


def _being_written(path: str, options: ReadOptions) -> bool:
    """A plain local file changed within --settle whose last byte is not a newline: its
    last line is still being written (a live log), not a bad line."""
    after = options.hold_partial_after_ns
    name = path.lower()
    if after is None or is_remote(path) or name.endswith(COMPRESSED_SUFFIXES):
        return False
    if not format_of(path).appendable:  # a Parquet file is whole or unreadable
        return False
    try:
        if os.stat(path).st_mtime_ns < after:
            return False
        with open(path, "rb") as fh:
            fh.seek(-1, os.SEEK_END)
            return fh.read(1) != b"\n"
    except OSError:
        return False


def _listed(rejects: list[Reject], unlisted: dict[str, int], reject: Reject) -> None:
    if len(rejects) < LISTED_REJECTS:
        rejects.append(reject)
    else:
        unlisted[reject.reason] = unlisted.get(reject.reason, 0) + 1


def _extract(
    part: Lines | Columns,
    first_line: int,
    fid: int,
    timestamp_fields: Sequence[str],
    keep_audio: bool = False,
) -> pl.DataFrame:
    """One slice's event columns (every line: events and rejects). JSON lines go by one
    scan of their bytes and a columnar batch by its columns; a slice either path finds
    irregular, or a batch holding a row to reject (whose excerpt is its JSON text), goes
    as JSON records, the Polars way."""
    try:
        if isinstance(part, Lines):
            return extract_decoded(scan_lines(part, first_line, fid, timestamp_fields, keep_audio))
        out = extract_decoded(
            decode_columns(part.data, first_line, fid, timestamp_fields, keep_audio)
        )
        if out.get_column("reject").null_count() < out.height:
            raise Irregular("a row to reject")
        return out
    except Irregular:
        raw = part.frame(first_line)
    file = pl.lit(fid, dtype=pl.UInt32).alias("file")
    return extract_events(raw.with_columns(file), timestamp_fields, keep_audio)
