"""Chunks: hold extracted events per file (spilling to disk past a budget) and regroup
them into chunks of whole sessions, so memory stays flat however large the input.

Files that share a session key (rotated logs) form one component and always land
in the same chunk, so every session comes out whole. Only a component larger than
the chunk size makes a chunk larger than asked.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

DEFAULT_MEMORY_BUDGET = 64 * 1024 * 1024
DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Part:
    """One file's keyed events: a frame, or the Arrow IPC file holding it (spilled here, or
    written by the worker that read the file, so the frame never passes through the run's
    own process)."""

    frame: pl.DataFrame | None
    path: str | None

    def load(self) -> pl.DataFrame:
        if self.frame is not None:
            return self.frame
        assert self.path is not None
        return pl.read_ipc(self.path)


def concat_parts(parts: Sequence[Part]) -> pl.DataFrame:
    """The parts' events as one frame (empty when they hold none)."""
    frames = [f for f in (p.load() for p in parts) if f.height]
    return pl.concat(frames, how="vertical") if frames else pl.DataFrame()


@dataclass(frozen=True, slots=True)
class Stored:
    """What the store keeps of one file: its session keys, size, and events."""

    keys: list[str]
    nbytes: int
    rows: int
    part: Part


def write_part(frame: pl.DataFrame, directory: str, fid: int) -> Stored:
    """A file's keyed events written to `directory` as Arrow IPC, described.

    zstd: it writes as fast as lz4, reads faster and takes half the disk, which a
    backfill's temporary files need (README, performance)."""
    path = os.path.join(directory, f"{fid}.arrow")
    try:
        frame.write_ipc(path, compression="zstd")
    except Exception as exc:  # Polars says "No space left on device" without the path
        code = getattr(exc, "errno", None) or (errno.ENOSPC if "space" in str(exc) else errno.EIO)
        raise OSError(code, f"temporary events not written ({exc}); set TMPDIR", path) from None
    return Stored(_session_keys(frame), int(frame.estimated_size()), frame.height, Part(None, path))


def _session_keys(frame: pl.DataFrame) -> list[str]:
    return frame["session_key"].unique().to_list() if frame.height else []


SPILL_PREFIX = "realtrace-spill-"


def remove_orphans(parent: Path) -> list[Path]:
    """Spill directories of runs that died without removing theirs (kill -9): those whose
    process is gone. Returns what was removed."""
    removed = []
    for d in parent.glob(f"{SPILL_PREFIX}*"):
        pid = d.name[len(SPILL_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        shutil.rmtree(d, ignore_errors=True)
        removed.append(d)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


class EventStore:
    """Keyed event frames of the files read so far, in memory up to a budget, then on disk."""

    def __init__(
        self, memory_budget: int = DEFAULT_MEMORY_BUDGET, spill_dir: Path | None = None
    ) -> None:
        self.memory_budget = memory_budget
        self._spill_parent = spill_dir
        self._spill: Path | None = None
        self.in_memory = 0
        self.files: dict[int, Stored] = {}
        self.spilled = 0

    def spill_dir(self) -> str:
        """The run's directory for events on disk (made at first use, removed at close;
        named after this process, so that a later run removes it if kill -9 left it)."""
        if self._spill is None:
            parent = self._spill_parent or Path(tempfile.gettempdir())
            remove_orphans(parent)
            self._spill = Path(tempfile.mkdtemp(prefix=f"{SPILL_PREFIX}{os.getpid()}-", dir=parent))
        return str(self._spill)

    def add(self, fid: int, frame: pl.DataFrame) -> None:
        """One file's events, with `session_key` already assigned."""
        size = int(frame.estimated_size())
        if self.in_memory + size <= self.memory_budget:
            self.files[fid] = Stored(_session_keys(frame), size, frame.height, Part(frame, None))
            self.in_memory += size
            return
        self.files[fid] = write_part(frame, self.spill_dir(), fid)
        self.spilled += 1

    def add_stored(self, fid: int, stored: Stored) -> None:
        """One file's events, already written to this store's directory by a worker."""
        self.files[fid] = stored

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

    def chunk_parts(self, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> Iterator[list[Stored]]:
        """Files of whole sessions, grouped in about `chunk_bytes` of extracted events."""
        batch: list[Stored] = []
        size = 0
        for group in self.components():
            gsize = sum(self.files[f].nbytes for f in group)
            if batch and size + gsize > chunk_bytes:
                yield batch
                batch, size = [], 0
            batch += [self.files[f] for f in group]
            size += gsize
        if batch:
            yield batch

    def chunks(self, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> Iterator[pl.DataFrame]:
        """Frames of whole sessions, each about `chunk_bytes` of extracted events, in no
        particular order: `convert_frame` sorts them where it runs."""
        for batch in self.chunk_parts(chunk_bytes):
            yield concat_parts([s.part for s in batch])

    def close(self) -> None:
        if self._spill is not None:
            shutil.rmtree(self._spill, ignore_errors=True)
            self._spill = None

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
