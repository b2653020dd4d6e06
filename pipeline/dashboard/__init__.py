"""Dashboard: the voice-quality report (`realtrace report`, `convert --html`), one
self-contained HTML page from realtrace's traces.

data.py   traces → ReportData (summary, latency points, session rows, waterfalls)
page.py   ReportData → HTML (inline styles, script and data; SVG charts)
"""

from __future__ import annotations

import orjson
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from pipeline.dashboard.data import ReportBuilder, ReportData, slim
from pipeline.dashboard.page import render, with_players, write_html
from pipeline.encode import span_to_json
from pipeline.records import SessionSpans

__all__ = [
    "ReportData",
    "SessionCollector",
    "render",
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
            trace.append(slim(span))
        if trace:
            self.builder.add(trace[0]["traceId"], trace)

    def data(self) -> ReportData:
        return self.builder.finish()
