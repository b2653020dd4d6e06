"""Retry, split and circuit behaviour on the real wire with an injected clock: loopback
receivers answer, the retry sender's clock and sleep are fakes that count attempts and
waits, so nothing sleeps and every figure is exact."""

from __future__ import annotations

import contextlib
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from conftest import FakeClock
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from receivers import OK, Action, GrpcReceiver, HttpReceiver

from pipeline.redact import Redactor
from pipeline.send.chain import Outcome, Payload, Sender
from pipeline.send.destination import OtlpDestination
from pipeline.send.retry import Circuit
from pipeline.send.settings import ExportConfig


def spans(n: int, size: int = 10) -> list[bytes]:
    """Spans as the core hands them to network senders: serialized OTLP protobuf."""
    return [
        Span(trace_id=bytes(16), span_id=i.to_bytes(8, "big"), name="x" * size).SerializeToString()
        for i in range(n)
    ]


def batch(n: int, size: int = 10) -> Payload:
    return Payload(Resource(), spans(n, size))


@pytest.fixture
def receiver() -> Iterator[list[HttpReceiver]]:
    made: list[HttpReceiver] = []
    yield made
    for r in made:
        r.stop()


_chains: contextlib.ExitStack


@pytest.fixture(autouse=True)
def _close_chains() -> Iterator[None]:
    """Chains opened by a test are closed after it (their transports, dead letters)."""
    global _chains
    with contextlib.ExitStack() as _chains:
        yield


class Chain:
    """The network destination's own chain (dead letter → split → retry → transport), as a
    run opens it, with the test's fake clock."""

    def __init__(self, endpoint: str, clock: FakeClock, max_retry_time: float, **cfg: Any) -> None:
        cfg.setdefault("protocol", "http/protobuf")
        export = ExportConfig(endpoint=endpoint, timeout=5, max_retry_time=max_retry_time, **cfg)
        dead = Path(_chains.enter_context(tempfile.TemporaryDirectory())) / "dead.jsonl"
        dest = OtlpDestination(export, dead, dead.with_name("rejected.jsonl"), clock=clock)
        chain = dest.open_chain(threading.Event(), Redactor(()), append=True)
        self.sender: Sender = _chains.enter_context(chain).sender

    def export_batch(self, payload: Payload) -> Outcome:
        return self.sender.send(payload)


def exporter(endpoint: str, clock: FakeClock, max_retry_time: float, **cfg: Any) -> Chain:
    return Chain(endpoint, clock, max_retry_time, **cfg)


def test_retry_after_is_honoured_exactly_and_attempts_are_counted(receiver: list[Any]) -> None:
    rec = HttpReceiver(script=lambda n: Action(http_status=503, retry_after=7) if n <= 3 else OK)
    receiver.append(rec)
    clock = FakeClock()
    out = exporter(rec.endpoint, clock, max_retry_time=60).export_batch(batch(5))
    assert (out.delivered, out.requests, out.retries) == (5, 4, 3)
    assert clock.waits == [7, 7, 7] and len(rec.span_ids) == 5


def test_budget_bounds_attempts_without_sleeping(receiver: list[Any]) -> None:
    rec = HttpReceiver(script=lambda n: Action(http_status=503))
    receiver.append(rec)
    clock = FakeClock()
    out = exporter(rec.endpoint, clock, max_retry_time=300).export_batch(batch(3))
    assert out.delivered == 0 and len(out.failed) == 3
    assert "no more retries left" in (out.message or "")
    assert sum(clock.waits) < 300 and out.requests == len(rec.times) < 40  # not 5,000
    assert all(w <= 30 for w in clock.waits)  # backoff is capped


def test_retry_after_zero_waits_the_floor_and_the_message_says_the_real_numbers(
    receiver: list[Any],
) -> None:
    """A server answering Retry-After: 0 to every request once got 170-190 requests in
    5 s; each wait is now 0.1 s at least, and the budget counts them."""
    rec = HttpReceiver(script=lambda n: Action(http_status=503, retry_after=0))
    receiver.append(rec)
    clock = FakeClock()
    out = exporter(rec.endpoint, clock, max_retry_time=2).export_batch(batch(2))
    assert clock.waits and all(w == 0.1 for w in clock.waits)
    assert out.requests == len(rec.times) == 20  # 2 s of 0.1 s waits, not thousands
    assert "no more retries left after 20 attempts over 1.9 s" in (out.message or "")


def test_retry_after_longer_than_the_budget_says_what_the_server_asked(
    receiver: list[Any],
) -> None:
    rec = HttpReceiver(script=lambda n: Action(http_status=429, retry_after=600))
    receiver.append(rec)
    clock = FakeClock()
    out = exporter(rec.endpoint, clock, max_retry_time=300).export_batch(batch(2))
    assert out.requests == 1 and clock.waits == []
    assert "asked to wait 600 s" in (out.message or "")


def test_the_circuit_fails_later_batches_at_once(receiver: list[Any]) -> None:
    rec = HttpReceiver(script=lambda n: Action(http_status=503))
    receiver.append(rec)
    clock = FakeClock()
    ex = exporter(rec.endpoint, clock, max_retry_time=100)
    outcomes = [ex.export_batch(batch(2)) for _ in range(20)]
    gave_up = ["gave up on the remaining batches" in (o.message or "") for o in outcomes]
    first_open = gave_up.index(True)
    assert first_open <= 2 and all(gave_up[first_open:])  # the budget is the run's, not per batch
    assert clock.t < 200  # not 20 budgets of waiting
    assert sum(o.requests for o in outcomes[first_open + 1 :]) == 0  # none once open
    assert sum(len(o.failed) for o in outcomes) == 40  # every span to the dead letter


