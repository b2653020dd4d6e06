"""Deliver: drive batches through a destination's sender chain and account for every session.

A session ends in one of three states. `delivered`: every span acknowledged (file
written, or the backend answered). `rejected`: the backend refused some of its spans
(OTLP partial success); they are in the rejected-spans file, and later runs do not send
the session again (retrying as it is would be refused again). `failed`: a span failed
after retries, or was never sent because the run stopped early; every such span is in
the dead letter, and the next run with a state sends the session again. One function
for `convert` and `replay`, the file and the network.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Literal

from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from pipeline.encode import resource, spans_from_bytes
from pipeline.records import SessionSpans
from pipeline.redact import Redactor
from pipeline.send.batch import Batch, make_batches
from pipeline.send.chain import Chain, Outcome, Payload, Sender
from pipeline.send.destination import Destination
from pipeline.send.settings import BatchLimits

Status = Literal["delivered", "rejected", "failed"]
SessionDone = Callable[[SessionSpans, Status], None]


@dataclass(slots=True)
class _Pending:
    session: SessionSpans
    remaining: int
    failed: bool = False
    rejected: bool = False


class Ledger:
    """Per-session span accounting across batches (a session may span several)."""

    def __init__(self, on_done: SessionDone | None) -> None:
        self.open: dict[str, _Pending] = {}
        self.by_trace: dict[bytes, str] = {}
        self.on_done = on_done
        self.counts: dict[Status, int] = {"delivered": 0, "rejected": 0, "failed": 0}

    def track(self, sessions: Iterable[SessionSpans]) -> Iterator[SessionSpans]:
        for s in sessions:
            self.open[s.session_key] = _Pending(s, s.span_count)
            self.by_trace[s.trace_id] = s.session_key
            yield s

    def _keys(self, spans: list[bytes]) -> set[str | None]:
        return (
            {self.by_trace.get(sp.trace_id) for sp in spans_from_bytes(spans)} if spans else set()
        )

    def settle(self, batch: Batch, outcome: Outcome) -> None:
        failed_keys = self._keys(outcome.failed)
        rejected_keys = self._keys(outcome.rejected_spans)
        if outcome.rejected and not outcome.rejected_spans:
            rejected_keys = set(batch.sessions)  # refused, not told apart: all of them
        for key, n in batch.sessions.items():
            p = self.open[key]
            p.remaining -= n
            p.failed = p.failed or key in failed_keys
            p.rejected = p.rejected or key in rejected_keys
            if p.remaining == 0:
                self._finish(key, p)

    def _finish(self, key: str, p: _Pending) -> None:
        del self.open[key]
        self.by_trace.pop(p.session.trace_id, None)
        status: Status = "failed" if p.failed else "rejected" if p.rejected else "delivered"
        self.counts[status] += 1
        if self.on_done is not None:
            self.on_done(p.session, status)

    def abandon(self) -> None:
        """Sessions still open at the end (none, unless a sender broke its contract)."""
        for key, p in list(self.open.items()):
            p.failed = True
            self._finish(key, p)


@dataclass(slots=True)
class Delivery:
    """What one `deliver` call did; the run folds it into its counts (`RunStats.absorb`:
    the fields share their names)."""

    sessions_delivered: int = 0
    sessions_rejected: int = 0
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


def _until(sessions: Iterable[SessionSpans], halt: threading.Event) -> Iterator[SessionSpans]:
    """Sessions until the run halts: the halt is looked at before the next session is
    pulled (converted), so that none is converted and then dropped."""
    it = iter(sessions)
    while not halt.is_set():
        sess = next(it, None)
        if sess is None:
            return
        yield sess


def deliver(
    sessions: Iterable[SessionSpans],
    chain: Chain,
    *,
    resource: Resource,
    limits: BatchLimits,
    redactor: Redactor | None = None,
    on_session: SessionDone | None = None,
    on_batch: Callable[[int, bool], None] | None = None,
    stop: threading.Event | None = None,
    drain: bool = False,
) -> Delivery:
    """Send every session through `chain`, `chain.concurrency` batches at a time; count it all.

    `on_session(session, status)` fires once per session when its last span is settled;
    `on_batch(spans_delivered, clean)` after each batch (state flush, progress), where
    `clean` says no session is half sent (a file may be cut back to there). A stop, or
    credentials refused, halts conversion; what was converted and not yet sent goes to
    `chain.unsent` (the dead letter), never on the wire; with `drain` (replay: sessions
    that are spans already, nothing to convert), every session still to come goes there
    too. Returns what was delivered, rejected, failed and retried, with the error
    messages (redacted).
    """
    stop = stop or threading.Event()
    halt = threading.Event()
    ledger = Ledger(on_session)
    run = _Run(ledger, redactor or Redactor(()))
    batches = make_batches(ledger.track(_until(sessions, halt)), limits.max_spans, limits.max_bytes)

    def settle(batch: Batch, result: tuple[Outcome, float]) -> None:
        run.settle(batch, *result)
        if on_batch is not None:
            on_batch(result[0].delivered, not ledger.open)

    concurrency = chain.concurrency
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="realtrace-send") as pool:
        pending: dict[Future[tuple[Outcome, float]], Batch] = {}
        for batch in batches:
            if run.auth_failed or stop.is_set():
                if not drain:
                    halt.set()  # the batcher flushes what it holds, and no session is converted
                settle(batch, _timed(chain.unsent, Payload(resource, batch.spans)))
                continue
            if concurrency == 1:  # in order, in this thread: a file is written as batches come
                settle(batch, _timed(chain.sender, Payload(resource, batch.spans)))
                continue
            while len(pending) >= concurrency:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    settle(pending.pop(f), f.result())
            pending[pool.submit(_timed, chain.sender, Payload(resource, batch.spans))] = batch
        for f in list(pending):
            settle(pending.pop(f), f.result())
    ledger.abandon()
    return _closing(run)


def _closing(run: _Run) -> Delivery:
    stats = run.counts
    stats.sessions_delivered += run.ledger.counts["delivered"]
    stats.sessions_rejected += run.ledger.counts["rejected"]
    stats.sessions_failed += run.ledger.counts["failed"]
    errors = run.errors
    if run.auth_failed:
        # Credentials were refused: stop instead of failing every remaining batch.
        stats.credentials_refused = True
        errors.append(
            "run stopped early: the endpoint refused the credentials; what was converted and "
            "not sent is in the dead letter, later sessions were not attempted"
        )
    if run.rejected_message:
        n = stats.sessions_rejected
        errors.append(
            f"the backend rejected {stats.spans_rejected_by_backend} spans of "
            f"{n} session{'s' * (n != 1)} (OTLP partial success; first message: "
            f"{run.rejected_message}); the requests holding them are in the rejected-spans "
            "file, never sent again by the run nor by later runs (replay the file once the "
            "cause is fixed)"
        )
    stats.errors = errors
    return stats


def send_run(
    sessions: Iterable[SessionSpans],
    dest: Destination,
    limits: BatchLimits,
    service: tuple[str, tuple[tuple[str, str], ...]],
    stop: threading.Event,
    *,
    append: bool = False,
    on_session: SessionDone | None = None,
    on_batch: Callable[[int, bool], None] | None = None,
) -> Delivery:
    """A run's sessions through the chain of `dest`, with the run's resource (`service`:
    its name and other attributes), limits and secrets: what the local engine and each
    Ray delivery task do alike."""
    redactor = Redactor(dest.secrets)
    with dest.open_chain(stop, redactor, append) as chain:
        return deliver(
            sessions,
            chain,
            resource=resource(*service),
            limits=limits,
            redactor=redactor,
            on_session=on_session,
            on_batch=on_batch,
            stop=stop,
        )
