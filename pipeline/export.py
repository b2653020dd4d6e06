"""Export: retry, split and account for batches on top of a single-attempt transport.

A chain of small stages in the manner of the Collector's exporterhelper:
split-on-too-large → retry (tenacity: exponential backoff with full jitter,
server-requested delays honoured, bounded total time) → transport. `export_batch`
never raises: it returns what was delivered, rejected and what failed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_before_delay,
    wait_random_exponential,
)

from .batch import Batch
from .config import ExportConfig
from .encode import build_request
from .transport import (
    AuthError,
    PermanentExportError,
    RetryableExportError,
    TooLargeError,
    Transport,
)


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


class Exporter:
    """Sends batches through a transport; clocks and sleeping are injectable for tests."""

    def __init__(
        self,
        transport: Transport,
        cfg: ExportConfig,
        resource: Resource,
        sleep: Callable[[float], None] = time.sleep,
        backoff_max: float = 30.0,
    ) -> None:
        self.transport = transport
        self.cfg = cfg
        self.resource = resource
        self.sleep = sleep
        self.backoff = wait_random_exponential(multiplier=0.5, max=backoff_max)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetryableExportError) and exc.delay is not None:
            return exc.delay
        return float(self.backoff(state))

    def _send_with_retry(self, spans: list[Span], outcome: BatchOutcome) -> tuple[int, str]:
        request = build_request(spans, self.resource)
        attempts = 0

        def attempt() -> tuple[int, str]:
            nonlocal attempts
            attempts += 1
            outcome.requests += 1
            return self.transport.send(request)

        retrying = Retrying(
            retry=retry_if_exception_type(RetryableExportError),
            wait=self._wait,
            stop=stop_before_delay(self.cfg.max_retry_time),
            sleep=self.sleep,
            reraise=True,
        )
        start = time.monotonic()
        try:
            return retrying(attempt)
        except RetryableExportError as exc:
            raise RetryableExportError(
                f"no more retries left after {attempts} attempts over {time.monotonic() - start:.1f} s: {exc}"
            ) from None
        finally:
            outcome.retries += attempts - 1

    def _send(self, spans: list[Span], outcome: BatchOutcome) -> None:
        try:
            rejected, message = self._send_with_retry(spans, outcome)
        except TooLargeError as exc:
            if len(spans) == 1:
                outcome.failed.extend(spans)
                outcome.error = f"a single span is larger than the receiver accepts: {exc}"
                return
            half = len(spans) // 2
            self._send(spans[:half], outcome)
            self._send(spans[half:], outcome)
            return
        except PermanentExportError as exc:
            outcome.failed.extend(spans)
            outcome.error = f"not retryable: {exc}"
            outcome.auth_failed = isinstance(exc, AuthError)
            return
        except RetryableExportError as exc:
            outcome.failed.extend(spans)
            outcome.error = str(exc)
            return
        outcome.delivered += len(spans) - rejected
        if rejected:
            outcome.rejected += rejected
            outcome.rejected_message = message

    def export_batch(self, batch: Batch) -> BatchOutcome:
        """Deliver a batch, splitting on size limits; never raises."""
        outcome = BatchOutcome()
        self._send(batch.spans, outcome)
        return outcome
