"""Export: retry, split and account for batches on top of a single-attempt transport.

A chain of small stages in the manner of the Collector's exporterhelper:
split-on-too-large → retry (tenacity: exponential backoff with full jitter,
server-requested delays honoured, bounded total time) → transport. `export_batch`
never raises: it returns what was delivered, rejected and what failed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    wait_random_exponential,
)

from pipeline.config import ExportConfig
from pipeline.core.encode import build_request
from pipeline.send.batch import Batch
from pipeline.send.transport import (
    AuthError,
    PermanentExportError,
    RetryableExportError,
    TooLargeError,
    Transport,
)

log = logging.getLogger("realtrace")


@dataclass(slots=True)
class BatchOutcome:
    """What happened to one batch (after retries and splits)."""

    delivered: int = 0
    rejected: int = 0
    rejected_message: str = ""
    failed: list[Span] = field(default_factory=list)
    retries: int = 0
    requests: int = 0
    error: str | None = None
    auth_failed: bool = False
    interrupted: bool = False  # failed spans were never refused: not for the dead letter
    seconds: float = 0.0  # wall time of the batch, retries and waits included


class Circuit:
    """The run's retry budget, shared by every batch: once the endpoint has answered
    nothing but retryable failures for `budget` seconds, the remaining batches fail at
    once (to the dead letter) instead of each waiting out a budget of its own."""

    def __init__(self, budget: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.budget = budget
        self.clock = clock
        self.failing_since: float | None = None
        self._lock = threading.Lock()

    def failure(self) -> None:
        with self._lock:
            if self.failing_since is None:
                self.failing_since = self.clock()

    def success(self) -> None:
        with self._lock:
            self.failing_since = None

    def check(self) -> None:
        """Raise CircuitOpenError once the endpoint has been failing for the whole budget."""
        since = self.failing_since
        if since is not None and self.clock() - since >= self.budget:
            raise CircuitOpenError(
                f"the endpoint has been failing for {self.clock() - since:.0f} s "
                f"(--max-retry-time {self.budget:g}): gave up on the remaining batches"
            )


class CircuitOpenError(PermanentExportError):
    """The run's retry budget is spent: fail the batch at once."""


class Interrupted(PermanentExportError):
    """The run was asked to stop (SIGINT/SIGTERM): no more attempts, no more waiting."""


class Exporter:
    """Sends batches through a transport; clock and sleep are injected, so retry tests
    count attempts and waits without sleeping."""

    def __init__(
        self,
        transport: Transport,
        cfg: ExportConfig,
        resource: Resource,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        circuit: Circuit | None = None,
        backoff_max: float = 30.0,
        stop: threading.Event | None = None,
    ) -> None:
        self.transport = transport
        self.cfg = cfg
        self.resource = resource
        self.stop = stop or threading.Event()
        self.sleep = sleep if stop is None else self._interruptible
        self.clock = clock
        self.circuit = circuit or Circuit(cfg.max_retry_time, clock)
        self.backoff = wait_random_exponential(multiplier=0.5, max=backoff_max)
        self.fits = 1 << 62  # spans per request, lowered when the receiver says too large

    def _interruptible(self, seconds: float) -> None:
        if self.stop.wait(seconds):
            raise Interrupted("stopped while waiting to retry")

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetryableExportError) and exc.delay is not None:
            return exc.delay
        return float(self.backoff(state))

    def _send_with_retry(self, spans: list[Span], outcome: BatchOutcome) -> tuple[int, str]:
        request = build_request(spans, self.resource)
        start = self.clock()
        budget = self.cfg.max_retry_time
        attempts = 0

        def attempt() -> tuple[int, str]:
            nonlocal attempts
            if self.stop.is_set():
                raise Interrupted("stopped before sending")
            self.circuit.check()
            attempts += 1
            outcome.requests += 1
            try:
                result = self.transport.send(request)
            except RetryableExportError:
                self.circuit.failure()
                raise
            self.circuit.success()
            return result

        def stop(state: RetryCallState) -> bool:
            return self.clock() - start + (state.upcoming_sleep or 0.0) >= budget

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.info("retry %d in %.1f s: %s", state.attempt_number, state.upcoming_sleep, exc)

        retrying = Retrying(
            retry=retry_if_exception_type(RetryableExportError),
            wait=self._wait,
            stop=stop,
            sleep=self.sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except RetryableExportError as exc:
            left = budget - (self.clock() - start)
            if exc.delay is not None and exc.delay > left:
                raise RetryableExportError(
                    f"the server asked to wait {exc.delay:.0f} s (Retry-After/RetryInfo), longer "
                    f"than the {max(left, 0):.0f} s left of --max-retry-time: {exc}"
                ) from None
            raise RetryableExportError(
                f"no more retries left after {attempts} attempts over "
                f"{self.clock() - start:.1f} s: {exc}"
            ) from None
        finally:
            outcome.retries += max(attempts - 1, 0)

    def _send(self, spans: list[Span], outcome: BatchOutcome) -> None:
        """Send, splitting in halves on "too large"; the size that worked is remembered for
        the rest of the run, so later batches do not start again at the refused size."""
        if len(spans) > self.fits:
            half = len(spans) // 2
            self._send(spans[:half], outcome)
            self._send(spans[half:], outcome)
            return
        try:
            rejected, message = self._send_with_retry(spans, outcome)
        except TooLargeError as exc:
            if len(spans) == 1:
                outcome.failed.extend(spans)
                outcome.error = f"a single span is larger than the receiver accepts: {exc}"
                return
            self.fits = min(self.fits, len(spans) - 1)
            half = len(spans) // 2
            self._send(spans[:half], outcome)
            self._send(spans[half:], outcome)
            return
        except Interrupted:
            outcome.failed.extend(spans)
            outcome.interrupted = True
            return
        except PermanentExportError as exc:
            outcome.failed.extend(spans)
            outcome.error = (
                str(exc) if isinstance(exc, CircuitOpenError) else f"not retryable: {exc}"
            )
            outcome.auth_failed = isinstance(exc, AuthError)
            return
        except RetryableExportError as exc:
            outcome.failed.extend(spans)
            outcome.error = str(exc)
            return
        rejected = min(max(rejected, 0), len(spans))  # a backend's count is not trusted blindly
        outcome.delivered += len(spans) - rejected
        if rejected:
            outcome.rejected += rejected
            outcome.rejected_message = message

    def export_batch(self, batch: Batch) -> BatchOutcome:
        """Deliver a batch, splitting on size limits; never raises."""
        outcome = BatchOutcome()
        started = time.perf_counter()
        self._send(batch.spans, outcome)
        outcome.seconds = time.perf_counter() - started
        return outcome
