"""Meter: bytes read so far, counted where files are read, for progress with totals.

One counter for the run: a plain integer in this process, or a shared one that worker
processes add to (`share`, given to each worker when it starts), so that a bar moves
inside one huge file and the log says how far reading has got, whoever reads.
"""

from __future__ import annotations

import multiprocessing
from typing import Any


class ByteMeter:
    def __init__(self) -> None:
        self._local = 0
        self._shared: Any = None  # multiprocessing.Value("q"), once workers read too

    def add(self, n: int) -> None:
        if self._shared is not None:
            with self._shared.get_lock():
                self._shared.value += n
        else:
            self._local += n

    @property
    def total(self) -> int:
        return self._local + (self._shared.value if self._shared is not None else 0)

    def share(self, ctx: Any = None) -> Any:
        """The counter worker processes add to (made on first use)."""
        if self._shared is None:
            self._shared = (ctx or multiprocessing).Value("q", 0)
        return self._shared

    def use(self, shared: Any) -> None:
        """In a worker: add to the run's shared counter."""
        self._shared = shared


METER = ByteMeter()


class Counted:
    """A binary file object whose reads are added to `METER`."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    def read(self, n: int = -1) -> bytes:
        data: bytes = self._raw.read(n)
        METER.add(len(data))
        return data

    def read1(self, n: int = -1) -> bytes:
        data: bytes = (self._raw.read1 if hasattr(self._raw, "read1") else self._raw.read)(n)
        METER.add(len(data))
        return data

    def readinto(self, buf: Any) -> int:
        n: int = self._raw.readinto(buf) or 0
        METER.add(n)
        return n

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)

    def __enter__(self) -> Counted:
        return self

    def __exit__(self, *exc: object) -> None:
        self._raw.close()
