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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import polars as pl

from pipeline.engine import tasks
from pipeline.engine.common import Run
from pipeline.engine.tasks import Job, read_task
from pipeline.errors import ConfigError
from pipeline.read.load import LoadResult, ReadOptions
from pipeline.send.deliver import Delivery

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


def read_file(path: str, fid: int, options: ReadOptions) -> tuple[Any, tuple[Any, int, list[str]]]:
    """A Ray task (`tasks.read_task`): the events as an Arrow table for the object store, and
    the accounting, event count and session keys for the driver."""
    events, loaded, keys = read_task(path, fid, options)
    return events.to_arrow(), (loaded, events.height, keys)


def result_schema() -> Any:
    """The Arrow schema of `tasks.result_columns` (pyarrow comes with Ray)."""
    import pyarrow as pa

    types = {"string": pa.string(), "binary": pa.binary(), "int64": pa.int64(),
             "bool": pa.bool_(), "list<binary>": pa.list_(pa.binary())}  # fmt: skip
    return pa.schema([(name, types[kind]) for name, kind in tasks.result_columns()])


def convert_group(table: Any, job: Job) -> Any:
    """Ray Data `map_groups`: one group's sessions → result rows (`tasks.convert_rows`)."""
    import pyarrow as pa

    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return pa.Table.from_pylist(tasks.convert_rows(frame, job), schema=result_schema())


def deliver_sessions(table: Any, job: Job) -> Any:
    """Ray Data `map_batches`: deliver from the worker (`tasks.deliver_rows`)."""
    import pyarrow as pa

    return pa.Table.from_pylist(tasks.deliver_rows(table.to_pylist(), job))


@dataclass(slots=True)
class RayRun:
    """The driver's side: read accounting, then per-session results as they arrive."""

    # per file read: (file id, its accounting, events, session keys)
    files_read: list[tuple[int, LoadResult, int, list[str]]] = field(default_factory=list)
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
        pending[info_ref] = fid
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        for ref in ready:
            fid = pending.pop(ref)
            run.files_read.append((fid, *ray.get(ref)))
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
                keys = {k for *_, file_keys in rr.files_read for k in file_keys}
                todo = run.pulled_in(plan.pull_in(keys))
            for fid, loaded, events, file_keys in sorted(rr.files_read, key=lambda r: r[0]):
                run.file_read(fid, loaded, events, file_keys)
            selector = run.files_read(keys)
            # enough partitions to keep every CPU busy, not so many that each delivers a handful
            cpus = int(ray.cluster_resources().get("CPU", 1))
            partitions = max(1, min(2 * cpus, len(keys) // 64 + 1))
            job = Job(cfg, selector, partitions, run.report)
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


def _record(run: Run, row: dict[str, Any]) -> None:
    """One session's result row from the cluster, into the run (`Run.settled`)."""
    send = orjson.loads(row["send"])
    if send:  # the delivery task's own counts (sessions delivered, requests…), on its first row
        run.delivered(Delivery(**send))
    run.settled(tasks.row_session(row, [None] * row["spans"]), row["status"])
