"""Deliver: drive batches to the file or the network and account for every session.

A session counts as delivered only when every one of its spans was acknowledged
(file written, or the backend answered); any span that failed after retries goes
to the dead-letter file and the session is reported as not delivered.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from pipeline.config import ExportConfig
from pipeline.core.encode import build_request
from pipeline.core.model import SessionSpans
from pipeline.redact import Redactor
from pipeline.report import RunStats
from pipeline.send.batch import Batch, make_batches
from pipeline.send.retry import BatchOutcome, Exporter
from pipeline.send.sinks import JsonLinesFile
from pipeline.send.transport import make_transport

SessionDone = Callable[[SessionSpans, bool], None]


@dataclass(slots=True)
class _Pending:
    session: SessionSpans
    remaining: int
    failed: bool = False


class Ledger:
    """Per-session span accounting across batches (a session may span several)."""

    def __init__(self, on_done: SessionDone | None) -> None:
        self.open: dict[str, _Pending] = {}
        self.by_trace: dict[bytes, str] = {}
        self.on_done = on_done
        self.delivered = 0
        self.failed = 0

    def track(self, sessions: Iterable[SessionSpans]) -> Iterator[SessionSpans]:
        for s in sessions:
            self.open[s.session_key] = _Pending(s, s.span_count)
            self.by_trace[s.trace_id] = s.session_key
            yield s

    def settle(self, batch: Batch, outcome: BatchOutcome | None) -> None:
        failed_keys = (
            {self.by_trace.get(sp.trace_id) for sp in outcome.failed} if outcome else set()
        )
        if outcome is not None and outcome.rejected:
            # OTLP partial success does not say which spans: none of the batch's sessions
            # can be called delivered (the next run sends them again).
            failed_keys = set(batch.sessions)
        for key, n in batch.sessions.items():
            p = self.open[key]
            p.remaining -= n
            p.failed = p.failed or key in failed_keys
            if p.remaining == 0:
                self._finish(key, p)

    def _finish(self, key: str, p: _Pending) -> None:
        del self.open[key]
        self.by_trace.pop(p.session.trace_id, None)
        if p.failed:
            self.failed += 1
        else:
            self.delivered += 1
        if self.on_done is not None:
            self.on_done(p.session, not p.failed)

    def abandon(self) -> int:
        """Sessions still open when a run stops early: not delivered."""
        n = len(self.open)
        for key, p in list(self.open.items()):
            p.failed = True
            self._finish(key, p)
        return n


def _until(sessions: Iterable[SessionSpans], stop: threading.Event) -> Iterator[SessionSpans]:
    """Sessions until a stop is asked for (conversion stops with them)."""
    for sess in sessions:
        if stop.is_set():
            return
        yield sess


def deliver(
    sessions: Iterable[SessionSpans],
    *,
    resource: Resource,
    stats: RunStats,
    output: Path | None,
    export: ExportConfig | None,
    dead_letter: Path,
    max_batch_spans: int,
    max_batch_bytes: int,
    on_session: SessionDone | None = None,
    on_batch: Callable[[int, bool], None] | None = None,
    errors: list[str] | None = None,
    append: bool = False,
    stop: threading.Event | None = None,
) -> None:
    """Send every session (file or OTLP); fill `stats`; `errors` collects redacted messages.

    `on_session(session, delivered)` fires once per session when its last span is
    settled; `on_batch(spans_delivered, clean)` after each batch (state flush, progress),
    where `clean` says no session is half written (a file may be cut back to there).
    """
    stop = stop or threading.Event()
    ledger = Ledger(on_session)
    tracked = ledger.track(_until(sessions, stop))
    errors = errors if errors is not None else []
    if export is None:
        if output is None:
            raise ValueError("deliver needs an output file or an export destination")
        with JsonLinesFile(output, append=append) as out:
            out.touch()
            for batch in make_batches(
                tracked, max_batch_spans, max_batch_bytes, stats.stage_seconds
            ):
                if stop.is_set():
                    break
                t0 = time.perf_counter()
                out.write(build_request(batch.spans, resource))
                stats.add_time("send", time.perf_counter() - t0)
                stats.requests += 1
                stats.spans_delivered += len(batch.spans)
                ledger.settle(batch, None)
                if on_batch is not None:
                    on_batch(len(batch.spans), not ledger.open)
        ledger.abandon()  # sessions left half written by a stop: the next run writes them
        stats.sessions_delivered += ledger.delivered
        stats.sessions_failed += ledger.failed
        return
    redactor = Redactor(export.secrets)
    transport = make_transport(export, redactor)
    exporter = Exporter(transport, export, resource, stop=stop)
    dead = JsonLinesFile(dead_letter, append=True)
    aborted = False
    rejected_message: list[str] = []  # the first one: an outage says the same thing per batch

    def settle(batch: Batch, outcome: BatchOutcome) -> None:
        nonlocal aborted
        stats.add_time("send", outcome.seconds)
        stats.requests += outcome.requests
        stats.retries += outcome.retries
        stats.spans_delivered += outcome.delivered
        stats.spans_rejected_by_backend += outcome.rejected
        if outcome.rejected and not rejected_message:
            rejected_message.append(redactor(outcome.rejected_message or "no message"))
        if outcome.failed and not outcome.interrupted:
            dead.write(build_request(outcome.failed, resource))
            stats.spans_dead_lettered += len(outcome.failed)
        if outcome.error and outcome.error not in errors:
            errors.append(redactor(outcome.error))
        aborted = aborted or outcome.auth_failed
        ledger.settle(batch, outcome)
        if on_batch is not None:
            on_batch(outcome.delivered, True)

    try:
        with ThreadPoolExecutor(
            max_workers=export.concurrency, thread_name_prefix="realtrace-export"
        ) as pool:
            pending: dict[Future[BatchOutcome], Batch] = {}
            for batch in make_batches(
                tracked, export.max_batch_spans, export.max_batch_bytes, stats.stage_seconds
            ):
                while len(pending) >= export.concurrency:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for f in done:
                        settle(pending.pop(f), f.result())
                if aborted or stop.is_set():
                    break
                pending[pool.submit(exporter.export_batch, batch)] = batch
            for f in list(pending):
                settle(pending.pop(f), f.result())
    finally:
        transport.close()
        dead.close()
    if stop.is_set():
        ledger.abandon()  # counted as failed below; the next run sends them
    if aborted:
        # Credentials were refused: stop instead of failing every remaining batch.
        # Sessions not yet converted are not attempted (a rerun picks them up).
        ledger.abandon()
        stats.credentials_refused = True
        errors.append(
            "run stopped early: the endpoint refused the credentials; later sessions were not attempted"
        )
    if rejected_message:
        errors.append(
            f"the backend rejected {stats.spans_rejected_by_backend} spans (OTLP partial success; "
            f"first message: {rejected_message[0]}); their sessions count as not delivered"
        )
    stats.sessions_delivered += ledger.delivered
    stats.sessions_failed += ledger.failed
