"""Report: a run's counts, its exit code, the summary it prints and the JSON report it writes.

One place for what a run tells its user: the fields of `RunStats` are the
report's keys (each with its meaning, which the README's table is generated
from); `exit_code_for` picks the run's `ExitCode` (pipeline.errors) from them.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from pipeline import private
from pipeline.encode import json_line
from pipeline.errors import ExitCode
from pipeline.read.files import Reject
from pipeline.read.load import LoadResult
from pipeline.records import SessionSpans


def doc(text: str, default: Any = 0) -> Any:
    """A report field with its meaning (read by scripts/gen_docs.py for the README)."""
    return field(default=default, metadata={"doc": text})


@dataclass(slots=True)
class RunStats:
    """What a run read, converted and delivered; printed and written as the report."""

    files: int = doc("input files read")
    lines_read: int = doc("lines (or Parquet rows) read")
    blank_lines: int = doc("blank lines")
    lines_held: int = doc(
        "half-written last lines of logs still being written (within --settle): not rejected, "
        "read by a later run"
    )
    held_files: list[str] = field(
        default_factory=list,
        metadata={"doc": "files with a held half-written last line (not remembered as done)"},
    )
    events: int = doc("records that became events")
    unknown_events: int = doc("events of types realtrace does not know (kept, counted)")
    duplicate_events: int = doc(
        "events logged twice in a session (the same event_id; the same log in two files): dropped"
    )
    rejected_lines: int = doc("rejected lines and records (see the rejects file)")
    files_rejected: int = doc(
        "input files (or names) rejected whole: unreadable, empty, not JSON lines, no match"
    )
    sessions_unconvertible: int = doc("sessions whose conversion failed (each one reject)")
    app_spans: int = doc("spans made from app-written records")
    audio_clips: int = doc(
        "--audio: WAV clips rebuilt from the logged audio (a user input, a response)"
    )
    audio_skipped: dict[str, int] = field(
        default_factory=dict, metadata={"doc": "--audio: clips not made, by reason"}
    )
    audio_files_written: int = doc("--audio dir: WAV files written")
    audio_uploaded: int = doc("--audio upload: attachments uploaded to Braintrust")
    audio_upload_skipped: int = doc("--audio upload: attachments an earlier run uploaded")
    audio_sessions_inline: int = doc(
        "--audio upload: sessions sent with their audio inline, their upload having failed"
    )
    braintrust_org: str = doc(
        "--audio upload: the Braintrust organization used, when the key sees several "
        "(BRAINTRUST_ORG_NAME picks one; else the first, as Braintrust's SDKs do)",
        "",
    )
    session_rejects: list[tuple[int, int, str]] = field(
        default_factory=list,
        metadata={"doc": "(file id, line, reason) of bad app records and unconvertible sessions"},
    )
    rejects_by_reason: dict[str, int] = field(
        default_factory=dict, metadata={"doc": "rejects counted by reason"}
    )
    sessions: int = doc("sessions converted")
    sessions_incomplete: int = doc("sessions cut off (still exported)")
    sessions_skipped: int = doc("sessions already delivered unchanged (not sent)")
    sessions_outside_selection: int = doc("sessions outside --since/--until/--sessions-from")
    sessions_pending: int = doc(
        "sessions still being logged (last event within --settle, not ended): a later run sends them"
    )
    sessions_future: int = doc(
        "of the pending, sessions with events timed more than an hour after the run's clock "
        "(a wrong clock or bad timestamps): held by --settle until then; --settle 0 sends them"
    )
    sessions_changed: int = doc("sessions re-sent because their events changed")
    files_skipped: int = doc("files unchanged since delivered (not read)")
    files_reread: int = doc(
        "of the files read, unchanged ones read again: they hold a session a new file continues"
    )
    sessions_delivered: int = doc("sessions every span of which was acknowledged")
    sessions_rejected: int = doc(
        "sessions with spans the backend refused (in the rejected-spans file; not sent again)"
    )
    sessions_failed: int = doc("sessions not delivered (the next run sends them again)")
    spans: int = doc("spans converted")
    spans_delivered: int = doc("spans written or acknowledged")
    spans_rejected_by_backend: int = doc("spans refused by OTLP partial success")
    spans_dead_lettered: int = doc("spans written to the dead-letter file")
    requests: int = doc("export requests (or output lines)")
    retries: int = doc("retried requests")
    wall_seconds: float = doc("the run's wall time", 0.0)
    stage_seconds: dict[str, float] = field(
        default_factory=dict,
        metadata={
            "doc": "seconds per stage: read (files to events), sessionize (keying and ordering), "
            "reconstruct, attributes, encode, send (summed over concurrent requests; with "
            "--workers or Ray, summed over processes)"
        },
    )
    errors: list[str] = field(
        default_factory=list, metadata={"doc": "error messages (redacted), as printed on stderr"}
    )
    credentials_refused: bool = doc("the endpoint refused the credentials", False)
    io_failed: bool = doc(
        "a write failed (disk full, unwritable path): the run stopped there", False
    )

    def count_rejects(self, rejects: list[Reject]) -> None:
        for r in rejects:
            if r.whole_file:
                self.files_rejected += 1
            else:
                self.rejected_lines += r.count
            self.rejects_by_reason[r.kind] = self.rejects_by_reason.get(r.kind, 0) + r.count

    def add_time(self, stage: str, seconds: float) -> None:
        self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + seconds

    def count_loaded(self, loaded: LoadResult, events: int) -> None:
        """One file read: its accounting, and the `events` it yielded (its frame may have
        gone to disk in the worker that read it)."""
        self.add_time("read", loaded.seconds)
        self.add_time("sessionize", loaded.sessionize_seconds)
        self.files += 1
        self.lines_read += loaded.lines_read
        if loaded.held_lines:
            self.lines_held += loaded.held_lines
            self.held_files += loaded.files
        self.blank_lines += loaded.blank_lines
        self.events += events
        self.count_rejects(loaded.rejects)

    def fold(self, sess: SessionSpans) -> None:
        """Count one session's result (its own counts travel with it, from any engine)."""
        if sess.skipped is not None:
            if sess.skipped == "delivered":
                self.sessions_skipped += 1
            elif sess.skipped == "pending":
                self.sessions_pending += 1
            elif sess.skipped == "future":
                self.sessions_pending += 1
                self.sessions_future += 1
            else:
                self.sessions_outside_selection += 1
            return
        self.sessions_changed += int(sess.changed)
        self.session_rejects += sess.rejects
        c = sess.counts
        for stage in ("reconstruct", "attributes", "encode"):
            self.add_time(stage, getattr(c, f"ns_{stage}") / 1e9)
        if sess.failed:
            self.sessions_unconvertible += 1
            return
        self.sessions += 1
        self.spans += sess.span_count
        self.unknown_events += c.unknown_events
        self.duplicate_events += c.duplicate_events
        self.app_spans += c.app_spans
        self.audio_clips += c.audio_clips
        for reason, n in c.audio_skipped.items():
            self.audio_skipped[reason] = self.audio_skipped.get(reason, 0) + n
        self.sessions_incomplete += int(sess.incomplete)

    def absorb(self, other: Any) -> None:
        """Add another part of the run's counts to these: a Ray task's `RunStats`, or a
        `Delivery` (send.deliver), any dataclass whose fields share these names. Numbers add
        up, lists extend (error messages once each), counters per key add up, flags combine.
        New fields need no code here."""
        for f in fields(other):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if isinstance(mine, bool | str):
                setattr(self, f.name, mine or theirs)
            elif f.name == "errors":
                mine.extend(e for e in theirs if e not in mine)
            elif isinstance(mine, list):
                mine.extend(theirs)
            elif isinstance(mine, dict):
                for k, v in theirs.items():
                    mine[k] = mine.get(k, 0) + v
            else:
                setattr(self, f.name, mine + theirs)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


