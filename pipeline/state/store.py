"""State: what was delivered where, so reruns never re-send and never lose a session.

It stores what the run gives it (session outcomes with their content hashes, file
fingerprints with their sessions) and answers what was delivered; it computes none
of them.

SQLite (standard library) in WAL mode. A session is recorded as delivered only
after its last batch is acknowledged; files are recorded (with the sessions they
hold) only once all those sessions are delivered, so a killed run leaves the
state conservative: the rerun re-reads and re-checks, and sends what is missing.
An exclusive lock file keeps two runs from working on one state at once.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from pipeline import private
from pipeline.errors import StateError, StateLockedError
from pipeline.records import FileInfo

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    session_key  TEXT NOT NULL,
    destination  TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    status       TEXT NOT NULL,
    spans        INTEGER NOT NULL,
    start_ns     INTEGER,
    updated_at   REAL NOT NULL,
    PRIMARY KEY (session_key, destination)
);
CREATE TABLE IF NOT EXISTS files (
    path        TEXT NOT NULL,
    destination TEXT NOT NULL,
    size        INTEGER NOT NULL,
    mtime_ns    INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    sessions    TEXT NOT NULL,
    updated_at  REAL NOT NULL,
    PRIMARY KEY (path, destination)
);
CREATE TABLE IF NOT EXISTS outputs (
    destination TEXT PRIMARY KEY,
    length      INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS attachments (
    key         TEXT NOT NULL,
    destination TEXT NOT NULL,
    PRIMARY KEY (key, destination)
);
"""


SCHEMA_VERSION = 1  # PRAGMA user_version of the states this code writes
# the columns each table must have, as SCHEMA makes them
COLUMNS = {
    "sessions": [
        "session_key",
        "destination",
        "content_hash",
        "status",
        "spans",
        "start_ns",
        "updated_at",
    ],
    "files": ["path", "destination", "size", "mtime_ns", "fingerprint", "sessions", "updated_at"],
    "outputs": ["destination", "length"],
    "attachments": ["key", "destination"],
}

log = logging.getLogger("realtrace")


