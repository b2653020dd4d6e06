"""Ray engine: the same conversion on a Ray cluster, for backfills beyond one machine.

The driver lists files and plans with the state exactly as the local engine does;
Ray tasks read and extract them (audio payloads dropped there); Ray Data groups the
events by session key across all files (rotated files of one session meet in one
group); each group goes through `convert_frame`; batches of sessions are delivered
from the workers through the same sender chain (`open_chain`: batches, retries,
split on too large, dead letter). The driver receives per-session results, never
spans, and records them in the same state store as a local run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson
import polars as pl

from pipeline.config import RunConfig
from pipeline.core.convert import convert_frame
from pipeline.core.model import SessionCounts, SessionSpans
from pipeline.engine.common import Run
from pipeline.engine.local import load_keyed
from pipeline.errors import ConfigError
from pipeline.plan import Selector
from pipeline.read.files import Reject
from pipeline.read.load import ReadOptions
from pipeline.send.deliver import Delivery, Status, send_run

log = logging.getLogger("realtrace")

SESSIONS_PER_DELIVERY = 256  # sessions one delivery task sends (in batches of the usual limits)


def require_ray() -> Any:
    """The `ray` module, or a one-line error naming the extra to install."""
    try:
        import ray
        import ray.data
    except ImportError:
        raise ConfigError(
            "--engine ray needs Ray: pip install 'realtrace[ray]' (or use --engine local)"
        ) from None
    return ray


@dataclass(slots=True)
class FileRead:
    """What reading one file told the driver (its events stay in the object store)."""

    fid: int
    keys: list[str]
    rejects: list[Reject]
    lines_read: int
    blank_lines: int
    events: int
    seconds: float
    sessionize_seconds: float


def read_file(path: str, fid: int, options: ReadOptions) -> tuple[Any, FileRead]:
    """A Ray task: one file's events as an Arrow table (to the object store) and its accounting."""
    loaded = load_keyed(path, fid, options)
    ev = loaded.events
    keys = ev["session_key"].unique().to_list() if ev.height else []
    info = FileRead(
        fid,
        keys,
        loaded.rejects,
        loaded.lines_read,
        loaded.blank_lines,
        ev.height,
        loaded.seconds,
        loaded.sessionize_seconds,
    )
    return ev.to_arrow(), info


@dataclass(frozen=True, slots=True)
class Job:
    """Everything a worker needs, sent once with the tasks (no secrets logged)."""

    cfg: RunConfig  # its destination is partitioned: each delivery task writes its own parts
    selector: Selector
    partitions: int  # shuffle partitions of the group-by (each delivers on its own)


def convert_group(table: Any, job: Job) -> Any:
    """Ray Data `map_groups`: one session's events → one result row (spans serialized)."""
    import pyarrow as pa

    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    sel = job.selector.for_keys(set(frame["session_key"].unique().to_list()))
    results = convert_frame(frame, job.cfg.mapping, sel, job.cfg.destination.encoder)
    rows = [_result_row(s) for s in results]
    return pa.Table.from_pylist(rows, schema=result_schema())


def result_schema() -> Any:
    """The columns of a per-session result row (built lazily: pyarrow comes with Ray)."""
    import pyarrow as pa

    return pa.schema(
        [
            ("session_key", pa.string()),
            ("trace_id", pa.binary()),
            ("spans", pa.list_(pa.binary())),
            ("start_ns", pa.int64()),
            ("end_ns", pa.int64()),
            ("incomplete", pa.bool_()),
            ("failed", pa.bool_()),
            ("counts", pa.string()),
            ("rejects", pa.string()),
            ("hash", pa.string()),
            ("skipped", pa.string()),  # "delivered", "outside", or null when converted
            ("changed", pa.bool_()),
        ]
    )


def _result_row(sess: SessionSpans) -> dict[str, Any]:
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
    }


def _session(row: dict[str, Any], spans: list[Any]) -> SessionSpans:
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
    )


def deliver_sessions(table: Any, job: Job) -> Any:
    """Ray Data `map_batches`: deliver converted sessions from the worker; per-session results."""
    import pyarrow as pa

    rows = table.to_pylist()
    todo = [_session(r, list(r["spans"])) for r in rows if r["skipped"] is None and not r["failed"]]
    done: dict[str, Status] = {}
    delivery = Delivery()
    if todo:
        cfg = job.cfg
        # a part file of its own, and a dead-letter part (created only if something
        # fails): no file is shared between processes
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
        # the task's delivery counts travel on its first row
        r["send"] = orjson.dumps(asdict(delivery) if i == 0 else {}).decode()
        out.append(r)
    return pa.Table.from_pylist(out)


@dataclass(slots=True)
class RayRun:
    """The driver's side: read accounting, then per-session results as they arrive."""

    files_read: list[FileRead] = field(default_factory=list)
    tables: list[Any] = field(default_factory=list)


