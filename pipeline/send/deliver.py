"""Deliver: drive batches through any sender chain and account for every session.

A session counts as delivered only when every one of its spans was acknowledged
(file written, or the backend answered); a session with any span that failed
after retries (to the dead letter) or that the backend rejected is not delivered,
and the next run with a state sends it again. One function for `convert` and
`replay`, the file and the network.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from pipeline.config import BatchLimits, ExportConfig, RunConfig
from pipeline.core.encode import resource, spans_from_bytes
from pipeline.core.model import SessionSpans
from pipeline.redact import Redactor
from pipeline.report import RunStats
from pipeline.send.batch import Batch, make_batches
from pipeline.send.chain import (
    DeadLetterSender,
    FileSender,
    Outcome,
    Payload,
    Sender,
    SplitSender,
    TransportSender,
)
from pipeline.send.retry import RetrySender
from pipeline.send.sinks import JsonLinesFile

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

    def settle(self, batch: Batch, outcome: Outcome) -> None:
        failed_keys = {self.by_trace.get(sp.trace_id) for sp in spans_from_bytes(outcome.failed)}
        if outcome.rejected:
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

    def abandon(self) -> None:
        """Sessions still open when a run stops early: not delivered (the next run sends them)."""
        for key, p in list(self.open.items()):
            p.failed = True
            self._finish(key, p)


@dataclass(frozen=True, slots=True)
class Destination:
    """Where a run's spans go: a file, or an OTLP endpoint with its dead letter."""

    output: Path | None = None
    export: ExportConfig | None = None
    dead_letter: Path | None = None
    append: bool = False  # add to the file (a state tracks what it holds) instead of replacing it


@contextlib.contextmanager
def open_chain(
    dest: Destination, stop: threading.Event, redactor: Redactor
) -> Iterator[tuple[Sender, int]]:
    """The sender chain for a destination and how many sends it takes at once."""
    if dest.export is None:
        if dest.output is None:
            raise ValueError("a destination needs an output file or an export endpoint")
        with JsonLinesFile(dest.output, append=dest.append) as out:
            out.touch()
            yield FileSender(out), 1
        return
    if dest.dead_letter is None:
        raise ValueError("an export destination needs a dead-letter file")
    from pipeline.send.transport import make_transport  # gRPC and requests: network runs only

    transport = make_transport(dest.export, redactor)
    dead = JsonLinesFile(dest.dead_letter, append=True)
    retry = RetrySender(TransportSender(transport), dest.export.max_retry_time, stop=stop)
    try:
        yield DeadLetterSender(SplitSender(retry), dead), dest.export.concurrency
    finally:
        transport.close()
        dead.close()


class _Run:
    """One `deliver` call's bookkeeping: counts, messages, whether to go on."""

    def __init__(self, stats: RunStats, ledger: Ledger, redactor: Redactor) -> None:
        self.stats = stats
        self.ledger = ledger
        self.redactor = redactor
        self.errors: list[str] = []
        self.rejected_message = ""  # the first one: an outage says the same thing per batch
        self.auth_failed = False

    def settle(self, batch: Batch, out: Outcome, seconds: float) -> None:
        st = self.stats
        st.add_time("send", seconds)
        st.requests += out.requests
        st.retries += out.retries
        st.spans_delivered += out.delivered
        st.spans_rejected_by_backend += out.rejected
        st.spans_dead_lettered += out.dead_lettered
        if out.rejected and not self.rejected_message:
            self.rejected_message = self.redactor(out.rejected_message or "no message")
        message = out.message
        if message and not out.interrupted and self.redactor(message) not in self.errors:
            self.errors.append(self.redactor(message))
        self.auth_failed = self.auth_failed or out.auth_failed
        self.ledger.settle(batch, out)


def _timed(sender: Sender, payload: Payload) -> tuple[Outcome, float]:
    t0 = time.perf_counter()
    out = sender.send(payload)
    return out, time.perf_counter() - t0


def _until(sessions: Iterable[SessionSpans], stop: threading.Event) -> Iterator[SessionSpans]:
    """Sessions until a stop is asked for (conversion stops with them)."""
    for sess in sessions:
        if stop.is_set():
            return
        yield sess


def deliver(
    sessions: Iterable[SessionSpans],
    sender: Sender,
    *,
    resource: Resource,
    limits: BatchLimits,
    stats: RunStats,
    concurrency: int = 1,
    redactor: Redactor | None = None,
    on_session: SessionDone | None = None,
    on_batch: Callable[[int, bool], None] | None = None,
    stop: threading.Event | None = None,
) -> list[str]:
    """Send every session through `sender`, `concurrency` batches at a time; fill `stats`.

    `on_session(session, delivered)` fires once per session when its last span is
    settled; `on_batch(spans_delivered, clean)` after each batch (state flush, progress),
    where `clean` says no session is half sent (a file may be cut back to there).
    Returns the run's error messages, redacted.
    """
    stop = stop or threading.Event()
    ledger = Ledger(on_session)
    run = _Run(stats, ledger, redactor or Redactor(()))
    batches = make_batches(
        ledger.track(_until(sessions, stop)),
        limits.max_spans,
        limits.max_bytes,
    )

    def settle(batch: Batch, result: tuple[Outcome, float]) -> None:
        run.settle(batch, *result)
        if on_batch is not None:
            on_batch(result[0].delivered, not ledger.open)

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="realtrace-send") as pool:
        pending: dict[Future[tuple[Outcome, float]], Batch] = {}
        for batch in batches:
            if run.auth_failed or stop.is_set():
                break
            if concurrency == 1:  # in order, in this thread: a file is written as batches come
                settle(batch, _timed(sender, Payload(resource, batch.spans)))
                continue
            while len(pending) >= concurrency:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    settle(pending.pop(f), f.result())
            pending[pool.submit(_timed, sender, Payload(resource, batch.spans))] = batch
        for f in list(pending):
            settle(pending.pop(f), f.result())
    ledger.abandon()  # stopped, or credentials refused: the rest is not delivered
    return _closing_errors(run, stats)


def _closing_errors(run: _Run, stats: RunStats) -> list[str]:
    stats.sessions_delivered += run.ledger.delivered
    stats.sessions_failed += run.ledger.failed
    errors = run.errors
    if run.auth_failed:
        # Credentials were refused: stop instead of failing every remaining batch.
        stats.credentials_refused = True
        errors.append(
            "run stopped early: the endpoint refused the credentials; later sessions were not attempted"
        )
    if run.rejected_message:
        errors.append(
            f"the backend rejected {stats.spans_rejected_by_backend} spans (OTLP partial success; "
            f"first message: {run.rejected_message}); their sessions count as not delivered"
        )
    return errors


def send_run(
    sessions: Iterable[SessionSpans],
    cfg: RunConfig,
    dest: Destination,
    stats: RunStats,
    stop: threading.Event,
    on_session: SessionDone | None = None,
    on_batch: Callable[[int, bool], None] | None = None,
) -> list[str]:
    """A run's sessions through the chain for `dest`, with the run's resource, limits and
    secrets: what the local engine and each Ray delivery task do alike."""
    redactor = Redactor(cfg.export.secrets if cfg.export else ())
    with open_chain(dest, stop, redactor) as (sender, concurrency):
        return deliver(
            sessions,
            sender,
            resource=resource(cfg.service_name),
            limits=cfg.limits,
            stats=stats,
            concurrency=concurrency,
            redactor=redactor,
            on_session=on_session,
            on_batch=on_batch,
            stop=stop,
        )
