"""Plan: which files a run reads and which sessions it converts, from the state's answers.

Nightly runs over a growing directory should not re-read months of logs: a file
unchanged since it was fully delivered is skipped, unless a session it holds
also appears in a new or changed file (a rotated log), in which case it is read
again so that session comes out whole. Sessions are then filtered by the
backfill window, an explicit list, and the state (already delivered, unchanged).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import orjson

from pipeline.core.model import SessionEvents
from pipeline.read.fingerprint import file_info
from pipeline.records import FileInfo, Verdict
from pipeline.state.store import StateStore


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


def session_hash(se: SessionEvents) -> str:
    """A stable content hash of a session's events (Polars' own hash is not stable across versions)."""
    return _hash(se, se.events)


def legacy_session_hash(se: SessionEvents) -> str:
    """The hash realtrace recorded before events kept their logged bytes: each event's text
    was then re-serialized compactly (as orjson writes it). A log written with spaces hashes
    differently now; compared with this one, a session delivered before the upgrade is still
    known unchanged instead of being sent again."""
    return _hash(se, [_compact(e) for e in se.events])


def _compact(event: str | None) -> str | None:
    try:
        return orjson.dumps(orjson.loads(event)).decode() if event else event
    except (ValueError, TypeError):  # not JSON, or beyond orjson: as it is
        return event


def _hash(se: SessionEvents, events: Sequence[str | None]) -> str:
    """An event logged twice (the same time, type and text: the same log copied under
    another name, read beside the original) counts once, as the replay drops it: a copy
    changes nothing. A session without such repeats hashes as it always did."""
    h = hashlib.sha256()
    seen: set[tuple[int, str, str | None]] = set()
    repeats = len(set(se.files)) > 1  # only a session read from two files can repeat a line
    for ts, etype, event in zip(se.ts, se.types, events, strict=True):
        if repeats:
            if (ts, etype, event) in seen:
                continue
            seen.add((ts, etype, event))
        h.update(f"{ts}\x1f{etype}\x1f{event or ''}\x1e".encode())
    h.update(
        f"{se.audio_events}/{se.audio_in_bytes}/{se.audio_out_bytes}/{se.audio_by_response}".encode()
    )
    return h.hexdigest()[:32]


FUTURE_SKEW_NS = 3600 * 1_000_000_000  # an hour of clock skew is not "the future" yet
CLOSING_TYPE = "app.session_end"  # an app record saying the call is over: settled at once


KEEP = Verdict()


@dataclass(frozen=True, slots=True)
class Selector:
    """The per-session filter run before reconstruction (cheap: no span is built for a skip).

    Pure: it judges a session and changes nothing, so a worker process or a Ray task uses
    it as it is; each verdict travels with its session's result to the run's counts.
    """

    since_ns: int | None = None
    until_ns: int | None = None
    only: frozenset[str] | None = None
    delivered: dict[str, str] = field(default_factory=dict)
    full: bool = False
    skip_changed: bool = False
    hash_sessions: bool = True
    # --settle: a session whose last event is after this time and that has not ended is
    # still being logged (a live call): held back for a later run
    settled_before_ns: int | None = None
    now_ns: int | None = None  # the run's clock: events after it are in the future

    def for_keys(self, keys: set[str]) -> Selector:
        """The same rules with only these sessions' delivered hashes (less to send a worker)."""
        subset = {k: self.delivered[k] for k in keys if k in self.delivered}
        return replace(self, delivered=subset)

    def __call__(self, se: SessionEvents) -> Verdict:
        key, start = se.key, se.first_ns
        if self.only is not None and key not in self.only:
            return Verdict("outside")
        if (self.since_ns is not None and start < self.since_ns) or (
            self.until_ns is not None and start >= self.until_ns
        ):
            return Verdict("outside")
        settled = self.settled_before_ns
        if settled is not None and se.last_ns > settled and CLOSING_TYPE not in se.types:
            # events timed after the run's own clock (plus an hour of skew): a wrong clock
            # or bad timestamps, held like a live call but said apart
            future = self.now_ns is not None and se.last_ns > self.now_ns + FUTURE_SKEW_NS
            return Verdict("future" if future else "pending")
        if not self.hash_sessions:  # no state to compare with or record in
            return KEEP
        h = session_hash(se)
        previous = self.delivered.get(key)
        if previous is None or self.full:
            return Verdict(None, h)
        if previous == h or self.skip_changed or previous == legacy_session_hash(se):
            return Verdict("delivered", h)
        return Verdict(None, h, changed=True)


def read_session_list(path: Path) -> frozenset[str]:
    """`--sessions-from`: one session key per line; blank lines and `#` comments ignored."""
    keys = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return frozenset(k for k in keys if k and not k.startswith("#"))
