"""Select: which files to read and which sessions to convert in this run.

Nightly runs over a growing directory should not re-read months of logs: a file
unchanged since it was fully delivered is skipped, unless a session it holds
also appears in a new or changed file (a rotated log), in which case it is read
again so that session comes out whole. Sessions are then filtered by the
backfill window, an explicit list, and the state (already delivered, unchanged).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.core.model import SessionEvents
from pipeline.state.store import FileInfo, StateStore, file_info, session_hash


@dataclass(slots=True)
class FilePlan:
    """Files to read now, and the sessions of files left unread (already delivered)."""

    infos: dict[str, FileInfo]
    unchanged: dict[str, list[str]]  # path -> its sessions, all delivered

    def first_pass(self, files: Sequence[str]) -> list[str]:
        return [f for f in files if f not in self.unchanged]

    def pull_in(self, keys: set[str]) -> list[str]:
        """Unchanged files that share a session with what was read: they must be read too."""
        extra = [p for p, sessions in self.unchanged.items() if keys.intersection(sessions)]
        for p in extra:
            del self.unchanged[p]
        return extra

    def skipped_sessions(self, read_keys: set[str]) -> set[str]:
        out: set[str] = set()
        for sessions in self.unchanged.values():
            out.update(sessions)
        return out - read_keys


def plan_files(files: Sequence[str], state: StateStore | None, full: bool) -> FilePlan:
    infos: dict[str, FileInfo] = {}
    unchanged: dict[str, list[str]] = {}
    if state is None:  # nothing to compare with or record: no fingerprint reads
        return FilePlan(infos, unchanged)
    for f in files:
        try:
            infos[f] = file_info(f)
        except OSError:
            continue  # unreadable: the loader reports it
    if not full:
        known = state.known_files()
        candidates = {
            p: known[p][1] for p in files if p in known and p in infos and known[p][0] == infos[p]
        }
        all_keys = {k for keys in candidates.values() for k in keys}
        delivered = state.delivered_hashes(all_keys)
        unchanged = {p: keys for p, keys in candidates.items() if all(k in delivered for k in keys)}
    return FilePlan(infos, unchanged)


@dataclass(slots=True)
class Selector:
    """The per-session filter run before reconstruction (cheap: no span is built for a skip)."""

    since_ns: int | None = None
    until_ns: int | None = None
    only: frozenset[str] | None = None
    delivered: dict[str, str] = field(default_factory=dict)
    full: bool = False
    skip_changed: bool = False
    hash_sessions: bool = True
    hashes: dict[str, str] = field(default_factory=dict)
    skipped_delivered: int = 0
    outside_window: int = 0
    changed: int = 0

    def for_keys(self, keys: set[str]) -> Selector:
        """A fresh copy for a worker: same rules, only these sessions' delivered hashes."""
        return Selector(
            since_ns=self.since_ns,
            until_ns=self.until_ns,
            only=self.only,
            delivered={k: self.delivered[k] for k in keys if k in self.delivered},
            full=self.full,
            skip_changed=self.skip_changed,
            hash_sessions=self.hash_sessions,
        )

    def absorb(self, other: Selector) -> None:
        """Fold a worker's copy back: its counts and the hashes of the sessions it kept."""
        self.skipped_delivered += other.skipped_delivered
        self.outside_window += other.outside_window
        self.changed += other.changed
        self.hashes.update(other.hashes)

    def __call__(self, se: SessionEvents) -> bool:
        key = se.key
        if self.only is not None and key not in self.only:
            self.outside_window += 1
            return False
        start = se.first_ns
        if (self.since_ns is not None and start < self.since_ns) or (
            self.until_ns is not None and start >= self.until_ns
        ):
            self.outside_window += 1
            return False
        if not self.hash_sessions:  # no state to compare with or record in
            return True
        h = session_hash(se)
        previous = self.delivered.get(key)
        if previous is not None and not self.full:
            if previous == h or self.skip_changed:
                self.skipped_delivered += 1
                return False
            self.changed += 1
        self.hashes[key] = h
        return True


def read_session_list(path: Path) -> frozenset[str]:
    """`--sessions-from`: one session key per line; blank lines and `#` comments ignored."""
    keys = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return frozenset(k for k in keys if k and not k.startswith("#"))