class StateStore:
    """The SQLite state of one destination; a context manager holding the run lock."""

    def __init__(self, path: Path, destination: str, wait: bool = False, lock: bool = True) -> None:
        private.mkdir(path.parent)
        self.path = path
        self.destination = destination
        self._lock: IO[str] | None = None
        if lock:  # readers (state show) need none: WAL lets them read while a run writes
            lock_path = Path(str(path) + ".lock")
            private.touch(lock_path)
            self._lock = open(lock_path, "a")  # noqa: SIM115 - held for the run
            try:
                fcntl.flock(self._lock, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                self._lock.close()
                raise StateLockedError(
                    f"another realtrace run is using {path}; wait for it to finish (or pass a different --state)"
                ) from None
        if path.exists() and path.stat().st_size == 0:
            log.warning(
                "state file %s is empty: starting a new state (every session counts as new)", path
            )
        try:
            private.touch(path)  # 0600 before SQLite creates it (its WAL files follow)
            with self._writing():
                self.db = sqlite3.connect(str(path), timeout=30, isolation_level=None)
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
                self._check_version()
                self.db.executescript(SCHEMA)
                self._check_columns()
        except OSError:
            self._unlock()
            raise
        except StateError:
            self.db.close()
            self._unlock()
            raise
        except sqlite3.DatabaseError as exc:
            self._unlock()
            raise StateError(
                f"state file {path} is not a usable realtrace state ({exc}): move it away to start "
                "over (sessions already delivered would be sent again), or pass --no-state"
            ) from None
        self._pending: list[tuple[Any, ...]] = []

    def _check_version(self) -> None:
        """A state written by another version of realtrace is refused before anything is
        read or sent: used as it is, it would send everything every night and fail at the
        end. One of this version's without a version number (older builds) is adopted."""
        (version,) = self.db.execute("PRAGMA user_version").fetchone()
        if version not in (0, SCHEMA_VERSION):
            raise StateError(
                f"state file {self.path} is of state version {version}, and this realtrace "
                f"reads version {SCHEMA_VERSION}: run the realtrace that wrote it, or move the "
                "file away to start over (sessions already delivered would be sent again)"
            )

    def _check_columns(self) -> None:
        for table, want in COLUMNS.items():
            have = [r[1] for r in self.db.execute(f"PRAGMA table_info({table})")]
            if have != want:
                raise StateError(
                    f"state file {self.path} is not of this realtrace's layout (table {table}: "
                    f"{', '.join(have)}): run the realtrace that wrote it, or move the file "
                    "away to start over (sessions already delivered would be sent again)"
                )
        self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """A failed state write (disk full) is an I/O error naming the state file."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "I/O" not in str(exc) and "full" not in str(exc):
                raise
            code = errno.ENOSPC if "full" in str(exc) else errno.EIO
            raise OSError(code, f"state not saved ({exc})", str(self.path)) from None

    def _unlock(self) -> None:
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    def close(self) -> None:
        """Release the store. Outcomes not flushed are dropped on purpose: for a file
        destination they are committed only together with the file's length, so a run
        that fails mid-way leaves them to the next run instead of recording bytes that
        the next run cuts away."""
        self.db.close()
        self._unlock()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- attachments ---------------------------------------------------------------

    def uploaded(self) -> set[str]:
        """Keys of the audio attachments uploaded for this destination (--audio upload)."""
        rows = self.db.execute(
            "SELECT key FROM attachments WHERE destination = ?", (self.destination,)
        )
        return {k for (k,) in rows}

    def record_uploaded(self, keys: Sequence[str]) -> None:
        with self._writing():
            self.db.executemany(
                "INSERT OR IGNORE INTO attachments (key, destination) VALUES (?, ?)",
                [(k, self.destination) for k in keys],
            )

    # -- sessions ------------------------------------------------------------------

    def delivered_hashes(self, keys: Iterable[str]) -> dict[str, str]:
        """Content hash of each key settled at this destination: delivered, or rejected by
        the backend (sending it again as it is would be refused again)."""
        out: dict[str, str] = {}
        keys = list(keys)
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            rows = self.db.execute(
                f"SELECT session_key, content_hash FROM sessions WHERE destination=? AND status IN ('delivered', 'rejected') AND session_key IN ({','.join('?' * len(chunk))})",
                [self.destination, *chunk],
            )
            out.update(dict(rows.fetchall()))
        return out

    def record_session(
        self, key: str, content_hash: str, status: str, spans: int, start_ns: int
    ) -> None:
        """Queued; written by `flush` (called once per acknowledged batch)."""
        self._pending.append(
            (
                key,
                self.destination,
                content_hash,
                status,  # delivered, rejected or failed
                spans,
                start_ns,
                time.time(),
            )
        )

    def committed_length(self) -> int | None:
        """Bytes of the output file that hold exactly the sessions recorded as delivered."""
        row = self.db.execute(
            "SELECT length FROM outputs WHERE destination=?", [self.destination]
        ).fetchone()
        return None if row is None else int(row[0])

    def flush(self, output_length: int | None = None) -> None:
        """Write queued outcomes in one transaction. A failure never overwrites an earlier
        delivery of the same content (that delivery still stands).

        For a file destination, `output_length` is committed in the same transaction:
        after a kill, a rerun cuts the file back to it, so the file holds each
        recorded session exactly once and nothing that is not recorded.
        """
        if not self._pending and output_length is None:
            return
        with self._writing(), self.db:
            self.db.execute("BEGIN IMMEDIATE")
            if output_length is not None:
                self.db.execute(
                    "INSERT INTO outputs VALUES (?, ?) ON CONFLICT(destination) "
                    "DO UPDATE SET length=excluded.length",
                    [self.destination, output_length],
                )
            self.db.executemany(
                "INSERT INTO sessions VALUES (?,?,?,?,?,?,?) ON CONFLICT(session_key, destination) DO UPDATE SET "
                "content_hash=excluded.content_hash, status=excluded.status, spans=excluded.spans, "
                "start_ns=excluded.start_ns, updated_at=excluded.updated_at "
                "WHERE NOT (excluded.status='failed' AND sessions.status='delivered' "
                "AND sessions.content_hash=excluded.content_hash)",
                self._pending,
            )
        self._pending.clear()

    # -- files ---------------------------------------------------------------------

    def known_files(self) -> dict[str, tuple[FileInfo, list[str]]]:
        rows = self.db.execute(
            "SELECT path, size, mtime_ns, fingerprint, sessions FROM files WHERE destination=?",
            [self.destination],
        )
        return {r[0]: (FileInfo(r[0], r[1], r[2], r[3]), _keys(r[4])) for r in rows}

    def record_files(self, files: Sequence[tuple[FileInfo, list[str]]]) -> None:
        now = time.time()
        with self._writing(), self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany(
                "INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?,?)",
                [
                    (
                        f.path,
                        self.destination,
                        f.size,
                        f.mtime_ns,
                        f.fingerprint,
                        json.dumps(sorted(keys)),  # keys may hold any character
                        now,
                    )
                    for f, keys in files
                ],
            )

    # -- inspection ----------------------------------------------------------------

    def summary(self) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT destination, status, COUNT(*), SUM(spans), MAX(updated_at) FROM sessions GROUP BY destination, status ORDER BY destination, status"
        )
        return [
            {"destination": d, "status": s, "sessions": n, "spans": sp, "last_update": ts}
            for d, s, n, sp, ts in rows
        ]

    def forget(self, session_keys: Sequence[str] = (), everywhere: bool = False) -> int:
        """Drop delivery records (this destination, or all with `everywhere`); returns sessions dropped.

        File records are dropped with them: they only let runs skip re-reading.
        """
        where, args = ("", []) if everywhere else (" WHERE destination=?", [self.destination])
        with self._writing(), self.db:
            self.db.execute("BEGIN IMMEDIATE")
            if not session_keys:
                self.db.execute("DELETE FROM outputs" + where, args)
            if session_keys:
                sep = " AND " if where else " WHERE "
                n = sum(
                    self.db.execute(
                        "DELETE FROM sessions" + where + sep + "session_key=?", [*args, k]
                    ).rowcount
                    for k in session_keys
                )
            else:
                n = self.db.execute("DELETE FROM sessions" + where, args).rowcount
            self.db.execute("DELETE FROM files" + where, args)
        return int(n)


def _keys(text: str) -> list[str]:
    """A file's session keys as stored: a JSON array (or, from older states, one per line)."""
    if text.startswith("["):
        return list(json.loads(text))
    return text.split("\n") if text else []
