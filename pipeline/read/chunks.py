"""Chunks: hold extracted events per file (spilling to disk past a budget) and regroup
them into chunks of whole sessions, so memory stays flat however large the input.

Files that share a session key (rotated logs) form one component and always land
in the same chunk, so every session comes out whole. Only a component larger than
the chunk size makes a chunk larger than asked.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

DEFAULT_MEMORY_BUDGET = 64 * 1024 * 1024
DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024
SORT_KEYS = ["session_key", "ts_ns", "file", "line"]


@dataclass(slots=True)
class _Stored:
    fid: int
    keys: list[str]
    nbytes: int
    frame: pl.DataFrame | None
    path: Path | None

    def load(self) -> pl.DataFrame:
        if self.frame is not None:
            return self.frame
        assert self.path is not None
        return pl.read_ipc(self.path)


class EventStore:
    """Keyed event frames of the files read so far, in memory up to a budget, then on disk."""

    def __init__(
        self, memory_budget: int = DEFAULT_MEMORY_BUDGET, spill_dir: Path | None = None
    ) -> None:
        self.memory_budget = memory_budget
        self._spill_parent = spill_dir
        self._spill: Path | None = None
        self.in_memory = 0
        self.files: dict[int, _Stored] = {}
        self.spilled = 0

    def add(self, fid: int, frame: pl.DataFrame) -> None:
        """One file's events, with `session_key` already assigned."""
        keys = frame["session_key"].unique().to_list() if frame.height else []
        size = int(frame.estimated_size())
        if self.in_memory + size <= self.memory_budget:
            self.files[fid] = _Stored(fid, keys, size, frame, None)
            self.in_memory += size
            return
        if self._spill is None:
            self._spill = Path(tempfile.mkdtemp(prefix="realtrace-spill-", dir=self._spill_parent))
        path = self._spill / f"{fid}.arrow"
        frame.write_ipc(path, compression="lz4")
        self.files[fid] = _Stored(fid, keys, size, None, path)
        self.spilled += 1

    @property
    def total_bytes(self) -> int:
        return sum(s.nbytes for s in self.files.values())

    def keys(self) -> set[str]:
        return {k for s in self.files.values() for k in s.keys}

    def file_sessions(self) -> dict[int, list[str]]:
        return {fid: s.keys for fid, s in self.files.items()}

    def components(self) -> list[list[int]]:
        """Files grouped so that each session's files are in one group (union-find on keys)."""
        parent = {fid: fid for fid in self.files}

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        owner: dict[str, int] = {}
        for fid, s in self.files.items():
            for k in s.keys:
                other = owner.setdefault(k, fid)
                if other != fid:
                    ra, rb = find(fid), find(other)
                    if ra != rb:
                        parent[max(ra, rb)] = min(ra, rb)
        groups: dict[int, list[int]] = {}
        for fid in sorted(self.files):
            groups.setdefault(find(fid), []).append(fid)
        return sorted(groups.values())

    def chunks(self, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> Iterator[pl.DataFrame]:
        """Sorted frames of whole sessions, each about `chunk_bytes` of extracted events."""
        batch: list[int] = []
        size = 0
        for group in self.components():
            gsize = sum(self.files[f].nbytes for f in group)
            if batch and size + gsize > chunk_bytes:
                yield self._frame(batch)
                batch, size = [], 0
            batch += group
            size += gsize
        if batch:
            yield self._frame(batch)

    def _frame(self, fids: list[int]) -> pl.DataFrame:
        frames = [self.files[f].load() for f in fids]
        frames = [f for f in frames if f.height]
        if not frames:
            return pl.DataFrame()
        return pl.concat(frames, how="vertical").sort(SORT_KEYS)

    def close(self) -> None:
        if self._spill is not None:
            shutil.rmtree(self._spill, ignore_errors=True)
            self._spill = None

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
