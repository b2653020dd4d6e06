"""Local engine: read into the event store, then convert and deliver chunk by chunk, on
this machine, in this process or in worker processes.

Loading is mostly single-threaded inside Polars and the state machine is
Python, so `--workers N` processes are what use a machine's cores. Workers get
plain data (paths, frames, options) and return plain data (frames, encoded
spans, counts): no shared state, the same functions a Ray or Spark task would
call. With one worker everything runs in-process, in order.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import resource_tracker
from types import ModuleType
from typing import Any, TypeVar

from pipeline.core.convert import convert_frame
from pipeline.engine.common import Run
from pipeline.engine.tasks import convert_chunk, load_keyed, load_stored
from pipeline.errors import Interrupted
from pipeline.plan import Selector
from pipeline.read.chunks import EventStore, Stored
from pipeline.read.files import Reject
from pipeline.read.formats import estimated_events
from pipeline.read.load import LoadResult, ReadOptions
from pipeline.read.meter import METER
from pipeline.read.raw import stored_bytes
from pipeline.records import SessionSpans
from pipeline.report import RunStats

R = TypeVar("R")
log = logging.getLogger("realtrace")
POLL = 0.1  # seconds between two looks at the run's stop while waiting on a worker


class Workers:
    """Worker processes for the whole run, reading first and converting next: one pool,
    so each process is spawned and imports its modules once.

    With one worker everything runs in this process, in order.
    """

    def __init__(self, n: int, stop: threading.Event | None = None) -> None:
        self.n = n
        self.stop = stop or threading.Event()
        self._pool: ProcessPoolExecutor | None = None
        self._saved: str | None = None
        self._main: ModuleType | None = None

    def __enter__(self) -> Workers:
        if self.n > 1:
            # One Polars thread per worker: the processes are the parallelism; more threads
            # than cores only contend. Children inherit the variable when they are spawned
            # (lazily, at the first submit), so it stays set while the pool lives.
            self._saved = os.environ.get("POLARS_MAX_THREADS")
            os.environ["POLARS_MAX_THREADS"] = "1"
            ctx = multiprocessing.get_context("spawn")  # Polars' thread pools do not survive fork
            self._main = _main_script()
            if self._main is not None:
                # Spawned children run the main *script* again before their first task: for
                # the `realtrace` console script that is the whole CLI (click, gRPC, requests)
                # in every worker. Named as the package's own __main__, the script is left
                # alone (tasks live in pipeline modules).
                self._main.__spec__ = importlib.util.find_spec("pipeline.cli.__main__")
            with signals_held():  # the helper process never sees a signal meant for the run
                resource_tracker.ensure_running()
            self._pool = ProcessPoolExecutor(
                max_workers=self.n,
                mp_context=ctx,
                initializer=_worker_start,
                initargs=(METER.share(ctx),),
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._main is not None:
            self._main.__spec__ = None
            self._main = None
        if self._saved is None:
            os.environ.pop("POLARS_MAX_THREADS", None)
        else:
            os.environ["POLARS_MAX_THREADS"] = self._saved

    def map(self, fn: Callable[..., R], items: Iterable[tuple[Any, ...]]) -> Iterator[R]:
        """`fn(*item)` for each item, results in input order, at most 2×workers in flight."""
        if self._pool is None:
            for item in items:
                yield fn(*item)
            return
        window: list[Future[R]] = []
        for item in items:
            with signals_held():  # a worker spawned now starts with the run's signals held
                window.append(self._pool.submit(fn, *item))
            if len(window) >= 2 * self.n:
                yield self._result(window.pop(0))
        for f in window:
            yield self._result(f)

    def _result(self, future: Future[R]) -> R:
        """A task's result; on a stop, the workers are ended at once (a worker reading one
        huge file would otherwise hold the run until its end)."""
        while True:
            try:
                return future.result(timeout=POLL)
            except FuturesTimeout:
                if not self.stop.is_set():
                    continue
            except BrokenProcessPool:
                if not self.stop.is_set():
                    raise
            pool = self._pool
            if pool is not None:
                for proc in list(getattr(pool, "_processes", {}).values()):
                    proc.kill()  # workers ignore the signals a stop comes from
                pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
            raise Interrupted("stopped while reading")


def _main_script() -> ModuleType | None:
    """The __main__ module when it is a script run by path (a console script), else None."""
    main = sys.modules.get("__main__")
    if main is None or getattr(main, "__spec__", None) is not None:
        return None
    return main if getattr(main, "__file__", None) else None


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """The run's stop signals held (blocked) in this thread for the duration: a process
    spawned meanwhile inherits them held, so a signal to the whole process group (Ctrl-C in a
    terminal, `timeout`, systemd's KillMode=control-group) cannot reach it before it ignores
    them; here, one that arrived meanwhile is delivered on leaving."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _worker_start(shared_meter: Any) -> None:
    """Each worker: leaves the stop signals to the run (which ends it when it stops), dies
    with its parent, counts the bytes it reads into the run's meter."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    die_with_parent()
    METER.use(shared_meter)


def die_with_parent() -> None:
    """A worker gets SIGKILL when its parent dies (kill -9 of a run leaves no orphans).

    Linux's PR_SET_PDEATHSIG; elsewhere a no-op (the pool's own shutdown still applies).
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before the call above
        os._exit(1)


