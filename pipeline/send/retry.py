"""Retry: the sender that tries again on retryable failures, within the run's budget.

Exponential backoff with full jitter (tenacity), server-requested delays honoured
(Retry-After, gRPC RetryInfo), one time budget shared by the whole run (`Circuit`).
Clock and sleep are injected, so tests count attempts and waits without sleeping.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from tenacity import RetryCallState, Retrying, retry_if_result, wait_random_exponential

from pipeline.errors import CircuitOpenError, Interrupted, RetryableExportError
from pipeline.send.chain import Outcome, Payload, Sender

log = logging.getLogger("realtrace")

BACKOFF_MAX = 30.0  # seconds between two attempts at most, unless the server asks for more
WAIT_FLOOR = 0.1  # seconds between two attempts at least, even if a server asks for 0


class Clock(Protocol):
    """Where the retry sender reads the time and waits: the system's, or a test's fake one
    (waits that take no time and are counted)."""

    def now(self) -> float: ...

    def sleep(self, seconds: float, stop: threading.Event) -> None:
        """Wait `seconds`; raise Interrupted as soon as `stop` is set."""


class SystemClock:
    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float, stop: threading.Event) -> None:
        if stop.wait(seconds):
            raise Interrupted("stopped while waiting to retry")


SYSTEM_CLOCK = SystemClock()


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


def _retryable(out: Outcome) -> bool:
    return isinstance(out.error, RetryableExportError)


class RetrySender:
    """Send through `next_`, again while the failure is retryable and the budget lasts."""

    def __init__(
        self,
        next_: Sender,
        budget: float,
        *,
        clock: Clock = SYSTEM_CLOCK,
        stop: threading.Event | None = None,
        circuit: Circuit | None = None,
    ) -> None:
        self.next = next_
        self.budget = budget
        self.clock = clock.now
        self.stop = stop or threading.Event()
        self._clock = clock
        self.circuit = circuit or Circuit(budget, clock.now)
        self.backoff = wait_random_exponential(multiplier=0.5, max=BACKOFF_MAX)

    def sleep(self, seconds: float) -> None:
        self._clock.sleep(seconds, self.stop)

    def _wait(self, state: RetryCallState) -> float:
        out = state.outcome.result() if state.outcome else None
        delay = getattr(out.error, "delay", None) if out is not None else None
        wait = float(delay) if delay is not None else float(self.backoff(state))
        return max(wait, WAIT_FLOOR)

    def send(self, payload: Payload) -> Outcome:
        start = self.clock()
        requests = 0

        def attempt() -> Outcome:
            nonlocal requests
            if self.stop.is_set():
                return Outcome.failure(payload, Interrupted("stopped before sending"))
            try:
                self.circuit.check()
            except CircuitOpenError as exc:
                return Outcome.failure(payload, exc)
            out = self.next.send(payload)
            requests += out.requests
            if _retryable(out):
                self.circuit.failure()
            elif out.error is None:
                self.circuit.success()
            return out

        def give_up(state: RetryCallState) -> bool:
            return self.clock() - start + (state.upcoming_sleep or 0.0) >= self.budget

        def before_sleep(state: RetryCallState) -> None:
            out = state.outcome.result() if state.outcome else None
            log.info(
                "retry %d in %.1f s: %s",
                state.attempt_number,
                state.upcoming_sleep,
                out and out.error,
            )

        retrying = Retrying(
            retry=retry_if_result(_retryable),
            wait=self._wait,
            stop=give_up,
            sleep=self.sleep,
            before_sleep=before_sleep,
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
        )
        try:
            out: Outcome = retrying(attempt)
        except Interrupted as exc:
            out = Outcome.failure(payload, exc)
        attempts = max(requests, 1)
        out.requests, out.retries = requests, max(requests - 1, 0)
        if isinstance(out.error, RetryableExportError):
            out.error = self._exhausted(out.error, start, attempts)
        return out

    def _exhausted(
        self, exc: RetryableExportError, start: float, attempts: int
    ) -> RetryableExportError:
        """Why retrying stopped, in the words the user needs."""
        spent = self.clock() - start
        if exc.delay is not None and exc.delay > self.budget - spent:
            return RetryableExportError(
                f"the server asked to wait {exc.delay:.3g} s (Retry-After/RetryInfo), longer "
                f"than the {max(self.budget - spent, 0):.3g} s left of --max-retry-time: {exc}"
            )
        return RetryableExportError(
            f"no more retries left after {attempts} attempts over {spent:.1f} s: {exc}"
        )