def test_a_success_closes_the_circuit() -> None:
    clock = FakeClock()
    c = Circuit(10, clock.now)
    c.failure()
    clock.t = 9
    c.check()
    c.success()
    clock.t = 100
    c.check()  # no failure since the success: still closed


def test_413_splits_and_a_single_span_too_large_fails_alone(receiver: list[Any]) -> None:
    limit = 2_000
    rec = HttpReceiver(max_body=limit)
    receiver.append(rec)
    clock = FakeClock()
    b = batch(40, size=100)
    b.spans.append(
        Span(trace_id=bytes(16), span_id=b"\xff" * 8, name="y" * 5_000).SerializeToString()
    )
    out = exporter(rec.endpoint, clock, max_retry_time=60, compression="none").export_batch(b)
    assert out.delivered == 40 and len(out.failed) == 1
    assert "single span is larger" in (out.message or "") and clock.waits == []


def test_after_a_413_later_batches_start_at_the_size_that_worked(receiver: list[Any]) -> None:
    rec = HttpReceiver(max_body=3_000)
    receiver.append(rec)
    clock = FakeClock()
    ex = exporter(rec.endpoint, clock, max_retry_time=60, compression="none")
    first = ex.export_batch(batch(64, size=100))
    refused = [n for n in rec.sizes if n > 3_000]
    second_start = len(rec.sizes)
    second = ex.export_batch(batch(64, size=100))
    assert first.delivered == second.delivered == 64 and refused
    # the second batch sends no request the receiver refuses
    assert all(n <= 3_000 for n in rec.sizes[second_start:])
    assert len(rec.sizes) - second_start == 4


@pytest.mark.parametrize(
    ("status", "auth", "says"),
    [
        (400, False, "not retryable"),
        (404, False, "not retryable"),
        (401, True, "API key rejected"),
        (403, True, "access denied"),
    ],
)
def test_permanent_http_failures_are_sent_once_and_never_waited_for(
    receiver: list[Any], status: int, auth: bool, says: str
) -> None:
    rec = HttpReceiver(script=lambda n: Action(http_status=status, message="no"))
    receiver.append(rec)
    clock = FakeClock()
    out = exporter(rec.endpoint, clock, max_retry_time=60).export_batch(batch(3))
    assert (out.requests, out.retries, len(out.failed), clock.waits) == (1, 0, 3, [])
    assert out.auth_failed is auth and says in (out.message or "")


@pytest.mark.parametrize(
    ("code", "auth", "says"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, False, "not retryable"),
        (grpc.StatusCode.PERMISSION_DENIED, True, "access denied"),
        (grpc.StatusCode.UNAUTHENTICATED, True, "API key rejected"),
    ],
)
def test_permanent_grpc_failures_are_sent_once(
    code: grpc.StatusCode, auth: bool, says: str
) -> None:
    rec = GrpcReceiver(script=lambda n: Action(grpc_code=code, message="bad"))
    try:
        clock = FakeClock()
        chain = exporter(rec.endpoint, clock, max_retry_time=60, protocol="grpc")
        out = chain.export_batch(batch(2))
        assert (out.requests, len(out.failed), clock.waits) == (1, 2, [])
        assert out.auth_failed is auth and says in (out.message or "")
    finally:
        rec.stop()


def test_a_single_span_larger_than_grpc_accepts_fails_alone() -> None:
    rec = GrpcReceiver(max_receive=4_000)
    try:
        clock = FakeClock()
        b = batch(10, size=100)
        b.spans.append(
            Span(trace_id=bytes(16), span_id=b"\xee" * 8, name="z" * 10_000).SerializeToString()
        )
        out = exporter(
            rec.endpoint, clock, max_retry_time=60, protocol="grpc", compression="none"
        ).export_batch(b)
        assert out.delivered == 10 and len(out.failed) == 1
        assert "single span is larger" in (out.message or "")
    finally:
        rec.stop()


def test_retry_after_as_an_http_date_is_read_against_the_injected_now() -> None:
    import datetime as dt
    from email.utils import format_datetime

    from pipeline.send.http import parse_retry_after

    now = dt.datetime(2026, 11, 26, 6, 0, 0, tzinfo=dt.UTC)
    header = format_datetime(now + dt.timedelta(seconds=42), usegmt=True)
    assert parse_retry_after(header, now=lambda: now) == 42.0
    assert (
        parse_retry_after(
            format_datetime(now - dt.timedelta(seconds=5), usegmt=True), now=lambda: now
        )
        == 0.0
    )
    assert parse_retry_after("7") == 7.0 and parse_retry_after("soon") is None


def test_request_bytes_are_the_protobuf_request_serialized() -> None:
    """Requests are assembled from serialized spans; a receiver parses exactly the request
    the protobuf library would have built."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    from pipeline.encode import build_request, request_bytes, resource

    res = resource("svc")
    made = request_bytes(spans(300, size=200), res)
    assert (
        made
        == build_request(
            [Span.FromString(b) for b in spans(300, size=200)], res
        ).SerializeToString()
    )
    assert (
        len(ExportTraceServiceRequest.FromString(made).resource_spans[0].scope_spans[0].spans)
        == 300
    )