@contextlib.contextmanager
def ray_session(address: str | None, workers: int) -> Iterator[Any]:
    """Connect to a cluster (`--ray-address`) or start a local one with `workers` CPUs."""
    ray = require_ray()
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "logging_level": logging.WARNING,
        "configure_logging": True,
    }
    if address:
        kwargs["address"] = address
    else:
        kwargs["num_cpus"] = workers or os.cpu_count() or 1
    started = not ray.is_initialized()
    if started:
        os.environ.setdefault("RAY_DATA_DISABLE_PROGRESS_BARS", "1")
        ray.init(**kwargs)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def read_on_ray(
    ray: Any,
    run: RayRun,
    files: Sequence[str],
    ids: Sequence[int],
    options: ReadOptions,
    on_file: Callable[[], None],
) -> None:
    """Read files in Ray tasks; their tables stay in the object store, accounting comes back."""
    task = ray.remote(num_returns=2)(read_file)
    pending = {}
    for f, fid in zip(files, ids, strict=True):
        table_ref, info_ref = task.remote(f, fid, options)
        run.tables.append(table_ref)
        pending[info_ref] = f
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        for ref in ready:
            pending.pop(ref)
            run.files_read.append(ray.get(ref))
            on_file()


def convert_and_deliver(ray: Any, run: RayRun, job: Job) -> Iterator[dict[str, Any]]:
    """Group by session across all files, convert, deliver from the workers; yield results."""
    ds = ray.data.from_arrow_refs(run.tables)
    results = (
        ds.groupby("session_key", num_partitions=job.partitions)
        .map_groups(convert_group, batch_format="pyarrow", fn_kwargs={"job": job})
        .map_batches(
            deliver_sessions,
            batch_size=SESSIONS_PER_DELIVERY,
            batch_format="pyarrow",
            fn_kwargs={"job": job},
        )
    )
    yield from results.iter_rows()


class RayEngine:
    """A Ray cluster (`--ray-address`, or a local one started for the run)."""

    def run(self, run: Run) -> None:
        """The driver: read on Ray, then record per-session results as they arrive."""
        cfg, state, plan = run.cfg, run.state, run.plan
        with ray_session(cfg.ray_address, cfg.workers) as ray:
            rr = RayRun()
            todo = plan.first_pass(run.files)
            run.progress.set_phase("reading", total=len(todo), unit="files")  # read elsewhere
            keys: set[str] = set()
            while todo:  # rotated logs: old files that a new file continues, in a second round
                ids = run.ids
                read_on_ray(
                    ray,
                    rr,
                    todo,
                    [ids[f] for f in todo],
                    cfg.read_options,
                    run.progress.file_read,
                )
                keys = {k for fr in rr.files_read for k in fr.keys}
                todo = run.pulled_in(plan.pull_in(keys))
            _count_reads(run, rr)
            selector = run.files_read(keys)
            # enough partitions to keep every CPU busy, not so many that each delivers a handful
            cpus = int(ray.cluster_resources().get("CPU", 1))
            partitions = max(1, min(2 * cpus, len(keys) // 64 + 1))
            job = Job(cfg, selector, partitions)
            rows = convert_and_deliver(ray, rr, job) if rr.tables else iter(())
            try:
                for row in rows:
                    _record(run, row)
                    if run.stop.is_set():
                        break
            except Exception as exc:  # failed after Ray's own retries: keep what was acknowledged
                first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
                run.stats.errors.append(
                    f"the Ray job failed ({type(exc).__name__}: {first}); what was acknowledged "
                    "is recorded and the next run sends the rest"
                )
                run.stats.sessions_failed += max(len(keys) - len(run.outcome), 1)
            finally:
                # Stop Ray Data's executor thread before the session shuts down: left waiting
                # on the cluster, it aborted the process (exit 1) instead of the summary and 130.
                close = getattr(rows, "close", None)
                if close is not None:
                    close()
                if state is not None:
                    state.flush()


ENGINE = RayEngine()


def _count_reads(run: Run, rr: RayRun) -> None:
    for fr in sorted(rr.files_read, key=lambda f: f.fid):
        st = run.stats
        st.add_time("read", fr.seconds)
        st.add_time("sessionize", fr.sessionize_seconds)
        st.files += 1
        st.lines_read += fr.lines_read
        st.blank_lines += fr.blank_lines
        st.events += fr.events
        st.count_rejects(fr.rejects)
        run.rejects += fr.rejects
        run.file_sessions[fr.fid] = fr.keys


def _record(run: Run, row: dict[str, Any]) -> None:
    """One session's result from the cluster: counts, progress, state."""
    st = run.stats
    send = orjson.loads(row["send"])
    if send:  # the delivery task's own counts (sessions delivered, requests…), on its first row
        run.delivered(Delivery(**send))
    sess = _session(row, [None] * row["spans"])
    st.fold(sess)
    if sess.skipped is not None or sess.failed:
        return
    status: Status = row["status"]
    run.progress.converted(sess.span_count)
    run.progress.delivered(sess.span_count if status == "delivered" else 0)
    run.session_done(sess, status)
    if run.state is not None and st.sessions % 256 == 0:
        run.state.flush()
