"""Export over the real wire: loopback gRPC and HTTP OTLP receivers, scripted to fail."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from click.testing import CliRunner, Result
from conftest import SAMPLES, FakeClock, read_spans
from receivers import OK, Action, GrpcReceiver, HttpReceiver

from pipeline.cli import main
from pipeline.config import RunConfig
from pipeline.run import run_convert
from pipeline.send.destination import OtlpDestination
from pipeline.send.settings import BatchLimits, ExportConfig

KEY = "sk-test-SECRET-0123456789abcdef"


@pytest.fixture
def expected(sample_run: Path) -> Counter[str]:
    return Counter(s["spanId"] for s in read_spans(sample_run))


@pytest.fixture
def receivers() -> Iterator[list[Any]]:
    started: list[Any] = []
    yield started
    for r in started:
        r.stop()


def run(
    tmp_path: Path, endpoint: str, protocol: str, *extra: str, env: dict[str, str] | None = None
) -> Result:
    args = [
        "convert",
        "-i",
        str(SAMPLES),
        "-o",
        str(tmp_path / "t.jsonl"),
        "--endpoint",
        endpoint,
        "--protocol",
        protocol,
        "--max-batch-spans",
        "7",
        *extra,
    ]
    return CliRunner().invoke(
        main, args, env={"BRAINTRUST_API_KEY": "", **(env or {})}, catch_exceptions=False
    )


def all_text(tmp_path: Path, result: Result) -> str:
    files = "".join(p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file())
    return result.output + files


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_clean_run_delivers_exactly_the_file_output(
    tmp_path: Path, receivers: list[Any], expected: Counter[str], protocol: str
) -> None:
    rec = GrpcReceiver() if protocol == "grpc" else HttpReceiver()
    receivers.append(rec)
    r = run(tmp_path, rec.endpoint, protocol, "--compression", "gzip")
    assert r.exit_code == 0, r.output
    assert Counter(rec.span_ids) == expected  # no loss, no duplicates
    assert "spans:               98 (98 delivered, 0 dead-lettered" in r.output
    assert not (tmp_path / "t.dead-letter.jsonl").exists()
    if protocol == "http/protobuf":
        assert all(h.get("content-encoding") == "gzip" for h in rec.headers)


def to_endpoint(tmp_path: Path, rec: Any, protocol: str, clock: FakeClock) -> RunConfig:
    """The samples to a receiver, 7 spans a request, one request at a time, on a fake clock."""
    export = ExportConfig(rec.endpoint, protocol, concurrency=1, max_retry_time=60)
    dead, rejected = tmp_path / "t.dead-letter.jsonl", tmp_path / "t.rejected.jsonl"
    dest = OtlpDestination(export, dead, rejected, clock=clock)
    limits = BatchLimits(max_spans=7)
    return RunConfig((str(SAMPLES),), dest, tmp_path / "t.jsonl", limits=limits)


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_receiver_down_at_start_then_everything_delivered(
    tmp_path: Path, receivers: list[Any], expected: Counter[str], protocol: str
) -> None:
    """HTTP: connections refused until the second wait; gRPC: UNAVAILABLE twice (a refused
    gRPC channel reconnects on its own backoff, in real time, which a fake clock outruns)."""
    if protocol == "grpc":
        down = Action(grpc_code=grpc.StatusCode.UNAVAILABLE, message="no backend yet")
        rec: Any = GrpcReceiver(script=lambda n: down if n <= 2 else OK)
        clock = FakeClock()
    else:
        rec = HttpReceiver(started=False)
        clock = FakeClock(on_sleep=lambda n: rec.start() if n == 2 else None)  # up after 2 waits
    receivers.append(rec)
    result = run_convert(to_endpoint(tmp_path, rec, protocol, clock))
    assert result.exit_code == 0, result.stats.errors
    assert Counter(rec.span_ids) == expected
    if protocol == "grpc":  # up for the first contact, then UNAVAILABLE twice: retried
        assert result.stats.retries == 2 and len(clock.waits) == 2
    else:  # down at the first contact: it waits (0.5 s, 1 s), the run then goes through
        assert clock.waits == [0.5, 1.0] and result.stats.retries == 0


def test_http_429_retry_after_is_honoured(
    tmp_path: Path, receivers: list[Any], expected: Counter[str]
) -> None:
    rec = HttpReceiver(
        script=lambda n: (
            Action(http_status=429, retry_after=1, message="slow down") if n == 1 else OK
        )
    )
    receivers.append(rec)
    clock = FakeClock()
    result = run_convert(to_endpoint(tmp_path, rec, "http/protobuf", clock))
    assert result.exit_code == 0, result.stats.errors
    assert clock.waits == [1.0]  # exactly what the server asked, once
    assert Counter(rec.span_ids) == expected


def test_grpc_resource_exhausted_with_retry_info_waits(
    tmp_path: Path, receivers: list[Any], expected: Counter[str]
) -> None:
    def script(n: int) -> Action:
        return (
            Action(
                grpc_code=grpc.StatusCode.RESOURCE_EXHAUSTED,
                retry_after=1.5,
                message="rate limited",
            )
            if n == 1
            else OK
        )

    rec = GrpcReceiver(script=script)
    receivers.append(rec)
    clock = FakeClock()
    result = run_convert(to_endpoint(tmp_path, rec, "grpc", clock))
    assert result.exit_code == 0, result.stats.errors
    assert clock.waits == [1.5]
    assert Counter(rec.span_ids) == expected


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_too_large_requests_are_split_never_dropped(
    tmp_path: Path, receivers: list[Any], expected: Counter[str], protocol: str
) -> None:
    limit = 12_000
    rec = GrpcReceiver(max_receive=limit) if protocol == "grpc" else HttpReceiver(max_body=limit)
    receivers.append(rec)
    r = run(tmp_path, rec.endpoint, protocol, "--compression", "none", "--max-batch-spans", "1000")
    assert r.exit_code == 0, r.output
    assert Counter(rec.span_ids) == expected
    assert (
        max(rec.sizes) > limit or protocol == "grpc"
    )  # the first, oversized attempt reached the HTTP receiver
    assert len(rec.times) > 2


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_401_fails_fast_without_leaking_the_key(
    tmp_path: Path, receivers: list[Any], protocol: str
) -> None:
    def script(n):
        return Action(
            http_status=401, grpc_code=grpc.StatusCode.UNAUTHENTICATED, message=f"bad key {KEY}"
        )

    rec = GrpcReceiver(script=script) if protocol == "grpc" else HttpReceiver(script=script)
    receivers.append(rec)
    r = run(
        tmp_path,
        rec.endpoint,
        protocol,
        "--concurrency",
        "1",
        "--braintrust-project",
        "voice",
        "--header",
        f"x-extra-token={KEY}",
        env={"BRAINTRUST_API_KEY": KEY},
    )
    assert r.exit_code == 2, r.output
    assert "API key rejected by" in r.output
    assert len(rec.times) == 1  # no retry, and no further batch once credentials are refused
    assert (
        rec.headers[0].get("authorization") == f"Bearer {KEY}"
    )  # it was sent, to the receiver only
    assert rec.headers[0].get("x-bt-parent") == "project_name:voice"
    assert KEY not in all_text(tmp_path, r)


def test_retries_exhausted_go_to_dead_letter_and_replay_delivers(
    tmp_path: Path, receivers: list[Any], expected: Counter[str]
) -> None:
    down = HttpReceiver(script=lambda n: Action(http_status=503, message="maintenance"))
    receivers.append(down)
    r = run(tmp_path, down.endpoint, "http/protobuf", "--max-retry-time", "1.5")
    assert r.exit_code == 3, r.output
    dead = tmp_path / "t.dead-letter.jsonl"
    assert Counter(s["spanId"] for s in read_spans(dead)) == expected
    assert "not delivered:       9 sessions, 98 spans" in r.output
    assert "no more retries left" in r.output
    assert down.span_ids == []
    up = GrpcReceiver()
    receivers.append(up)
    r2 = CliRunner().invoke(
        main,
        ["replay", str(dead), "--endpoint", up.endpoint, "--protocol", "grpc"],
        catch_exceptions=False,
    )
    assert r2.exit_code == 0, r2.output
    assert Counter(up.span_ids) == expected


def test_partial_success_is_never_sent_again(
    tmp_path: Path, receivers: list[Any], expected: Counter[str]
) -> None:
    """OTLP: a client MUST NOT retry a request answered with partial success. The first
    request's answer refuses 2 spans: it is kept in the rejected file (the whole request, with
    the message), its sessions are rejected, and every span reached the backend exactly once."""
    rec = GrpcReceiver(
        script=lambda n: Action(rejected=2, message="spans too old") if n == 1 else OK
    )
    receivers.append(rec)
    report = tmp_path / "report.json"
    r = run(tmp_path, rec.endpoint, "grpc", "--report", str(report))
    assert r.exit_code == 3, r.output
    rep = json.loads(report.read_text())
    assert rep["retries"] == 0 and rep["requests"] == len(rec.times)  # one a batch
    assert Counter(rec.span_ids) == expected  # each span received once, none again
    assert rep["spans_rejected_by_backend"] == 2 and rep["spans_delivered"] == 96
    kept = read_spans(tmp_path / "t.rejected.jsonl")
    assert 2 <= len(kept) <= 7 and {s["spanId"] for s in kept} <= set(expected)
    message = f"2 of {len(kept)} spans refused: spans too old"
    assert message in (tmp_path / "t.rejected.jsonl").read_text()
    assert rep["sessions_rejected"] == len({s["traceId"] for s in kept})
    assert rep["sessions_delivered"] == 9 - rep["sessions_rejected"]


def test_partial_success_everywhere_is_said_once_and_bogus_counts_are_bounded(
    tmp_path: Path, receivers: list[Any]
) -> None:
    rec = GrpcReceiver(script=lambda n: Action(rejected=10**6, message="quota"))
    receivers.append(rec)
    report = tmp_path / "report.json"
    r = run(tmp_path, rec.endpoint, "grpc", "--report", str(report), "--max-batch-spans", "10")
    assert r.exit_code == 3
    rep = json.loads(report.read_text())
    assert rep["spans_rejected_by_backend"] == 98 and rep["spans_delivered"] == 0
    assert r.stderr.count("quota") == 1


def test_credentials_over_plain_http_to_remote_host_are_refused(tmp_path: Path) -> None:
    r = run(
        tmp_path,
        "http://collector.example.com:4318",
        "http/protobuf",
        "--braintrust-project",
        "p",
        env={"BRAINTRUST_API_KEY": KEY},
    )
    assert r.exit_code == 2
    assert "refusing to send credentials in clear text" in r.output
    assert KEY not in r.output


def test_with_state_the_next_run_resends_the_dead_letter_sessions_once(
    tmp_path: Path, receivers: list[Any], expected: Counter[str]
) -> None:
    state = {"down": True}
    rec = HttpReceiver(script=lambda n: Action(http_status=503) if state["down"] else OK)
    receivers.append(rec)
    r = run(tmp_path, rec.endpoint, "http/protobuf", "--max-retry-time", "0.5")
    assert r.exit_code == 3 and "the next run sends these sessions again" in r.output
    assert not rec.span_ids
    state["down"] = False  # the endpoint is back
    r2 = run(tmp_path, rec.endpoint, "http/protobuf")
    assert r2.exit_code == 0, r2.output
    assert Counter(rec.span_ids) == expected  # every span once
    assert not (tmp_path / "t.dead-letter.jsonl").exists()  # obsolete: cleared


def test_a_dead_letter_belongs_to_its_destination(
    tmp_path: Path, receivers: list[Any], expected: Counter[str]
) -> None:
    """Two endpoints in turn over one output path: what B delivers does not empty A's dead
    letter (nothing was delivered to A); A, back, takes its own sessions out of it."""
    a_down = {"down": True}
    a = HttpReceiver(script=lambda n: Action(http_status=503) if a_down["down"] else OK)
    b = HttpReceiver()
    receivers += [a, b]
    dead = tmp_path / "t.dead-letter.jsonl"
    r = run(tmp_path, a.endpoint, "http/protobuf", "--max-retry-time", "0.5")
    assert r.exit_code == 3 and len(read_spans(dead)) == 98
    r = run(tmp_path, b.endpoint, "http/protobuf")
    assert r.exit_code == 0, r.output
    assert Counter(b.span_ids) == expected
    kept = read_spans(dead)  # A's dead letter, untouched by B's deliveries
    assert Counter(s["spanId"] for s in kept) == expected
    assert f"http/protobuf:{a.endpoint}/v1/traces" in dead.read_text()  # for A, it says
    a_down["down"] = False
    r = run(tmp_path, a.endpoint, "http/protobuf", "-v")
    assert r.exit_code == 0, r.output
    assert Counter(a.span_ids) == expected and not dead.exists()
    assert f"98 spans of sessions this run delivered to http/protobuf:{a.endpoint}" in r.output


def test_grpc_to_an_http_endpoint_says_which_protocol_to_use(
    tmp_path: Path, receivers: list[Any]
) -> None:
    rec = HttpReceiver()
    receivers.append(rec)
    r = run(tmp_path, rec.endpoint, "grpc", "--max-retry-time", "60")
    assert r.exit_code == 2  # a configuration error, found at first contact: nothing read
    assert "speaks HTTP/1.1, not gRPC: use --protocol http/protobuf" in r.stderr
    assert not rec.span_ids
    assert "realtrace: retry" not in r.stderr  # recognised at once, not retried for a minute


def test_replay_failure_and_credential_paths_go_through_the_same_chain(
    tmp_path: Path, receivers: list[Any], sample_run: Path, expected: Counter[str]
) -> None:
    down = HttpReceiver(script=lambda n: Action(http_status=503))
    refusing = HttpReceiver(script=lambda n: Action(http_status=401))
    receivers += [down, refusing]
    again = tmp_path / "again.jsonl"
    r = CliRunner().invoke(
        main,
        ["replay", str(sample_run), "--endpoint", down.endpoint, "--protocol", "http/protobuf",
         "--max-retry-time", "0.3", "--dead-letter", str(again)],
    )  # fmt: skip
    assert r.exit_code == 3, r.output
    assert Counter(s["spanId"] for s in read_spans(again)) == expected  # nothing lost
    key = "sk-replay-secret-1234"
    r = CliRunner().invoke(
        main,
        ["replay", str(sample_run), "--endpoint", refusing.endpoint, "--protocol",
         "http/protobuf", "--header", f"authorization=Bearer {key}",
         "--dead-letter", str(tmp_path / "x.jsonl")],
    )  # fmt: skip
    assert r.exit_code == 2 and "rejected" in r.stderr
    assert len(refusing.times) == 1  # stopped at the first refusal
    assert key not in r.output


def test_each_retry_is_logged_with_reason_and_wait_in_json(
    tmp_path: Path, receivers: list[Any]
) -> None:
    rec = HttpReceiver(
        script=lambda n: Action(http_status=503, message="maintenance") if n <= 2 else OK
    )
    receivers.append(rec)
    r = run(
        tmp_path, rec.endpoint, "http/protobuf", "--log-format", "json",
        "--concurrency", "1", "--max-batch-spans", "1000",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    logs = [json.loads(x) for x in r.stderr.splitlines() if x.startswith("{")]
    retries = [x for x in logs if x.get("message", "").startswith("retry ")]
    assert len(retries) == 2
    assert all("503" in x["message"] and " in " in x["message"] for x in retries)
