"""Any OpenTelemetry exporter as a destination (`--exporter`, `OTEL_TRACES_EXPORTER`),
through the SDK's own plug-in point: the console exporter's spans against the OTLP file
output, the Zipkin JSON exporter against a loopback Zipkin v2 receiver, and a test double
registered through a real entry point (a distribution on PYTHONPATH) that fails, raises or
succeeds: retries, dead letter, replay and state as for OTLP."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, SAMPLES, read_spans


def realtrace(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI in a process of its own (the console exporter writes to the real stdout)."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "BRAINTRUST_API_KEY": "", **(env or {})},
    )


@pytest.fixture(scope="module")
def file_spans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The samples' spans as the OTLP file output holds them, by span id."""
    out = tmp_path_factory.mktemp("otlp") / "t.jsonl"
    r = realtrace("convert", "-i", str(SAMPLES), "-o", str(out), "--no-state", "-q")
    assert r.returncode == 0, r.stderr
    return {s["spanId"]: s for s in read_spans(out)}


def _string_attrs(span: dict[str, Any]) -> dict[str, str]:
    return {
        a["key"]: a["value"]["stringValue"]
        for a in span["attributes"]
        if "stringValue" in a["value"]
    }


def test_console_exporter_prints_the_same_trace_as_the_otlp_file(
    tmp_path: Path, file_spans: dict[str, dict[str, Any]]
) -> None:
    r = realtrace(
        "convert", "-i", str(SAMPLES), "--no-state", "-o", str(tmp_path / "t.jsonl"),
        "--exporter", "console", "--report", str(tmp_path / "r.json"),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "destination:         exporter console (flag --exporter)" in r.stderr  # not stdout
    decoder, text, pos, shown = json.JSONDecoder(), r.stdout, 0, []
    while pos < len(text.rstrip()):
        doc, pos = decoder.raw_decode(text, pos)
        shown.append(doc)
        while pos < len(text) and text[pos].isspace():
            pos += 1
    assert len(shown) == len(file_spans) == 98
    for s in shown:
        sid = s["context"]["span_id"][2:]
        want = file_spans[sid]
        assert s["context"]["trace_id"][2:] == want["traceId"]
        assert (s["parent_id"] or "0x")[2:] == want.get("parentSpanId", "")
        assert s["name"] == want["name"]
        kind = {1: "INTERNAL", 2: "SERVER", 3: "CLIENT"}[want.get("kind", 1)]
        assert s["kind"] == f"SpanKind.{kind}"
        start = dt.datetime.fromtimestamp(int(want["startTimeUnixNano"]) / 1e9, dt.UTC)
        assert s["start_time"][:19] == start.strftime("%Y-%m-%dT%H:%M:%S")
        assert {k: s["attributes"][k] for k in _string_attrs(want)} == _string_attrs(want)
        assert len(s["events"]) == len(want.get("events", []))
        assert s["resource"]["attributes"]["service.name"] == "realtrace"
    assert json.loads((tmp_path / "r.json").read_text())["spans_delivered"] == 98


class _Zipkin(BaseHTTPRequestHandler):
    spans: list[dict[str, Any]]

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        assert self.path == "/api/v2/spans"
        type(self).spans.extend(json.loads(body))
        self.send_response(202)
        self.send_header("content-length", "0")
        self.end_headers()


@pytest.fixture
def zipkin() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    handler = type("Handler", (_Zipkin,), {"spans": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    ).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/v2/spans", handler.spans
    server.shutdown()
    server.server_close()


def test_zipkin_json_exporter_delivers_ids_parents_times_and_tags(
    tmp_path: Path,
    file_spans: dict[str, dict[str, Any]],
    zipkin: tuple[str, list[dict[str, Any]]],
) -> None:
    url, received = zipkin
    env = {"OTEL_TRACES_EXPORTER": "zipkin_json", "OTEL_EXPORTER_ZIPKIN_ENDPOINT": url}
    state = tmp_path / "s.db"
    args = ["convert", "-i", str(SAMPLES), "-o", str(tmp_path / "t.jsonl"), "--state", str(state)]
    r = realtrace(*args, env=env)
    assert r.returncode == 0, r.stderr
    assert f"exporter zipkin_json (OTEL_EXPORTER_ZIPKIN_ENDPOINT={url})" in r.stdout
    assert len(received) == 98
    for z in received:
        want = file_spans[z["id"]]
        assert z["traceId"] == want["traceId"] and z.get("parentId", "") == want.get(
            "parentSpanId", ""
        )
        start, end = int(want["startTimeUnixNano"]), int(want["endTimeUnixNano"])
        assert abs(z["timestamp"] - start / 1000) <= 1  # microseconds, as Zipkin counts them
        assert abs(z["duration"] - (end - start) / 1000) <= 1
        assert z["name"] == want["name"] and z["localEndpoint"]["serviceName"] == "realtrace"
        assert z["tags"]["realtrace.kind"] == _string_attrs(want)["realtrace.kind"]
    # the state knows the exporter and its endpoint: a rerun sends nothing again
    again = realtrace(*args, env=env)
    assert again.returncode == 4 and len(received) == 98


FLAKY = '''
import os
from pathlib import Path
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult


class Flaky(SpanExporter):
    """Fails FLAKY_FAILS times in all (counted in FLAKY_LOG), raises with FLAKY_RAISE."""

    def __init__(self):
        self.log = Path(os.environ["FLAKY_LOG"])

    def export(self, spans):
        calls = self.log.read_text().splitlines() if self.log.exists() else []
        if os.environ.get("FLAKY_RAISE"):
            raise RuntimeError("the vendor's client fell over")
        ok = len(calls) >= int(os.environ.get("FLAKY_FAILS", "0"))
        with self.log.open("a") as fh:
            fh.write(("ok " if ok else "fail ") + str(len(spans)) + "\\n")
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def shutdown(self):
        pass
'''


@pytest.fixture
def flaky(tmp_path: Path) -> dict[str, str]:
    """A distribution that registers `flaky` under the SDK's entry-point group, as a vendor's
    exporter package does, found through PYTHONPATH."""
    site = tmp_path / "site"
    (site / "flaky_exporter-0.1.dist-info").mkdir(parents=True)
    (site / "flaky_exporter.py").write_text(FLAKY)
    info = site / "flaky_exporter-0.1.dist-info"
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: flaky-exporter\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[opentelemetry_traces_exporter]\nflaky = flaky_exporter:Flaky\n"
    )
    return {
        "PYTHONPATH": f"{site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "FLAKY_LOG": str(tmp_path / "calls.log"),
    }


def test_an_exporter_that_fails_is_retried_dead_lettered_and_replayed(
    tmp_path: Path, flaky: dict[str, str]
) -> None:
    log = Path(flaky["FLAKY_LOG"])
    out = tmp_path / "t.jsonl"
    state = ["--state", str(tmp_path / "s.db"), "--report", str(tmp_path / "r.json")]
    args = ["convert", "-i", str(SAMPLES), "-o", str(out), "--exporter", "flaky", *state]
    # fails twice, then succeeds: retried within the budget, delivered, recorded
    r = realtrace(*args, env={**flaky, "FLAKY_FAILS": "2"})
    assert r.returncode == 0, r.stderr
    assert log.read_text().split() == ["fail", "98", "fail", "98", "ok", "98"]
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["requests"] == 3 and rep["retries"] == 2 and rep["sessions_delivered"] == 9
    again = realtrace(*args, env={**flaky, "FLAKY_FAILS": "2"})
    assert again.returncode == 4 and log.read_text().count("\n") == 3  # the state: nothing sent
    # always failing: the budget runs out, every span in the dead letter, exit 3
    log.unlink()
    args = ["convert", "-i", str(SAMPLES), "-o", str(out), "--exporter", "flaky", "--no-state"]
    r = realtrace(*args, "--max-retry-time", "1", env={**flaky, "FLAKY_FAILS": "1000"})
    assert r.returncode == 3, r.stderr
    dead = tmp_path / "t.dead-letter.jsonl"
    assert len(read_spans(dead)) == 98
    assert "exporter flaky returned FAILURE" in r.stderr
    # replay sends the dead letter through the exporter once it works again
    log.unlink()
    r = realtrace("replay", str(dead), "--exporter", "flaky", env={**flaky, "FLAKY_FAILS": "0"})
    assert r.returncode == 0, r.stderr
    assert log.read_text().split() == ["ok", "98"]


def test_an_exporter_that_raises_fails_its_batch_not_the_run(
    tmp_path: Path, flaky: dict[str, str]
) -> None:
    args = ["convert", "-i", str(SAMPLES), "-o", str(tmp_path / "t.jsonl"), "--no-state"]
    r = realtrace(*args, "--exporter", "flaky", env={**flaky, "FLAKY_RAISE": "1"})
    assert r.returncode == 3, r.stderr
    assert "exporter flaky raised RuntimeError: the vendor's client fell over" in r.stderr
    assert "Traceback" not in r.stderr
    assert len(read_spans(tmp_path / "t.dead-letter.jsonl")) == 98
    bad = realtrace(*args, "--exporter", "nope", env=flaky)
    assert bad.returncode == 2 and "flaky" in bad.stderr and "console" in bad.stderr
