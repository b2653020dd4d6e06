"""Parallel: run the pure stages (load a file; convert a chunk) in worker processes.

Loading is mostly single-threaded inside Polars and the state machine is
Python, so `--workers N` processes are what use a machine's cores. Workers get
plain data (paths, frames, options) and return plain data (frames, encoded
spans, counts): no shared state, the same functions a Ray or Spark task would
call. With one worker everything runs in-process, in order.
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from types import ModuleType
from typing import Any, TypeVar

from pipeline.core.attributes import MappingOptions
from pipeline.core.convert import Encoder, convert_frame
from pipeline.core.model import SessionSpans
from pipeline.core.sessionize import assign_sessions
from pipeline.read.chunks import EventStore, Part, Stored, concat_parts, write_part
from pipeline.read.files import Reject
from pipeline.read.load import LoadResult, load_file
from pipeline.read.selection import Selector
from pipeline.report import RunStats

T = TypeVar("T")
R = TypeVar("R")


def load_keyed(path: str, fid: int, timestamp_fields: Sequence[str]) -> LoadResult:
    """Load one file and give its events their session keys."""
    loaded = load_file(path, fid, timestamp_fields)
    t0 = time.perf_counter()
    loaded.events = assign_sessions(loaded.events, [path], [fid])
    loaded.sessionize_seconds = time.perf_counter() - t0
    return loaded


def load_stored(
    path: str, fid: int, timestamp_fields: Sequence[str], directory: str
) -> tuple[LoadResult, Stored]:
    """Load one file, key its events and write them to the run's directory (a worker task):
    the parent gets the accounting and the session keys, never the events, which the
    worker converting them reads back from disk. Measured on the 100 MB events-dense
    input: the parent's own CPU time fell from 1.73 to 0.75 s (it no longer unpickles,
    spills, concatenates and pickles every event again), and the run from 3.9 to 3.0 s."""
    loaded = load_keyed(path, fid, timestamp_fields)
    stored = write_part(loaded.events, directory, fid)
    loaded.events = loaded.events.clear()  # on disk now: not pickled back to the parent
    return loaded, stored


def convert_chunk(
    parts: list[Part], options: MappingOptions, selector: Selector, encode: Encoder
) -> list[SessionSpans]:
    """Judge and convert the sessions of one chunk of files (a worker task); each result
    carries its own counts and verdict."""
    return list(convert_frame(concat_parts(parts), options, selector, encode))


class Workers:
    """Worker processes for the whole run, reading first and converting next: one pool,
    so each process is spawned and imports its modules once (about 0.35 CPU-s apiece here).

    With one worker everything runs in this process, in order.
    """

    def __init__(self, n: int) -> None:
        self.n = n
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
                # the `realtrace` console script that is the whole CLI (click, gRPC, requests),
                # +0.5 CPU-s and +0.3 s wall per run on the dense bench. Named as the package's
                # own __main__, the script is left alone (tasks live in pipeline modules).
                self._main.__spec__ = importlib.util.find_spec("pipeline.cli.__main__")
            self._pool = ProcessPoolExecutor(
                max_workers=self.n, mp_context=ctx, initializer=die_with_parent
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is None:
            return
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
            window.append(self._pool.submit(fn, *item))
            if len(window) >= 2 * self.n:
                yield window.pop(0).result()
        for f in window:
            yield f.result()


def _main_script() -> ModuleType | None:
    """The __main__ module when it is a script run by path (a console script), else None."""
    main = sys.modules.get("__main__")
    if main is None or getattr(main, "__spec__", None) is not None:
        return None
    return main if getattr(main, "__file__", None) else None


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
    timestamp_fields: Sequence[str],
    stats: RunStats,
    workers: Workers | None = None,
    on_file: Callable[[], None] | None = None,
) -> list[Reject]:
    """Load files (in worker processes when there are some) into `store`, counting every line."""
    rejects: list[Reject] = []
    pairs = zip(files, file_ids, strict=True)
    if workers is None or workers.n <= 1:
        results: Iterator[tuple[LoadResult, Stored | None]] = (
            (load_keyed(f, fid, timestamp_fields), None) for f, fid in pairs
        )
    else:
        directory = store.spill_dir()
        results = workers.map(
            load_stored, ((f, fid, timestamp_fields, directory) for f, fid in pairs)
        )
    for fid, (loaded, stored) in zip(file_ids, results, strict=True):
        rejects += loaded.rejects
        if stored is None:
            stats.count_loaded(loaded, loaded.events.height)
            store.add(fid, loaded.events)
        else:
            stats.count_loaded(loaded, stored.rows)
            store.add_stored(fid, stored)
        if on_file is not None:
            on_file()
    return rejects
