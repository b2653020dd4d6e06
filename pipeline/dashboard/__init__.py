"""Dashboard: the voice-quality report (`realtrace report`, `convert --html`), one
self-contained HTML page from realtrace's traces.

data.py   traces → ReportData (summary, latency points, session rows, waterfalls)
page.py   ReportData → HTML (inline styles, script and data; SVG charts)
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from pipeline.core.encode import span_to_json
from pipeline.core.model import SessionSpans
from pipeline.dashboard.data import (
    ReportBuilder,
    ReportData,
    build,
    decode_attributes,
    is_otlp_json,
    read_otlp_json,
)
from pipeline.dashboard.page import render, with_players, write_html

__all__ = [
    "ReportData",
    "SessionCollector",
    "render",
    "report_from_inputs",
    "with_players",
    "write_html",
]


class SessionCollector:
    """The report of the sessions a run converts, for `convert --html`: each session's spans
    (JSON for the file destination, OTLP protobuf for the others) are decoded and folded
    into the report as it settles, then let go (the run keeps no span for the page)."""

    def __init__(self) -> None:
        self.builder = ReportBuilder()

    def add(self, sess: SessionSpans) -> None:
        trace = []
        for raw in sess.spans:
            if not isinstance(raw, bytes):
                continue
            span = orjson.loads(raw) if raw[:1] == b"{" else span_to_json(Span.FromString(raw))
            decode_attributes(span)
            trace.append(span)
        if trace:
            self.builder.add(trace[0]["traceId"], trace)

    def data(self) -> ReportData:
        return self.builder.finish()


def report_from_inputs(
    inputs: Sequence[str], timestamp_fields: tuple[str, ...] | None = None
) -> ReportData:
    """The report of realtrace OTLP JSON files and of logs (converted here, in a temporary
    directory, with no state: nothing is sent, nothing remembered)."""
    from pipeline.config import RunConfig  # the run only for logs
    from pipeline.run import run_convert

    traces = [Path(p) for p in inputs if Path(p).is_file() and is_otlp_json(Path(p))]
    logs = tuple(p for p in inputs if Path(p) not in traces)
    spans = list(read_otlp_json(traces))
    if logs:
        with tempfile.TemporaryDirectory(prefix="realtrace-report-") as tmp:
            out = Path(tmp) / "traces.jsonl"
            # every session, also one still being logged: a report sends nothing to settle
            settings: dict[str, Any] = {"rejects": Path(tmp) / "rejects.jsonl", "settle_ns": 0}
            if timestamp_fields:
                settings["timestamp_fields"] = timestamp_fields
            run_convert(RunConfig.to_file(logs, out, **settings))
            if out.exists():
                spans += read_otlp_json([out])
    return build(spans)
