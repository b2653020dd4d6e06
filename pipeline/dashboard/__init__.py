"""Dashboard: the voice-quality report (`realtrace report`, `convert --html`), one
self-contained HTML page from realtrace's traces.

data.py   traces → ReportData (summary, latency points, session rows, waterfalls)
page.py   ReportData → HTML (inline styles, script and data; SVG charts)
"""

from __future__ import annotations

import logging

import orjson
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from pipeline.dashboard.data import ReportBuilder, ReportData, SessionPart, record_part, slim
from pipeline.dashboard.page import render, with_players, write_html
from pipeline.encode import span_to_json
from pipeline.records import SessionSpans

log = logging.getLogger("realtrace")

__all__ = [
    "ReportData",
    "SessionCollector",
    "render",
    "with_players",
    "write_html",
]


class SessionCollector:
    """The report of the sessions a run converts (`convert --html`, `report` on logs): each
    settled session's part, made by the core from its typed span records where they were
    (`record_part`, the run's `report` hook), is folded in; an engine that hands over only
    encoded spans has them decoded here (JSON for a file, OTLP protobuf otherwise). The run
    keeps no span for the page."""

    part = staticmethod(record_part)  # the hook the core calls on each session's records

    def __init__(self) -> None:
        self.builder = ReportBuilder()
        self.left_out = 0  # converted sessions with neither a part nor spans to read here

    def add(self, sess: SessionSpans) -> None:
        if isinstance(sess.report_part, SessionPart):
            self.builder.add_part(sess.report_part)
            return
        trace = []
        for raw in sess.spans:
            if not raw:  # not here: a destination that encodes nothing, or a Ray worker's
                continue
            span = orjson.loads(raw) if raw[:1] == b"{" else span_to_json(Span.FromString(raw))
            trace.append(slim(span))
        if trace:
            self.builder.add_spans(trace)
        elif sess.span_count:  # its part could not be made (a report bug meeting a session)
            self.left_out += 1

    def data(self) -> ReportData:
        if self.left_out:
            log.warning(
                "%d converted sessions are not in the report: their part could not be made "
                "(their spans went to the destination as usual)",
                self.left_out,
            )
        return self.builder.finish()
