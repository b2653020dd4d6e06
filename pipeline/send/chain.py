"""The delivery chain: small senders with one method each, in the shape of the OTel
Collector's exporterhelper.

    network: DeadLetterSender → SplitSender → RetrySender → TransportSender (gRPC | HTTP)
    file:    FileSender

Every sender takes a `Payload` (a resource and its spans) and returns an `Outcome`;
none raises for a failed export. A failure travels up as a typed error inside the
outcome, so each wrapper acts on the errors that are its business (retry on
retryable ones, split on "too large", dead-letter what is left) and passes the rest on.
`deliver` drives any chain and is the same for `convert` and `replay`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Protocol

from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from pipeline.encode import build_request, request_bytes, request_json_from_spans, spans_from_bytes
from pipeline.errors import (
    AuthError,
    CircuitOpenError,
    ExportError,
    Interrupted,
    PermanentExportError,
    TooLargeError,
)
from pipeline.send.sinks import JsonLinesFile


@dataclass(slots=True)
class Payload:
    """Spans of one resource, on their way to one request (or several, once split)."""

    resource: Resource
    spans: list[bytes]  # serialized OTLP protobuf spans, or OTLP/JSON ones for a file

    def halves(self) -> tuple[Payload, Payload]:
        mid = len(self.spans) // 2
        return Payload(self.resource, self.spans[:mid]), Payload(self.resource, self.spans[mid:])


@dataclass(slots=True)
class Outcome:
    """What happened to a payload: counts, the spans that failed and the error that failed
    them (the first one, typed, so that wrappers can act on it)."""

    delivered: int = 0
    rejected: int = 0  # refused by the backend in an OTLP partial success
    rejected_message: str = ""
    # the spans of the requests answered with a partial success (which of them were refused
    # the answer does not say): kept in the rejected-spans file, never sent again by the run
    rejected_spans: list[bytes] = field(default_factory=list)
    failed: list[bytes] = field(default_factory=list)
    dead_lettered: int = 0
    requests: int = 0
    retries: int = 0
    error: ExportError | None = None

    @classmethod
    def failure(cls, payload: Payload, error: ExportError, requests: int = 0) -> Outcome:
        return cls(failed=list(payload.spans), requests=requests, error=error)

    def add(self, other: Outcome) -> None:
        """Fold the outcome of a part of the same payload into this one."""
        self.delivered += other.delivered
        self.rejected += other.rejected
        self.rejected_message = self.rejected_message or other.rejected_message
        self.rejected_spans += other.rejected_spans
        self.failed += other.failed
        self.dead_lettered += other.dead_lettered
        self.requests += other.requests
        self.retries += other.retries
        self.error = self.error or other.error

    @property
    def interrupted(self) -> bool:
        """Failed spans were never refused: they are not for the dead letter."""
        return isinstance(self.error, Interrupted)

    @property
    def auth_failed(self) -> bool:
        return isinstance(self.error, AuthError)

    @property
    def message(self) -> str | None:
        """The error as the user reads it."""
        err = self.error
        if err is None:
            return None
        if isinstance(err, PermanentExportError) and not isinstance(
            err, CircuitOpenError | Interrupted
        ):
            return f"not retryable: {err}"
        return str(err)


class Sender(Protocol):
    def send(self, payload: Payload) -> Outcome: ...


@dataclass(slots=True)
class Chain:
    """A destination's senders: `sender` for a run's payloads, `concurrency` of them at
    once, and `unsent` for what a run stopping early still holds (never the wire: the
    dead letter, or the file)."""

    sender: Sender
    concurrency: int
    unsent: Sender


class Transport(Protocol):
    """One OTLP request over the wire (gRPC or HTTP, in `transport`, imported only by
    exporting runs: a run writing a file never imports gRPC and requests)."""

    def send(self, body: bytes) -> tuple[int, str]:
        """Send once; return (rejected span count, rejection message) or raise ExportError."""

    def close(self) -> None: ...


class TransportSender:
    """One attempt over the wire; the transport's typed errors become the outcome's."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def send(self, payload: Payload) -> Outcome:
        try:
            rejected, message = self.transport.send(request_bytes(payload.spans, payload.resource))
        except ExportError as exc:
            return Outcome.failure(payload, exc, requests=1)
        n = len(payload.spans)
        rejected = min(max(rejected, 0), n)  # a backend's count is not trusted blindly
        return Outcome(
            delivered=n - rejected,
            rejected=rejected,
            rejected_message=message if rejected else "",
            # OTLP: a request answered with partial success MUST NOT be sent again, and the
            # answer does not say which spans were refused: the whole request is kept
            rejected_spans=list(payload.spans) if rejected else [],
            requests=1,
        )


