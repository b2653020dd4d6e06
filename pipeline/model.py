"""Plain records passed between stages: reconstructed nodes and exportable spans.

No OpenTelemetry or protobuf types here, so the core can run anywhere a Python
function can (process pool, Ray, Spark) and its output pickles cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

AttrValue = str | bool | int | float | list[str]


@dataclass(slots=True)
class SpanEvent:
    """A point-in-time event on a span (errors, truncations)."""

    name: str
    time_ns: int
    attributes: dict[str, AttrValue] = field(default_factory=dict)


@dataclass(slots=True)
class SessionEvents:
    """One session's events, ready for the state machine.

    Non-audio events as parallel lists in replay order; audio rows (most of a voice
    log) only as sums, made by Polars for a whole chunk at once.
    """

    key: str
    ts: list[int]
    types: list[str]
    events: list[str | None]
    metadata: list[str]
    first_ns: int
    last_ns: int
    audio_events: int = 0
    audio_in_bytes: int = 0
    audio_out_bytes: int = 0
    # (response_id, decoded bytes, first delta time) per response
    audio_by_response: list[tuple[str, int, int]] = field(default_factory=list)


@dataclass(slots=True)
class Node:
    """One reconstructed span before attribute mapping: times plus domain facts."""

    key: str
    kind: str
    parent: str | None
    start_ns: int
    end_ns: int
    data: dict[str, Any] = field(default_factory=dict)
    events: list[SpanEvent] = field(default_factory=list)
    error: str | None = None
    incomplete: bool = False
    closed: bool = False


@dataclass(slots=True)
class SessionTree:
    """A session's nodes (root first, then in start order) and its counters."""

    session_key: str
    nodes: list[Node]
    stats: dict[str, int]
    session: dict[str, Any]

    @property
    def incomplete(self) -> bool:
        return bool(self.nodes) and self.nodes[0].incomplete


@dataclass(slots=True)
class SpanRecord:
    """An exportable span: ids, times, attributes. Encoders take only this."""

    trace_id: bytes
    span_id: bytes
    parent_span_id: bytes | None
    name: str
    start_ns: int
    end_ns: int
    attributes: dict[str, AttrValue]
    events: list[SpanEvent] = field(default_factory=list)
    error: str | None = None


@dataclass(slots=True)
class SessionSpans:
    """All spans of one session (one trace), root first."""

    session_key: str
    trace_id: bytes
    spans: list[SpanRecord]
    start_ns: int
    end_ns: int
    stats: dict[str, int]
    incomplete: bool
    # Spans already encoded to OTLP protobuf (by a worker process); then `spans` is empty.
    encoded: list[Any] | None = None

    @property
    def span_count(self) -> int:
        return len(self.encoded) if self.encoded is not None else len(self.spans)
