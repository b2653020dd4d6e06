"""Shared test helpers: decode real OTLP output files into span trees; the session's one
local S3 server and one Ray cluster; a fake clock."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.errors import Interrupted

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_logs"
REAL_LOGS = ROOT.parent / "shared" / "real-logs"  # recorded outside the project; CI has it
sys.path.insert(0, str(ROOT / "scripts"))


def _value(v: dict[str, Any]) -> Any:
    if "stringValue" in v:
        return v["stringValue"]
    if "intValue" in v:
        return int(v["intValue"])
    if "boolValue" in v:
        return v["boolValue"]
    if "doubleValue" in v:
        return v["doubleValue"]
    if "arrayValue" in v:
        return [_value(x) for x in v["arrayValue"].get("values", [])]
    raise AssertionError(f"unexpected AnyValue {v}")


def attrs(span: dict[str, Any]) -> dict[str, Any]:
    return {a["key"]: _value(a["value"]) for a in span.get("attributes", [])}


def read_spans(path: Path) -> list[dict[str, Any]]:
    """Every span of an OTLP/JSON lines file, with decoded attributes under `_a`."""
    spans = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        doc = json.loads(line)
        for rs in doc["resourceSpans"]:
            for ss in rs["scopeSpans"]:
                for s in ss["spans"]:
                    s["_a"] = attrs(s)
                    spans.append(s)
    return spans


class Trace:
    """One trace's spans, navigable by kind and parent."""

    def __init__(self, spans: list[dict[str, Any]]) -> None:
        self.spans = spans
        roots = [s for s in spans if not s.get("parentSpanId")]
        assert len(roots) == 1, f"expected one root, got {len(roots)}"
        self.root = roots[0]
        self.by_id = {s["spanId"]: s for s in spans}

    def kind(self, kind: str) -> list[dict[str, Any]]:
        return sorted(
            (s for s in self.spans if s["_a"]["realtrace.kind"] == kind),
            key=lambda s: int(s["startTimeUnixNano"]),
        )

    def children(self, span: dict[str, Any]) -> list[dict[str, Any]]:
        return sorted(
            (s for s in self.spans if s.get("parentSpanId") == span["spanId"]),
            key=lambda s: int(s["startTimeUnixNano"]),
        )

    def parent(self, span: dict[str, Any]) -> dict[str, Any]:
        return self.by_id[span["parentSpanId"]]

    def json_attr(self, span: dict[str, Any], key: str) -> Any:
        return json.loads(span["_a"][key])


def traces(path: Path) -> dict[str, Trace]:
    """Traces of an output file keyed by session key; fails on any shape-invariant violation."""
    from invariants import problems

    spans = read_spans(path)
    bad = problems(spans)
    assert not bad, "trace invariants violated:\n" + "\n".join(bad[:20])
    groups: dict[str, list[dict[str, Any]]] = {}
    for s in spans:
        groups.setdefault(s["traceId"], []).append(s)
    out = {}
    for spans in groups.values():
        t = Trace(spans)
        out[t.root["_a"]["realtrace.session_key"]] = t
    return out


def source_events(path: Path) -> list[dict[str, Any]]:
    """Envelope JSONL records of a sample file (for comparing times and usage)."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests must not pick up a developer's or CI's exporter, Braintrust or state settings."""
    import os

    for name in list(os.environ):
        if name.startswith(("OTEL_EXPORTER_OTLP_", "BRAINTRUST_")) or name == "XDG_STATE_HOME":
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One conversion of sample_logs/ shared by the read-only tests."""
    from pipeline.config import RunConfig
    from pipeline.run import run_convert

    out = tmp_path_factory.mktemp("samples") / "traces.jsonl"
    result = run_convert(RunConfig.to_file(inputs=(str(SAMPLES),), output=out))
    assert result.exit_code == 0
    return out


class FakeClock:
    """Time that moves only when the retry sender sleeps; `on_sleep(n)` runs at the n-th
    wait (a receiver that comes up meanwhile, say)."""

    def __init__(self, on_sleep: Callable[[int], None] | None = None) -> None:
        self.t = 0.0
        self.waits: list[float] = []
        self.on_sleep = on_sleep

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float, stop: threading.Event) -> None:
        if stop.is_set():
            raise Interrupted("stopped while waiting to retry")
        self.waits.append(seconds)
        self.t += seconds
        if self.on_sleep is not None:
            self.on_sleep(len(self.waits))


# -- real servers shared by the whole test session -------------------------------------

CLUSTER_FILES = ("test_ray.py", "test_s3.py")


GROUPED_FILES = ("test_real_logs.py",)  # a module fixture worth starting once


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The files that need the Ray cluster or the S3 server share one worker, so both start
    once a session; they are marked `cluster` (`-m "not cluster"` skips them locally; CI
    runs them all). A file with a costly module fixture stays in one worker; every other
    test goes wherever a worker is free."""
    for item in items:
        name = item.path.name
        if name in CLUSTER_FILES:
            item.add_marker(pytest.mark.cluster)
            item.add_marker(pytest.mark.xdist_group("cluster"))
        elif name in GROUPED_FILES:
            item.add_marker(pytest.mark.xdist_group(name))


@pytest.fixture(scope="session")
def s3() -> Iterator[tuple[Any, dict[str, str]]]:
    """A real S3 server (moto's, on loopback) with a bucket `logs` holding the samples
    under `voice/`, and the environment that points the AWS SDKs at it."""
    moto_server = pytest.importorskip("moto.server")
    boto3 = pytest.importorskip("boto3")
    pytest.importorskip("s3fs")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    client = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket="logs")
    for p in sorted(SAMPLES.rglob("*")):
        if p.is_file():
            client.upload_file(str(p), "logs", f"voice/{p.relative_to(SAMPLES)}")
    yield client, env
    server.stop()


@pytest.fixture(scope="session")
def ray_cluster(s3: tuple[Any, dict[str, str]]) -> Iterator[str]:
    """One local Ray cluster (2 CPUs) for the session, its address yielded. Its workers
    inherit the S3 server's environment, as a cluster's nodes carry their own credentials."""
    ray = pytest.importorskip("ray")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAY_DATA_DISABLE_PROGRESS_BARS", "1")
        for k, v in s3[1].items():
            mp.setenv(k, v)
        try:
            info = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        except Exception:  # "the current node timed out during startup" (Ray waits 30 s,
            # a fixed time, for its node to register; on a loaded 2-CPU machine it once did
            # not): once more, from scratch
            ray.shutdown()
            info = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield str(info.address_info["gcs_address"])
    ray.shutdown()