class SplitSender:
    """Halve a payload the receiver calls too large (HTTP 413, gRPC message size).

    The size that worked is remembered for the rest of the run, so later payloads do not
    start again at the refused size; a single span still too large fails alone.
    """

    def __init__(self, next_: Sender) -> None:
        self.next = next_
        self.fits = 1 << 62  # spans per request

    def send(self, payload: Payload) -> Outcome:
        n = len(payload.spans)
        if n > self.fits:
            return self._halves(payload)
        out = self.next.send(payload)
        if not isinstance(out.error, TooLargeError):
            return out
        if n == 1:
            out.error = TooLargeError(
                f"a single span is larger than the receiver accepts: {out.error}"
            )
            return out
        self.fits = min(self.fits, n - 1)
        parts = self._halves(payload)
        parts.requests += out.requests
        parts.retries += out.retries
        return parts

    def _halves(self, payload: Payload) -> Outcome:
        total = Outcome()
        for half in payload.halves():
            total.add(self.send(half))
        return total


class DeadLetterSender:
    """What failed for good goes to an OTLP JSON lines file, replayable as it is, each request
    noting the destination it failed to reach on its resource (`realtrace.dead_letter_for`):
    a run to another endpoint over the same output path must not take it for its own."""

    def __init__(self, next_: Sender, file: JsonLinesFile, destination: str = "") -> None:
        self.next = next_
        self.file = file
        self.destination = destination
        self._lock = threading.Lock()  # sends run in several threads

    def send(self, payload: Payload) -> Outcome:
        out = self.next.send(payload)
        if out.failed:
            resource = payload.resource
            if self.destination:
                resource = type(resource)()
                resource.CopyFrom(payload.resource)
                kv = resource.attributes.add()
                kv.key, kv.value.string_value = DEAD_LETTER_FOR, self.destination
            request = build_request(spans_from_bytes(out.failed), resource)
            with self._lock:
                self.file.write(request)
            out.dead_lettered = len(out.failed)
        return out


class RejectedSender:
    """A request the backend answered with a partial success goes to a file of its own
    (OTLP JSON lines, replayable), with the backend's message and its count of refused spans
    on its resource (`realtrace.rejected_because`): the OTLP specification forbids sending it
    again, and as it is it would be refused again. `replay` sends it deliberately."""

    def __init__(self, next_: Sender, file: JsonLinesFile) -> None:
        self.next = next_
        self.file = file
        self._lock = threading.Lock()

    def send(self, payload: Payload) -> Outcome:
        out = self.next.send(payload)
        if out.rejected_spans:
            resource = type(payload.resource)()
            resource.CopyFrom(payload.resource)
            kv = resource.attributes.add()
            kv.key = REJECTED_BECAUSE
            kv.value.string_value = (
                f"{out.rejected} of {len(out.rejected_spans)} spans refused: "
                f"{out.rejected_message or 'no message'}"
            )
            request = build_request(spans_from_bytes(out.rejected_spans), resource)
            with self._lock:
                self.file.write(request)
        return out


REJECTED_BECAUSE = "realtrace.rejected_because"  # resource attribute of the rejected-spans file
DEAD_LETTER_FOR = "realtrace.dead_letter_for"  # resource attribute of a dead letter: where to
# realtrace's own notes on a kept request's resource, taken off before it is sent again
NOTES = (REJECTED_BECAUSE, DEAD_LETTER_FOR)


class UnsentSender:
    """What a run stopping early (a signal, credentials refused) had converted but not sent:
    straight to the dead letter, never on the wire, so that every span not delivered is
    in the dead letter."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def send(self, payload: Payload) -> Outcome:
        return Outcome.failure(payload, Interrupted(self.reason))


class DiscardSender:
    """Every payload taken and let go: a run that converts for its report alone."""

    def send(self, payload: Payload) -> Outcome:
        return Outcome(delivered=len(payload.spans))


class FileSender:
    """One OTLP JSON line per payload, written whole (see `JsonLinesFile`)."""

    def __init__(self, file: JsonLinesFile) -> None:
        self.file = file

    def send(self, payload: Payload) -> Outcome:
        spans = payload.spans  # OTLP/JSON, encoded for the file by the core
        self.file.write_line(request_json_from_spans(spans, payload.resource) + b"\n")
        return Outcome(delivered=len(spans), requests=1)