REPORT_EXTRA = {"throughput": "events_per_s and spans_per_s over the wall time"}


def report_keys() -> list[tuple[str, str]]:
    """(key, meaning) of every key of the `--report` JSON, in order."""
    return [(f.name, f.metadata["doc"]) for f in fields(RunStats)] + list(REPORT_EXTRA.items())


def write_rejects(path: Path, rejects: list[Reject], append: bool = False) -> None:
    """Rejects as JSON lines (file, line, reason, excerpt); always written so cron can check it.

    Line rejects are written once reading ends; rejects found while converting
    (bad app records, unconvertible sessions) are appended after.
    """
    private.mkdir(path.parent)
    with private.open_text(path, append) as fh:
        for r in rejects:
            row = {"file": r.file, "line": r.line, "reason": r.reason, "excerpt": r.excerpt}
            if r.count > 1:
                row["lines"] = r.count
            fh.write(json_line(row) + "\n")


def elapsed(start: float) -> float:
    return round(time.perf_counter() - start, 3)


def write_report(path: Path, stats: RunStats) -> None:
    """The run's counts as JSON, with throughput, for monitoring."""
    doc_ = stats.as_dict()
    secs = max(stats.wall_seconds, 1e-9)
    doc_["stage_seconds"] = {k: round(v, 3) for k, v in stats.stage_seconds.items()}
    doc_["throughput"] = {
        "events_per_s": round(stats.events / secs, 1),
        "spans_per_s": round(stats.spans / secs, 1),
    }
    with private.replacing(path, "w") as fh:
        fh.write(json.dumps(doc_, indent=2) + "\n")


