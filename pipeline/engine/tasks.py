"""Tasks: the engine-neutral units of a run, for any scheduler to run where it likes.

An engine is a scheduler over these: it decides where a file is read and where a group of
sessions is converted and delivered (this process, a process pool, Ray tasks, Spark
executors), and hands every outcome to the `Run` (engine/common.py), which owns the
accounting, the state and the audio. Each task is a plain function of picklable values;
the row codec turns a session's result into one flat row and back, for schedulers that
move results as tables (Ray Data, Spark).
"""

from __future__ import annotations

import pickle
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

import orjson
import polars as pl

from pipeline.config import RunConfig
from pipeline.core.attributes import MappingOptions
from pipeline.core.convert import convert_frame
from pipeline.core.sessionize import assign_sessions
from pipeline.plan import Selector
from pipeline.read.chunks import Part, Stored, concat_parts, write_part
from pipeline.read.load import LoadResult, ReadOptions, load_file
from pipeline.records import Encoder, ReportHook, SessionCounts, SessionSpans
from pipeline.send.deliver import Delivery, Status, send_run

__all__ = [
    "Job",
    "convert_chunk",
    "convert_rows",
    "deliver_rows",
    "load_keyed",
    "load_stored",
    "read_task",
    "result_columns",
    "row_session",
    "session_row",
]


def load_keyed(
    path: str, fid: int, options: ReadOptions, stop: threading.Event | None = None
) -> LoadResult:
    """Load one file and give its events their session keys."""
    loaded = load_file(path, fid, options, stop)
    t0 = time.perf_counter()
    loaded.events = assign_sessions(loaded.events)
    loaded.sessionize_seconds = time.perf_counter() - t0
    return loaded


def load_stored(
    path: str, fid: int, options: ReadOptions, directory: str
) -> tuple[LoadResult, Stored]:
    """Load one file, key its events and write them to the run's directory (a worker task):
    the parent gets the accounting and the session keys, never the events, which the
    worker converting them reads back from disk: the parent never unpickles, spills,
    concatenates and pickles every event again."""
    loaded = load_keyed(path, fid, options)
    stored = write_part(loaded.events, directory, fid)
    loaded.events = loaded.events.clear()  # on disk now: not pickled back to the parent
    return loaded, stored


def read_task(
    path: str, fid: int, options: ReadOptions
) -> tuple[pl.DataFrame, LoadResult, list[str]]:
    """One file read and keyed, for a scheduler that keeps the events itself (an object
    store, an executor's memory): the events, the accounting without them (for
    `Run.file_read`), and the sessions the file holds."""
    loaded = load_keyed(path, fid, options)
    events = loaded.events
    keys = events["session_key"].unique().to_list() if events.height else []
    loaded.events = events.clear()
    return events, loaded, keys


def convert_chunk(
    parts: list[Part],
    options: MappingOptions,
    selector: Selector,
    encode: Encoder,
    report: ReportHook | None = None,
) -> list[SessionSpans]:
    """Judge and convert the sessions of one chunk of files (a worker task); each result
    carries its own counts and verdict (and, for a run's report, its part of it)."""
    return list(convert_frame(concat_parts(parts), options, selector, encode, report))


@dataclass(frozen=True, slots=True)
class Job:
    """Everything a worker needs to convert and deliver, sent once with the tasks."""

    cfg: RunConfig  # its destination is partitioned: each delivery task writes its own parts
    selector: Selector
    partitions: int  # groups the sessions are split into (each delivers on its own)
    report: ReportHook | None = None  # the run's report: each session's part, made here


def convert_rows(events: pl.DataFrame, job: Job) -> list[dict[str, Any]]:
    """Whole sessions' events → one result row each (spans encoded for the destination)."""
    sel = job.selector.for_keys(set(events["session_key"].unique().to_list()))
    results = convert_frame(events, job.cfg.mapping, sel, job.cfg.destination.encoder, job.report)
    return [session_row(s) for s in results]


def deliver_rows(rows: list[dict[str, Any]], job: Job) -> list[dict[str, Any]]:
    """Deliver the converted sessions among `rows` from the worker, through a part file and
    dead letter of its own (no file is shared between processes); each row comes back with
    its spans counted and its status, the task's delivery counts on the first row."""
    todo = [
        row_session(r, list(r["spans"])) for r in rows if r["skipped"] is None and not r["failed"]
    ]
    done: dict[str, Status] = {}
    delivery = Delivery()
    if todo:
        cfg = job.cfg
        delivery = send_run(
            todo,
            cfg.destination.writer(),
            cfg.limits,
            cfg.service,
            threading.Event(),
            append=True,
            on_session=lambda s, status: done.__setitem__(s.session_key, status),
        )
    out = []
    for i, r in enumerate(rows):
        r = dict(r, spans=len(r["spans"]), status=done.get(r["session_key"], "failed"))
        r["send"] = orjson.dumps(asdict(delivery) if i == 0 else {}).decode()
        out.append(r)
    return out


def result_columns() -> list[tuple[str, str]]:
    """A result row's columns and their Arrow types (by name: the scheduler builds the schema)."""
    return [
        ("session_key", "string"),
        ("trace_id", "binary"),
        ("spans", "list<binary>"),
        ("start_ns", "int64"),
        ("end_ns", "int64"),
        ("incomplete", "bool"),
        ("failed", "bool"),
        ("counts", "string"),
        ("rejects", "string"),
        ("hash", "string"),
        ("skipped", "string"),  # "delivered", "outside", or null when converted
        ("changed", "bool"),
        ("report_part", "binary"),  # pickled: the session's part of the run's report
    ]


def session_row(sess: SessionSpans) -> dict[str, Any]:
    """A session's result as a row; its spans are bytes already (encoded for the destination)."""
    return {
        "session_key": sess.session_key,
        "trace_id": sess.trace_id,
        "spans": sess.spans,
        "start_ns": sess.start_ns,
        "end_ns": sess.end_ns,
        "incomplete": sess.incomplete,
        "failed": sess.failed,
        "counts": orjson.dumps(asdict(sess.counts)).decode(),
        "rejects": orjson.dumps(sess.rejects).decode(),
        "hash": sess.content_hash,
        "skipped": sess.skipped,
        "changed": sess.changed,
        "report_part": None if sess.report_part is None else pickle.dumps(sess.report_part),
    }


def row_session(row: dict[str, Any], spans: list[Any]) -> SessionSpans:
    """A result row back into the session it describes (with `spans` as given)."""
    return SessionSpans(
        row["session_key"],
        row["trace_id"],
        spans,
        row["start_ns"],
        row["end_ns"],
        SessionCounts(**orjson.loads(row["counts"])),
        row["incomplete"],
        rejects=[tuple(r) for r in orjson.loads(row["rejects"])],
        failed=row["failed"],
        skipped=row["skipped"],
        content_hash=row["hash"],
        changed=row["changed"],
        report_part=pickle.loads(part) if (part := row.get("report_part")) else None,
    )
