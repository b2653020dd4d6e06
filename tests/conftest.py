"""Shared test helpers: decode real OTLP output files into span trees."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

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