def read_into(
    store: EventStore,
    files: Sequence[str],
    file_ids: Sequence[int],
    options: ReadOptions,
    stats: RunStats,
    workers: Workers | None = None,
    on_file: Callable[[], None] | None = None,
) -> list[Reject]:
    """Load files (in worker processes when there are some) into `store`, counting every line."""
    rejects: list[Reject] = []
    pairs = zip(files, file_ids, strict=True)
    if workers is None or workers.n <= 1:
        results: Iterator[tuple[LoadResult, Stored | None]] = (
            (load_keyed(f, fid, options, workers.stop if workers else None), None)
            for f, fid in pairs
        )
    else:
        directory = store.spill_dir()
        results = workers.map(load_stored, ((f, fid, options, directory) for f, fid in pairs))
    for fid, (loaded, stored) in zip(file_ids, results, strict=True):
        rejects += loaded.rejects
        log.debug(
            "read %s: %d lines, %d rejected, %.2f s",
            loaded.files[0] if loaded.files else fid,
            loaded.lines_read,
            len(loaded.rejects),
            loaded.seconds,
        )
        if stored is None:
            stats.count_loaded(loaded, loaded.events.height)
            store.add(fid, loaded.events)
        else:
            stats.count_loaded(loaded, stored.rows)
            store.add_stored(fid, stored)
        if on_file is not None:
            on_file()
    return rejects


AUTO_WORKERS_EVENTS = 100_000  # above the measured break-even (README, performance)


def auto_workers(files: list[str]) -> int:
    """One process per CPU (at most 4, at most one per file) when the input holds enough
    events to repay their start-up: worker processes pay off by events, not bytes (an
    audio-heavy log is mostly payload bytes, an events-dense one has ten times the events
    per byte); the break-even is measured in the README's performance section. Files are the unit of
    reading: with one big file a second process only waits."""
    if estimated_events(files) <= AUTO_WORKERS_EVENTS:
        return 1
    return max(1, min(os.cpu_count() or 1, 4, len(files)))


class LocalEngine:
    """This machine: one event store, one pool of worker processes for the whole run."""

    def run(self, run: Run) -> None:
        cfg = run.cfg
        n = cfg.workers if cfg.workers > 0 else auto_workers(run.files)
        with (
            EventStore(cfg.memory_budget, spill_dir=cfg.spill_dir) as store,
            Workers(n, run.stop) as workers,
        ):
            keys = _read(run, store, workers)
            selector = run.files_read(keys)
            run.send(run.converted(_convert_chunks(run, store, selector, workers)))


ENGINE = LocalEngine()


def _read(run: Run, store: EventStore, workers: Workers) -> set[str]:
    """Read what the plan says into the store; a second round reads old files that a new
    file continues (rotated logs). Returns the session keys read."""
    cfg, ids = run.cfg, run.ids
    todo = run.plan.first_pass(run.files)
    run.progress.set_phase("reading", stored_bytes(todo), "bytes", files=len(todo))
    keys: set[str] = set()
    while todo:
        run.rejects += read_into(
            store,
            todo,
            [ids[f] for f in todo],
            cfg.read_options,
            run.stats,
            workers,
            run.progress.file_read,
        )
        keys = store.keys()
        todo = run.pulled_in(run.plan.pull_in(keys))
        run.progress.add_total(stored_bytes(todo))
    run.file_sessions = store.file_sessions()
    return keys


def _convert_chunks(
    run: Run, store: EventStore, selector: Selector, workers: Workers
) -> Iterator[SessionSpans]:
    cfg = run.cfg
    encode = cfg.destination.encoder
    if workers.n <= 1:
        for chunk in store.chunks(cfg.chunk_bytes):
            if chunk.height:
                yield from convert_frame(chunk, cfg.mapping, selector, encode, run.report)
        return
    # Smaller chunks so that every worker has work; each carries only its sessions' state.
    chunk_bytes = max(1, min(cfg.chunk_bytes, store.total_bytes // (4 * workers.n) + 1))
    tasks = (
        (
            [s.part for s in batch],
            cfg.mapping,
            selector.for_keys({k for s in batch for k in s.keys}),
            encode,
            run.report,
        )
        for batch in store.chunk_parts(chunk_bytes)
        if any(s.rows for s in batch)
    )
    for sessions in workers.map(convert_chunk, tasks):
        yield from sessions
