"""Private files: what realtrace writes holds transcripts (output, dead letter, rejected
spans, rejects, report, state), so it is created readable by its owner only (0600);
a file that exists keeps the permissions it has."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

MODE = 0o600


def create(path: Path, append: bool = False) -> int:
    """A file descriptor for writing `path` (truncated unless `append`), created 0600."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    return os.open(path, flags | getattr(os, "O_CLOEXEC", 0), MODE)


def open_text(path: Path, append: bool = False) -> IO[Any]:
    return os.fdopen(create(path, append), "a" if append else "w", encoding="utf-8")


def touch(path: Path) -> None:
    """Create `path` empty and 0600 if it does not exist yet (a state, a lock)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, MODE))
