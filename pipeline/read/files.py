"""Files: the inputs a run reads, from paths, directories (recursive) and globs.

What cannot be read is reported as a `Reject` with the reason, never skipped silently.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json", ".log")
COMPRESSED_SUFFIXES = (".gz", ".zst", ".zstd")


@dataclass(frozen=True, slots=True)
class Reject:
    """One input record that could not become an event, with the reason why."""

    file: str
    line: int
    reason: str
    excerpt: str = ""


def find_inputs(inputs: Iterable[str | os.PathLike[str]]) -> tuple[list[str], list[Reject]]:
    """Files named by paths, directories (recursive) and globs; and what could not be read.

    Each real file is read once, under its resolved absolute path, so that session
    keys and state records do not depend on how a path was spelled (`logs` or
    `/abs/logs`, a symlinked alias). Sorting fixes the file order used to break
    timestamp ties. Unreadable directories, dangling symlinks, globs matching
    nothing and directories without logs are returned as file-level rejects.
    """
    found: set[str] = set()
    problems: list[Reject] = []
    for item in inputs:
        text = os.fspath(item)
        if is_remote(text):
            _find_remote(text, found, problems)
            continue
        if glob.has_magic(text):
            paths = [Path(p) for p in glob.glob(text, recursive=True)]
            if not paths:
                problems.append(Reject(text, 0, "glob matched no file"))
        else:
            paths = [Path(text)]
        for p in paths:
            if p.is_dir():
                before = len(found)
                _walk(p, found, problems)
                if len(found) == before:
                    problems.append(Reject(str(p), 0, "no log files in directory"))
            elif p.exists():
                found.add(os.path.realpath(p))
            elif p.is_symlink():
                problems.append(Reject(str(p), 0, "dangling symlink"))
            else:
                raise FileNotFoundError(f"input not found: {text}")
    return sorted(found), problems


def _find_remote(url: str, found: set[str], problems: list[Reject]) -> None:
    """Objects under an object-store prefix (s3://bucket/logs/), filtered like a directory."""
    from pipeline.read import remote

    try:
        urls = remote.list_files(url)
    except (OSError, PermissionError) as exc:
        problems.append(Reject(url, 0, f"cannot list: {exc}"[:300]))
        return
    logs = [u for u in urls if is_log_file(Path(u.partition("://")[2]))]
    if not logs:
        problems.append(Reject(url, 0, "no log files under this prefix"))
    found.update(logs)


def is_remote(path: str) -> bool:
    """A URL with a scheme other than file:// (s3://…) names objects, not local files."""
    scheme, sep, _ = path.partition("://")
    return bool(sep) and scheme not in ("", "file")


def _walk(root: Path, found: set[str], problems: list[Reject]) -> None:
    def unreadable(exc: OSError) -> None:
        problems.append(Reject(str(exc.filename), 0, f"unreadable directory: {exc.strerror}"))

    for dirpath, _, names in os.walk(root, onerror=unreadable, followlinks=True):
        for name in names:
            f = Path(dirpath) / name
            if not is_log_file(f):
                continue
            if f.exists():
                found.add(os.path.realpath(f))
            elif f.is_symlink():
                problems.append(Reject(str(f), 0, "dangling symlink"))


def is_log_file(path: Path) -> bool:
    """Whether a file found while walking a directory looks like an event log."""
    name = path.name.lower()
    for suffix in COMPRESSED_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name.endswith(JSONL_SUFFIXES) or name.endswith(".parquet")
