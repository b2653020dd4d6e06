"""Files: the inputs a run reads, from paths, directories (recursive) and globs.

What cannot be read is reported as a `Reject` with the reason, never skipped silently.
"""

from __future__ import annotations

import glob
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pipeline.read.formats import log_suffixes
from pipeline.read.raw import COMPRESSED_SUFFIXES
from pipeline.read.remote import is_remote


@dataclass(frozen=True, slots=True)
class Reject:
    """One input record that could not become an event, with the reason why."""

    file: str
    line: int
    reason: str
    excerpt: str = ""
    count: int = 1  # lines it stands for (past a file's listed rejects, one per reason)
    whole_file: bool = False  # the file (or input name) itself, not lines of it

    @property
    def kind(self) -> str:
        """What the report counts it under: every reason is written `kind: detail` (or
        just `kind`) where it is made, so the kind is what comes before the first colon."""
        return self.reason.split(":", 1)[0]


def find_inputs(
    inputs: Iterable[str | os.PathLike[str]], exclude: Iterable[Path] = ()
) -> tuple[list[str], list[Reject]]:
    """Files named by paths, directories (recursive) and globs; and what could not be read.

    Each real file is read once, under its resolved absolute path, so that session
    keys and state records do not depend on how a path was spelled (`logs` or
    `/abs/logs`, a symlinked alias). Sorting fixes the file order used to break
    timestamp ties. Unreadable directories, dangling symlinks, special files (a FIFO
    would block a read forever), globs matching nothing and directories without logs
    are returned as file-level rejects. Directory symlinks are followed once each: a
    link back to an ancestor (`a -> .`) is a cycle, not more files. `exclude` names
    files never taken as input (the run's own output, rejects, report, dead letter).
    """
    found: set[str] = set()  # real paths (or object URLs)
    problems: list[Reject] = []
    skip = {os.path.realpath(p) for p in exclude}
    for item in inputs:
        text = os.fspath(item)
        if is_remote(text):
            _find_remote(text, found, problems)
            continue
        if glob.has_magic(text):
            paths = [Path(p) for p in glob.glob(text, recursive=True)]
            if not paths:
                problems.append(Reject(text, 0, "glob matched no file", whole_file=True))
        else:
            paths = [Path(text)]
        for p in paths:
            if p.is_dir():
                before = len(found)
                _walk(p, found, problems, skip)
                if len(found) == before:
                    problems.append(Reject(str(p), 0, "no log files in directory", whole_file=True))
            elif p.exists():
                _add_file(p, found, problems, skip)
            elif p.is_symlink():
                problems.append(Reject(str(p), 0, "dangling symlink", whole_file=True))
            else:
                raise FileNotFoundError(f"input not found: {text}")
    return sorted(found), problems


def _add_file(path: Path, found: set[str], problems: list[Reject], skip: set[str]) -> None:
    real = os.path.realpath(path)
    if real in skip:
        return
    try:
        mode = os.stat(real).st_mode
    except OSError as exc:
        problems.append(Reject(str(path), 0, f"unreadable file: {exc.strerror}", whole_file=True))
        return
    if not stat.S_ISREG(mode):
        problems.append(
            Reject(str(path), 0, "not a regular file (a FIFO, socket or device)", whole_file=True)
        )
        return
    found.add(real)


def _find_remote(url: str, found: set[str], problems: list[Reject]) -> None:
    """Objects under an object-store prefix (s3://bucket/logs/), filtered like a directory."""
    from pipeline.read import remote

    urls = remote.list_files(url)  # a store that cannot be listed is a configuration error
    logs = [u for u in urls if is_log_file(Path(u.partition("://")[2]))]
    if not logs:
        problems.append(Reject(url, 0, "no log files under this prefix", whole_file=True))
    found.update(logs)


def _walk(root: Path, found: set[str], problems: list[Reject], skip: set[str]) -> None:
    """Every log file under `root`, following directory symlinks once per directory (by
    device and inode), so that links back to an ancestor end instead of looping."""
    seen: set[tuple[int, int]] = set()
    todo = [root]
    while todo:
        directory = todo.pop()
        try:
            st = os.stat(directory)
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            problems.append(
                Reject(str(directory), 0, f"unreadable directory: {exc.strerror}", whole_file=True)
            )
            continue
        for entry in entries:
            path = Path(entry.path)
            try:
                is_dir = entry.is_dir()  # follows symlinks
            except OSError:
                is_dir = False
            if is_dir:
                if os.path.realpath(path) not in skip:
                    todo.append(path)
            elif is_log_file(path):
                if path.exists():
                    _add_file(path, found, problems, skip)
                elif path.is_symlink():
                    problems.append(Reject(str(path), 0, "dangling symlink", whole_file=True))


# logrotate's names: `app.log.1`, `app.jsonl.2.gz`, `app.log-20251124` (dateext)
_ROTATED = re.compile(r"(\.\d{1,4}|-\d{8}(\d{2})?)$")


def is_log_file(path: Path) -> bool:
    """Whether a file found while walking a directory looks like an event log (rotated
    copies included)."""
    name = path.name.lower()
    for suffix in COMPRESSED_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    name = _ROTATED.sub("", name)
    return name.endswith(log_suffixes())  # a name some input format reads
