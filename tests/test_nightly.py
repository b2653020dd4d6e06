"""What a nightly job meets with nobody watching: Braintrust's own settings, where spans
went and why, OTel's standard variables. Real loopback receivers, the real CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import SAMPLES
from receivers import HttpReceiver

from pipeline.cli import main
from pipeline.resolve import resolve_export

KEY = "sk-bt-0123456789abcdef"


@pytest.fixture
def braintrust() -> HttpReceiver:
    """A loopback stand-in for Braintrust: its OTLP endpoint ({api_url}/otel/v1/traces) and
    its attachment API (the default --audio upload uses it)."""
    rec = HttpReceiver(path="/otel/v1/traces", attachments=True)
    yield rec
    rec.stop()


def test_braintrusts_own_variables_send_to_braintrust_without_a_flag(
    tmp_path: Path, braintrust: HttpReceiver
) -> None:
    env = {
        "BRAINTRUST_API_KEY": KEY,
        "BRAINTRUST_PARENT": "project_name:voice",
        "BRAINTRUST_API_URL": f"http://127.0.0.1:{braintrust.port}",
        "BRAINTRUST_APP_URL": f"http://127.0.0.1:{braintrust.port}",
    }
    out = tmp_path / "t.jsonl"  # not given: the default would be this directory's file
    args = ["convert", "-i", str(SAMPLES), "-q", "--state", str(tmp_path / "s.db")]
    r = CliRunner(env=env).invoke(main, args)
    assert r.exit_code == 0, r.output
    assert len(set(braintrust.span_ids)) == 98 and not out.exists()
    assert {h["authorization"] for h in braintrust.headers} == {f"Bearer {KEY}"}
    assert {h["x-bt-parent"] for h in braintrust.headers} == {"project_name:voice"}
    # said even under -q, since no flag chose it; the key never
    assert "destination: http/protobuf http://127.0.0.1" in r.stderr
    assert "env BRAINTRUST_API_KEY" in r.stderr and KEY not in r.stderr
    # an explicit --output wins over the variables
    r = CliRunner(env=env).invoke(main, [*args, "-o", str(out), "--no-state"])
    assert r.exit_code == 0 and out.exists() and len(braintrust.span_ids) == 98


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"BRAINTRUST_API_KEY": KEY}, "set BRAINTRUST_PARENT=project_name:NAME"),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "https://api.braintrust.dev/otel"},
            "Braintrust needs an API key: set BRAINTRUST_API_KEY",
        ),
        (
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "https://api.braintrust.dev/otel",
                "BRAINTRUST_API_KEY": KEY,
            },
            "set BRAINTRUST_PARENT",
        ),
    ],
)
def test_braintrust_without_a_key_or_a_parent_is_exit_2_with_the_fix(
    tmp_path: Path, env: dict[str, str], says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no --output (it would win): the default file, here
    r = CliRunner(env=env).invoke(main, ["convert", "-i", str(SAMPLES)])
    assert r.exit_code == 2, r.output
    assert says in r.output and KEY not in r.output


@pytest.mark.parametrize(
    ("endpoint", "protocol"),
    [
        ("http://collector:4318", "http/protobuf"),  # the OTLP exporter spec's default
        ("http://collector:4317", "grpc"),  # gRPC's own port
        ("https://collector.example", "http/protobuf"),
        ("collector:4317", "grpc"),
    ],
)
def test_the_protocol_follows_the_otlp_spec_default(endpoint: str, protocol: str) -> None:
    cfg = resolve_export({}, endpoint=endpoint)
    assert cfg is not None and cfg.protocol == protocol


def test_otel_conventions_a_user_expects(tmp_path: Path) -> None:
    """OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES make the resource; http/json is OTLP/JSON
    on the wire with the same spans."""
    rec = HttpReceiver()
    try:
        env = {
            "OTEL_SERVICE_NAME": "voice-agent",
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod,team=voice%20ops",
            "OTEL_EXPORTER_OTLP_ENDPOINT": rec.endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
        }
        args = ["convert", "-i", str(SAMPLES), "-q", "--no-state", "-o", str(tmp_path / "t")]
        r = CliRunner(env=env).invoke(main, args)
        assert r.exit_code == 0, r.output
        assert len(set(rec.span_ids)) == 98
        assert {h["content-type"] for h in rec.headers} == {"application/json"}
        assert rec.resources == {
            (
                ("deployment.environment", "prod"),
                ("service.name", "voice-agent"),
                ("team", "voice ops"),
                ("telemetry.sdk.language", "python"),
                ("telemetry.sdk.name", "realtrace"),
            )
        }
    finally:
        rec.stop()


def test_grpc_over_https_without_a_port_dials_443() -> None:
    import threading

    from pipeline.redact import Redactor
    from pipeline.send.settings import ExportConfig
    from pipeline.send.transport import GrpcTransport

    t = GrpcTransport(
        ExportConfig("https://collector.example", "grpc"), Redactor(), threading.Event()
    )
    try:
        assert t.shown == "https://collector.example:443"
    finally:
        t.close()


def test_tls_files_that_are_not_there_are_named(tmp_path: Path) -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector.example:4318",
        "OTEL_EXPORTER_OTLP_CERTIFICATE": str(tmp_path / "ca.pem"),
    }
    r = CliRunner(env=env).invoke(main, ["convert", "-i", str(SAMPLES), "-o", str(tmp_path / "t")])
    assert (
        r.exit_code == 2 and "OTEL_EXPORTER_OTLP_CERTIFICATE" in r.output and "ca.pem" in r.output
    )


def _first_contact(tmp_path: Path, endpoint: str, *extra: str) -> tuple[int, str, float]:
    import time

    args = ["convert", "-i", str(SAMPLES), "-o", str(tmp_path / "t.jsonl"), "--no-state", "-q"]
    t0 = time.monotonic()
    r = CliRunner().invoke(main, [*args, "--endpoint", endpoint, *extra])
    return r.exit_code, r.output, time.monotonic() - t0


def test_a_dead_endpoint_ends_the_run_in_seconds_saying_why(tmp_path: Path) -> None:
    """First contact, before anything is read: the cause and the fix, HTTP and gRPC."""
    from conftest import FakeClock
    from receivers import Action, GrpcReceiver, free_port

    from pipeline.config import RunConfig
    from pipeline.errors import UnreachableError
    from pipeline.run import run_convert
    from pipeline.send.destination import OtlpDestination
    from pipeline.send.settings import ExportConfig

    dead = f"http://127.0.0.1:{free_port()}"
    for protocol in ("http/protobuf", "grpc"):  # waited out on a fake clock, then exit 3
        clock = FakeClock()
        files = (tmp_path / "dead.jsonl", tmp_path / "rejected.jsonl")
        dest = OtlpDestination(ExportConfig(dead, protocol), *files, clock=clock)
        with pytest.raises(UnreachableError, match="nothing was read or sent") as exc:
            run_convert(RunConfig((str(SAMPLES),), dest, tmp_path / "t.jsonl"))
        assert exc.value.exit_code == 3 and clock.waits == [0.5, 1.0, 2.0]
        assert "connection refused" in str(exc.value) or "UNAVAILABLE" in str(exc.value)
    code, out, took = _first_contact(tmp_path, "http://no-such-host.invalid:4318")
    assert code == 2 and took < 10 and "does not resolve (DNS)" in out and "host name" in out
    plain = HttpReceiver()
    try:  # https to a server speaking plain HTTP: the TLS handshake fails
        tls = plain.endpoint.replace("http://", "https://")
        code, out, took = _first_contact(tmp_path, tls, "--protocol", "http/protobuf")
        assert code == 2 and "TLS" in out, out
        wrong = plain.endpoint + "/wrong/path/v1/traces"  # the receiver answers 404 there
        code, out, took = _first_contact(tmp_path, wrong, "--protocol", "http/protobuf")
        assert code == 2 and "no OTLP endpoint at" in out and "path" in out
    finally:
        plain.stop()
    for rec in (
        HttpReceiver(script=lambda n: Action(http_status=401)),
        GrpcReceiver(
            script=lambda n: Action(grpc_code=__import__("grpc").StatusCode.UNAUTHENTICATED)
        ),
    ):
        rec.script_probes = True
        protocol = "grpc" if isinstance(rec, GrpcReceiver) else "http/protobuf"
        try:
            code, out, took = _first_contact(tmp_path, rec.endpoint, "--protocol", protocol)
        finally:
            rec.stop()
        assert code == 2 and took < 10 and "API key rejected" in out and "BRAINTRUST_API_KEY" in out
        assert rec.span_ids == []  # nothing was sent


def test_a_live_session_waits_to_settle_and_the_file_never_holds_two_versions(
    tmp_path: Path,
) -> None:
    from conftest import read_spans

    from pipeline.config import RunConfig
    from pipeline.run import run_convert

    whole = (SAMPLES / "2025-11-24" / "voice_ga.jsonl").read_text().splitlines(keepends=True)
    log = tmp_path / "logs" / "live.jsonl"
    log.parent.mkdir()
    log.write_text("".join(whole[:150]))  # the app is still logging the call
    out, state = tmp_path / "t.jsonl", tmp_path / "s.db"
    last = 1764000015_900_000_000  # the call's last event so far: 2025-11-24T16:00:15.9Z

    def run(now_ns: int, settle_ns: int) -> Any:
        cfg = RunConfig.to_file(
            (str(log.parent),), out, state=state, now_ns=now_ns, settle_ns=settle_ns
        )
        return run_convert(cfg)

    minute = 60 * 10**9
    early = run(now_ns=last + 2 * minute, settle_ns=10 * minute)  # cron at 03:15, mid-call
    assert early.exit_code == 4 and early.stats.sessions_pending == 1 and not read_spans(out)
    half = run(now_ns=last + 20 * minute, settle_ns=0)  # a backfill that does not wait
    assert half.exit_code == 0 and half.stats.sessions_incomplete == 1
    log.write_text("".join(whole))  # the rest of the call is logged
    again = run(now_ns=last + 40 * minute, settle_ns=10 * minute)
    assert again.exit_code == 0 and again.stats.sessions_changed == 1
    spans = read_spans(out)
    assert len(spans) == len({s["spanId"] for s in spans}) == 15  # one version, whole
    roots = [s for s in spans if not s.get("parentSpanId")]
    assert len(roots) == 1 and "realtrace.incomplete" not in roots[0]["_a"]
    assert run(now_ns=last + 60 * minute, settle_ns=0).exit_code == 4  # and nothing after


def test_progress_says_how_far_of_the_total_the_rate_now_and_the_time_left(
    tmp_path: Path,
) -> None:
    from pipeline.config import RunConfig
    from pipeline.progress import Progress
    from pipeline.read.meter import METER
    from pipeline.read.raw import stored_bytes
    from pipeline.run import run_convert

    now = [0.0]
    p = Progress("log", interval=1e9, clock=lambda: now[0])
    p.set_phase("reading", total=1_000_000_000, unit="bytes")
    METER.add(250_000_000)
    now[0] = 5.0
    assert p.line() == "reading: 250.0 MB of 1.0 GB (25%), 50.0 MB/s, about 15 s left"
    METER.add(250_000_000)
    now[0] = 6.0  # the rate now, not since the start
    assert p.line() == "reading: 500.0 MB of 1.0 GB (50%), 250.0 MB/s, about 2 s left"
    p.set_phase("converting and sending", total=8000)
    for _ in range(1200):
        p.converted(12)
    p.delivered(9000)
    now[0] = 9.0
    assert p.line() == (
        "converting and sending: 1,200 of 8,000 sessions (15%), 400 sessions/s, "
        "about 17 s left; 14,400 spans, 9,000 sent"
    )
    # bytes are counted where they are read, worker processes included
    files = sorted(str(f) for f in SAMPLES.rglob("*") if f.is_file())
    before = METER.total
    cfg = RunConfig.to_file((str(SAMPLES),), tmp_path / "t.jsonl", workers=2)
    assert run_convert(cfg).exit_code == 0
    assert METER.total - before >= stored_bytes(files)


def test_cli_conventions_a_cron_user_expects(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    from conftest import ROOT

    base = ["convert", "-i", str(SAMPLES), "--no-state"]
    # a quiet night is fine with --empty-ok
    state = ["--state", str(tmp_path / "s.db"), "-o", str(tmp_path / "t.jsonl"), "-q"]
    assert CliRunner().invoke(main, ["convert", "-i", str(SAMPLES), *state]).exit_code == 0
    again = CliRunner().invoke(main, ["convert", "-i", str(SAMPLES), *state])
    assert again.exit_code == 4
    ok = CliRunner().invoke(main, ["convert", "-i", str(SAMPLES), *state, "--empty-ok"])
    assert ok.exit_code == 0
    # -o - writes the spans to stdout, the summary to stderr, and no file named -
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *base, "-o", "-"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr
    spans = [s for line in proc.stdout.splitlines() for rs in json.loads(line)["resourceSpans"]
             for ss in rs["scopeSpans"] for s in ss["spans"]]  # fmt: skip
    assert len(spans) == 98 and "spans:               98" in proc.stderr
    assert not (tmp_path / "-").exists()
    # inspect | head: no "Broken pipe" error, exit 0
    pipe = subprocess.run(
        f"{sys.executable} -m pipeline.cli inspect -i {SAMPLES} | head -1",
        shell=True, cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert pipe.stdout.startswith("session") and "Broken pipe" not in pipe.stderr
    # --log-format json: the final error line is JSON too
    bad = CliRunner().invoke(main, [*base, "--log-format", "json", "--max-batch-spans", "0"])
    assert bad.exit_code == 2
    (line,) = bad.stderr.strip().splitlines()
    assert json.loads(line)["level"] == "error" and "--max-batch-spans 0" in line
    # the settings as JSON, every one with its source
    cfg = json.loads(
        CliRunner().invoke(main, [*base, "--print-config", "--json", "--since", "7d"]).output
    )
    assert cfg["since"]["source"] == "flag --since" and cfg["settle"]["value"] == "600 s"
    assert json.loads(CliRunner().invoke(main, ["config", "--json"]).output)["destination"]
    # -v: debug lines
    v = CliRunner().invoke(main, [*base, "-o", str(tmp_path / "v.jsonl"), "-v"])
    plain = CliRunner().invoke(main, [*base, "-o", str(tmp_path / "p.jsonl")])
    assert v.exit_code == plain.exit_code == 0
    assert "voice_ga.jsonl: 231 lines" in v.stderr and "lines, 0 rejected" not in plain.stderr


def test_two_nights_of_app_jsonl_named_alone_stay_two_sessions(tmp_path: Path) -> None:
    """Logs without a session id are keyed by their content (trace model §7): day1/app.jsonl
    and day2/app.jsonl, two calls, are two traces, never one replacing the other; the same
    log copied to another folder, or named by another spelling of its path, is one."""
    import json
    import os

    from conftest import read_spans

    lines = [
        json.loads(x) for x in (SAMPLES / "2025-11-24" / "voice_ga.jsonl").read_text().splitlines()
    ]
    kept = [
        {k: v for k, v in r.items() if k != "session_id"}
        for r in lines
        if r["event"]["type"] not in ("session.created", "session.updated")
    ]

    def body(day: str) -> str:
        return "".join(json.dumps(r).replace("2025-11-24T", f"{day}T") + "\n" for r in kept)

    def trace_ids(path: str, cwd: Path | None = None) -> set[str]:
        out = tmp_path / f"out{len(list(tmp_path.glob('out*.jsonl')))}.jsonl"
        args = ["convert", "-i", path, "-o", str(out), "--no-state"]
        here = Path.cwd()
        try:
            os.chdir(cwd or here)
            assert CliRunner().invoke(main, args).exit_code == 0
        finally:
            os.chdir(here)
        return {s["traceId"] for s in read_spans(out)}

    for day, date in (("day1", "2025-11-24"), ("day2", "2025-11-25")):
        (tmp_path / day).mkdir()
        (tmp_path / day / "app.jsonl").write_text(body(date))
    one, two = trace_ids(str(tmp_path / "day1" / "app.jsonl")), trace_ids(str(tmp_path / "day2"))
    assert len(one) == len(two) == 1 and one != two
    # the same log: from inside its folder, by a relative path, copied to an archive
    (tmp_path / "archive" / "x").mkdir(parents=True)
    (tmp_path / "archive" / "x" / "copy.jsonl").write_text(body("2025-11-24"))
    assert trace_ids("app.jsonl", cwd=tmp_path / "day1") == one
    assert trace_ids("day1/../day1/app.jsonl", cwd=tmp_path) == one
    assert trace_ids(str(tmp_path / "archive")) == one


def test_a_session_delivered_before_the_upgrade_is_not_sent_again(tmp_path: Path) -> None:
    """Before events kept their logged bytes, the state's hashes were taken over each event
    re-serialized compactly: a log written with spaces (Python's json.dumps) hashes
    differently now. A delivered session of such a log, in a file that changed since (a new
    call appended), stays delivered: it is not sent again as changed."""
    import json
    import sqlite3

    from conftest import read_spans

    from pipeline.config import RunConfig
    from pipeline.core.sessionize import SORT_KEYS, split_sessions
    from pipeline.inspection import load_sessions
    from pipeline.plan import legacy_session_hash, session_hash
    from pipeline.run import run_convert

    def spaced(name: str) -> str:  # the sample as Python's json.dumps writes it
        lines = (SAMPLES / "2025-11-24" / name).read_text().splitlines()
        return "".join(json.dumps(json.loads(x)) + "\n" for x in lines)

    log = tmp_path / "logs" / "calls.jsonl"
    log.parent.mkdir()
    log.write_text(spaced("voice_ga.jsonl"))
    out, state = tmp_path / "t.jsonl", tmp_path / "s.db"

    def run() -> Any:
        return run_convert(RunConfig.to_file((str(log.parent),), out, state=state))

    assert run().exit_code == 0
    frame, _, _ = load_sessions([str(log)])
    (se,) = split_sessions(frame.sort(SORT_KEYS))
    old, new = legacy_session_hash(se), session_hash(se)
    assert old != new  # the spaces
    with sqlite3.connect(state) as db:  # what the version before recorded
        assert db.execute("UPDATE sessions SET content_hash=?", (old,)).rowcount == 1
    log.write_text(log.read_text() + spaced("errors_ga.jsonl"))  # another call, same file
    again = run()
    assert again.exit_code == 0
    assert (again.stats.sessions_skipped, again.stats.sessions_changed) == (1, 0)
    roots = [s for s in read_spans(out) if not s.get("parentSpanId")]
    assert len(roots) == 2  # each call once