def exit_code_for(stats: RunStats, strict: bool) -> ExitCode:
    """2 credentials refused; 3 some sessions not delivered (or their audio attachments: sent
    inline instead); 5 rejects under --strict; 4 nothing to do."""
    if stats.credentials_refused:
        return ExitCode.CONFIG
    if stats.io_failed:
        return ExitCode.IO
    if stats.sessions_failed or stats.spans_dead_lettered or stats.spans_rejected_by_backend:
        return ExitCode.NOT_DELIVERED
    if stats.audio_sessions_inline:
        return ExitCode.NOT_DELIVERED
    if any(r.startswith("unreadable") for r in stats.rejects_by_reason):
        return ExitCode.IO  # an input that could not be read (permissions, damage)
    if strict and (stats.rejected_lines or stats.files_rejected):
        return ExitCode.STRICT_REJECTS
    if stats.sessions == 0:
        return ExitCode.NOTHING_TO_DO
    return ExitCode.OK


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def error_lines(stats: RunStats) -> list[str]:
    """The run's errors, for stderr (printed even with --quiet)."""
    lines = [f"error: {e}" for e in stats.errors[:10]]
    if len(stats.errors) > 10:  # an outage fails many batches alike; the report has them all
        lines.append(f"error: … and {len(stats.errors) - 10} more (see --report)")
    return lines


def replay_summary_lines(stats: RunStats) -> list[str]:
    """The summary of a replay: what was read back and what became of it."""
    return [
        f"files read:          {stats.files}",
        f"traces:              {stats.sessions} ({stats.sessions_delivered} delivered, "
        f"{stats.sessions_rejected} with spans rejected, {stats.sessions_failed} not delivered)",
        f"spans:               {stats.spans} ({stats.spans_delivered} delivered, "
        f"{stats.spans_dead_lettered} to the retry file, "
        f"{stats.spans_rejected_by_backend} rejected by backend)",
        f"requests:            {stats.requests} ({stats.retries} retries)",
        f"wall time:           {stats.wall_seconds:.2f} s",
    ]


def _audio_lines(stats: RunStats) -> list[str]:
    if not (stats.audio_clips or stats.audio_skipped):
        return []
    done = [f"{stats.audio_clips} clips"]
    if stats.audio_files_written:
        done.append(f"{stats.audio_files_written} files written")
    if stats.audio_uploaded or stats.audio_upload_skipped:
        done.append(f"{stats.audio_uploaded} uploaded ({stats.audio_upload_skipped} already were)")
    if stats.audio_sessions_inline:
        done.append(f"{plural(stats.audio_sessions_inline, 'session')} sent inline (upload failed)")
    if stats.braintrust_org:
        done.append(f"organization {stats.braintrust_org}")
    skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(stats.audio_skipped.items()))
    return [
        f"audio:               {', '.join(done)}" + (f"; not made: {skipped}" if skipped else "")
    ]


def summary_lines(stats: RunStats) -> list[str]:
    """The short human summary printed at the end of a run."""
    lines = [
        f"files read:          {stats.files} ("
        + (
            f"{stats.files_reread} of them unchanged but holding a session continued in a new "
            "file; "
            if stats.files_reread
            else ""
        )
        + f"{stats.files_skipped} unchanged since delivered, not re-read"
        + (f"; {stats.files_rejected} rejected" if stats.files_rejected else "")
        + ")",
        f"lines read:          {stats.lines_read} ({stats.events} events, {stats.rejected_lines} rejected, {stats.blank_lines} blank)"
        + (
            f"; {stats.lines_held} half-written last line held (a log still being written)"
            if stats.lines_held
            else ""
        ),
        f"unknown event types: {stats.unknown_events}",
        *([f"app spans:           {stats.app_spans}"] if stats.app_spans else []),
        *_audio_lines(stats),
        *(
            [f"duplicate events:    {stats.duplicate_events} (logged twice, dropped)"]
            if stats.duplicate_events
            else []
        ),
        *(
            [
                f"unconvertible:       {plural(stats.sessions_unconvertible, 'session')} "
                "(see the rejects file)"
            ]
            if stats.sessions_unconvertible
            else []
        ),
        f"sessions:            {stats.sessions} converted ({stats.sessions_incomplete} incomplete, {stats.sessions_changed} changed since delivered), "
        f"{stats.sessions_skipped} skipped (already delivered), {stats.sessions_outside_selection} outside --since/--until/--sessions-from"
        + (
            f", {stats.sessions_pending} still being logged (--settle)"
            + (
                f", {stats.sessions_future} of them with events in the future (check the "
                "logs' timestamps and clocks; --settle 0 sends them now)"
                if stats.sessions_future
                else ""
            )
            if stats.sessions_pending
            else ""
        ),
        f"spans:               {stats.spans} ({stats.spans_delivered} delivered, {stats.spans_dead_lettered} dead-lettered, {stats.spans_rejected_by_backend} rejected by backend)",
        f"requests:            {stats.requests} ({stats.retries} retries)",
        f"wall time:           {stats.wall_seconds:.2f} s",
    ]
    if stats.spans_dead_lettered:
        lines.append(
            f"not delivered:       {plural(stats.sessions_failed, 'session')}, "
            f"{plural(stats.spans_dead_lettered, 'span')} in the dead-letter file"
        )
    if stats.rejects_by_reason:
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(stats.rejects_by_reason.items()))
        lines.insert(2, f"rejected by reason:  {reasons}")
    return lines
