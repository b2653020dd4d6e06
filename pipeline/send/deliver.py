"""Deliver: drive batches through any sender chain and account for every session.

A session counts as delivered only when every one of its spans was acknowledged
(file written, or the backend answered); a session with any span that failed
after retries (to the dead letter) or that the backend rejected is not delivered,
and the next run with a state sends it again. One function for `convert` and
`replay`, the file and the network.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from pipeline.core.encode import resource, spans_from_bytes
from pipeline.core.model import SessionSpans
from pipeline.redact import Redactor
from pipeline.send.batch import Batch, make_batches
from pipeline.send.chain import Outcome, Payload, Sender
from pipeline.send.destination import Destination
from pipeline.send.settings import BatchLimits

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


@dataclass(slots=True)
class Delivery:
    """What one `deliver` call did; the run folds it into its counts (`RunStats.absorb`:
    the fields share their names)."""

    sessions_delivered: int = 0
    sessions_failed: int = 0
    spans_delivered: int = 0
    spans_rejected_by_backend: int = 0
    spans_dead_lettered: int = 0
    requests: int = 0
    retries: int = 0
    stage_seconds: dict[str, float] = field(default_factory=dict)  # "send", summed over requests
    errors: list[str] = field(default_factory=list)  # redacted
    credentials_refused: bool = False


class _Run:
    """One `deliver` call's bookkeeping: counts, messages, whether to go on."""

    def __init__(self, ledger: Ledger, redactor: Redactor) -> None:
        self.counts = Delivery()
        self.ledger = ledger
        self.redactor = redactor
        self.errors: list[str] = []
        self.rejected_message = ""  # the first one: an outage says the same thing per batch
        self.auth_failed = False

    def settle(self, batch: Batch, out: Outcome, seconds: float) -> None:
        st = self.counts
        st.stage_seconds["send"] = st.stage_seconds.get("send", 0.0) + seconds
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
    concurrency: int = 1,
    redactor: Redactor | None = None,
    on_session: SessionDone | None = None,
    on_batch: Callable[[int, bool], None] | None = None,
    stop: threading.Event | None = None,
) -> Delivery:
    """Send every session through `sender`, `concurrency` batches at a time; count it all.

    `on_session(session, delivered)` fires once per session when its last span is
    settled; `on_batch(spans_delivered, clean)` after each batch (state flush, progress),
    where `clean` says no session is half sent (a file may be cut back to there).
    Returns what was delivered, failed and retried, with the error messages (redacted).
    """
    stop = stop or threading.Event()
    ledger = Ledger(on_session)
    run = _Run(ledger, redactor or Redactor(()))
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
    return _closing(run)


def _closing(run: _Run) -> Delivery:
    stats = run.counts
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
    stats.errors = errors
    return stats


def send_run(
    sessions: Iterable[SessionSpans],
    dest: Destination,
    limits: BatchLimits,
    service_name: str,
    stop: threading.Event,
    *,
    append: bool = False,
    on_session: SessionDone | None = None,
    on_batch: Callable[[int, bool], None] | None = None,
) -> Delivery:
    """A run's sessions through the chain of `dest`, with the run's resource, limits and
    secrets: what the local engine and each Ray delivery task do alike."""
    redactor = Redactor(dest.secrets)
    with dest.open_chain(stop, redactor, append) as (sender, concurrency):
        return deliver(
            sessions,
            sender,
            resource=resource(service_name),
            limits=limits,
            concurrency=concurrency,
            redactor=redactor,
            on_session=on_session,
            on_batch=on_batch,
            stop=stop,
        )
