"""Records: the typed contracts the stages hand each other across the core's edges.

The core turns events into these (`SpanRecord`, encoded into a `SessionSpans` per
session, with its `Clip`s); `encode` and every sender take them as they are; `read`
describes its files as `FileInfo` for the plan and the state. A room of its own, at the
bottom of the house, so the senders and the state need nothing of the core or the
readers (the rules: docs/development.md, tests/test_layers.py). No OpenTelemetry or
protobuf types here: the records pickle cheaply to a worker process or a Ray task.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

AttrValue = str | bool | int | float | list[str]

# Span kinds as OTLP numbers (the encoder writes them as they are).
SPAN_KIND_INTERNAL = 1
SPAN_KIND_CLIENT = 3


@dataclass(slots=True)
class SpanEvent:
    """A point-in-time event on a span (errors, truncations)."""

    name: str
    time_ns: int
    attributes: dict[str, AttrValue] = field(default_factory=dict)


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
    kind: int = SPAN_KIND_INTERNAL


@dataclass(slots=True)
class SessionCounts:
    """What converting one session counted; the run folds these into its totals."""

    events: int = 0
    unknown_events: int = 0
    errors: int = 0
    duplicate_events: int = 0
    audio_in_bytes: int = 0
    audio_out_bytes: int = 0
    app_spans: int = 0
    audio_clips: int = 0  # --audio: clips rebuilt
    audio_skipped: dict[str, int] = field(default_factory=dict)  # clips not made, by reason
    # nanoseconds spent in each stage of the core, for the report's stage times
    ns_reconstruct: int = 0
    ns_attributes: int = 0
    ns_encode: int = 0


@dataclass(slots=True)
class SessionSummary:
    """A session's totals, from its typed facts: the root span's metrics and metadata, and
    `realtrace inspect`'s row, without reading encoded spans back."""

    turns: int = 0
    responses: int = 0
    interruptions: int = 0  # interrupted responses (delivered audio cut)
    cancelled_responses: int = 0
    false_starts: int = 0  # user inputs no response followed
    turns_without_latency: int = 0
    errors: int = 0
    total_tokens: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    responses_with_usage: int = 0
    voice_latencies_s: list[float] = field(default_factory=list)  # per turn that has one


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the run's selection (`plan.Selector`) says of one session before the core
    converts it: skipped (and why) or kept, its content hash (for the state) and whether it
    changed since its last delivery."""

    skipped: str | None = None  # "delivered", "outside", "pending" or "future"; None: kept
    content_hash: str = ""
    changed: bool = False


@dataclass(slots=True)
class SessionSpans:
    """All spans of one session (one trace), root first, each already encoded as the bytes
    its destination takes (serialized OTLP protobuf, or OTLP/JSON for a file): the one
    shape that crosses process boundaries and goes to every sender.

    A session whose conversion failed has no spans and one entry in `rejects`;
    `rejects` also holds the session's bad app records (file id, line, reason).
    """

    session_key: str
    trace_id: bytes
    spans: list[bytes]  # each span encoded for its destination: OTLP protobuf or OTLP/JSON
    start_ns: int
    end_ns: int
    counts: SessionCounts
    incomplete: bool
    rejects: list[tuple[int, int, str]] = field(default_factory=list)
    failed: bool = False
    # the selection's `Verdict` (plan.Selector): skipped and why, hash, changed
    skipped: str | None = None
    content_hash: str = ""
    changed: bool = False
    summary: SessionSummary | None = None  # None when not converted (or sent as rows by Ray)
    # --audio dir/upload: the clips to write or upload before the spans go; upload: the spans
    # (by index) as they read with the audio inline instead, should the upload fail
    clips: list[Any] = field(default_factory=list)
    inline_spans: dict[int, bytes] = field(default_factory=dict)
    # the session's part of the run's report (`dashboard.data.SessionPart`), made by the
    # run's `ReportHook` from the typed records where they are; None: the run writes none
    report_part: object | None = None

    @property
    def span_count(self) -> int:
        return len(self.spans)


Encoder = Callable[[SpanRecord], bytes]  # span_bytes (OTLP protobuf) or span_json (OTLP/JSON)
# A session's share of the run's report, from its typed records (dashboard's `record_part`):
# made in the worker that converted it, beside the encoded spans.
ReportHook = Callable[[list[SpanRecord]], object]


@dataclass(frozen=True, slots=True)
class Clip:
    """One rebuilt audio file: whose speech, for which span, under which name and key."""

    span_key: str  # the span whose content part holds it: input:<item> | response:<id>
    direction: str  # "input" (the user) | "output" (the assistant)
    filename: str  # sorts by turn: 003-user-item_x.wav
    key: str  # a UUID of (session, span, direction, content): see clip_key
    wav: bytes

    @property
    def b64(self) -> str:
        return base64.b64encode(self.wav).decode()


@dataclass(frozen=True, slots=True)
class FileInfo:
    """An input file as a rerun recognises it: read measures it, the plan and state keep it."""

    path: str
    size: int
    mtime_ns: int
    fingerprint: str
