"""Typed records passed between stages: session events, span facts, exportable spans.

`reconstruct` writes one facts dataclass per span kind and `attributes` reads
them; no dict of string keys crosses that joint. No OpenTelemetry or protobuf
types here, so the core runs anywhere a Python function can (process pool,
Ray, Spark) and its output pickles cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from pipeline.records import SessionCounts, SpanEvent

# realtrace.kind of a span, in the order a session's tree is read (trace model §2, §6)


class SpanKind(StrEnum):
    """`realtrace.kind` of a span (a str: it is written as its value)."""

    SESSION = "session"
    TURN = "turn"
    USER_INPUT = "user_input"
    TRANSCRIPTION = "transcription"
    RESPONSE = "response"
    TOOL = "tool"
    APP = "app"


SPAN_KINDS = tuple(SpanKind)  # in the order a session's tree is read


@dataclass(slots=True)
class SessionEvents:
    """One session's events, ready for the state machine.

    Non-audio events as parallel lists in replay order; audio rows (most of a voice
    log) only as sums, made by Polars for a whole chunk at once. `files`/`lines`
    locate each event in the input, so a bad record or session can be reported.
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
    duplicate_audio: int = 0  # audio rows logged twice, dropped before the sums
    # --audio: the payloads themselves (decoded), in order: the input stream's appends, and
    # each response's output deltas
    audio_in: list[tuple[int, bytes]] = field(default_factory=list)  # (time, samples)
    # the input stream's appends as (time, decoded bytes), in order: its audio clock
    appends: list[tuple[int, int]] = field(default_factory=list)
    audio_out: list[tuple[str, bytes]] = field(default_factory=list)  # (response id, samples)
    files: list[int] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    first_file: int = 0
    first_line: int = 0


# -- facts per span kind ---------------------------------------------------------------


@dataclass(slots=True)
class Item:
    """One conversation item, folded from every event that mentions it.

    `text`/`transcript` hold the most complete version seen; `*_rank` says how
    complete its source was (a `.done` event beats a content part, which beats
    the final item, which beats the joined deltas), so a later but poorer source
    never overwrites a better one.
    """

    id: str
    type: str = "message"
    role: str | None = None
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None
    output: Any = None
    text: str | None = None
    text_rank: int = -1
    transcript: str | None = None
    transcript_rank: int = -1
    audio: bool = False
    audio_ms: float | None = None
    # truncation (the caller heard only the first `heard_ms`); the server then deletes the
    # transcript, so later prompts show only the heard audio
    truncated_ns: int | None = None
    truncated_at_ms: float | None = None  # the truncation's audio_end_ms
    heard_ms: float | None = None  # that, or the item's whole audio when shorter
    text_deltas: list[str] = field(default_factory=list)
    transcript_deltas: list[str] = field(default_factory=list)

    def set_text(self, kind: str, value: Any, rank: int) -> None:
        """Keep `value` as the item's text or transcript if its source ranks at least as high."""
        if not isinstance(value, str) or not value:
            return
        if kind == "transcript":
            if rank >= self.transcript_rank:
                self.transcript, self.transcript_rank = value, rank
        elif rank >= self.text_rank:
            self.text, self.text_rank = value, rank

    def final_text(self) -> str | None:
        """Text, else transcript, else what the deltas add up to; None when nothing was said."""
        if self.text is not None:
            return self.text
        if self.transcript is not None:
            return self.transcript
        joined = "".join(self.text_deltas) or "".join(self.transcript_deltas)
        return joined or None


@dataclass(slots=True)
class TurnFacts:
    index: int
    item_id: str | None = None  # the user item that opened it, when one did (its turn_id)
    interrupted: bool = False
    input_end_ns: int | None = None  # end of the user's speech, or the client's message
    voice_latency_s: float | None = None
    tool_time_s: float | None = None  # sum of the waits for the turn's tool outputs
    # conversation dynamics (seconds; `dynamics`): None where the log cannot tell
    end_of_turn_delay_s: float | None = None
    perceived_latency_s: float | None = None
    barge_in_stop_time_s: float | None = None
    user_response_time_s: float | None = None


@dataclass(slots=True)
class InputFacts:
    item_id: str
    source: str  # "audio" | "text"
    audio_start_ms: float | None = None
    audio_end_ms: float | None = None
    speech_stopped_ns: int | None = None
    transcription_latency_s: float | None = None
    committed_ns: int | None = None  # the audio was committed (the transcription starts)
    speech_ns: tuple[int, int] | None = None  # the speech on the audio clock (wall ns)


@dataclass(slots=True)
class TranscriptionFacts:
    """The transcription of one user audio item: a model call of its own (billed apart)."""

    item_id: str
    model: str | None = None
    usage: dict[str, Any] | None = None
    failed: bool = False


@dataclass(slots=True)
class ResponseFacts:
    """One model response. Its terminal state (`state`) is derived from what the log says
    of its end: a `response.done` status, a cut of its delivered audio."""

    response_id: str
    context: list[str] | None = field(default_factory=list)  # item ids it saw; None: unknown
    instructions: str | None = None
    model: str | None = None
    items: list[str] = field(default_factory=list)  # its output items
    status: str | None = None  # the provider's; None: no response.done was logged
    status_reason: str | None = None
    error: dict[str, Any] | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    created_ns: int | None = None  # response.created (the span may start earlier)
    first_content_ns: int | None = None  # any content: audio, text, transcript, call args
    first_audio_ns: int | None = None  # an audio delta or WebRTC playback start
    first_text_ns: int | None = None  # a text or transcript delta
    first_transcript_ns: int | None = None  # an audio transcript delta: the audio began
    audio_out_ms: float | None = None
    playback_ms: float | None = None  # from output_audio_buffer.started → stopped/cleared
    playback_started_ns: int | None = None
    heard_ns: tuple[int, int] | None = None  # when its audio was audible (`dynamics`)
    cut: bool = False  # delivered audio was cut (truncation, cleared playback, barge-in)
    truncated_at_ms: float | None = None
    truncated_ns: int | None = None
    cancelled_by_client: bool = False
    out_of_band: bool = False
    metadata: dict[str, Any] | None = None
    modalities: list[str] | None = None  # requested output modalities
    tools: list[Any] | None = None  # tool definitions in force when it started
    tool_choice: Any = None  # what its request forced (`none`, `required`, a function), as logged
    # its start is in the log (its request, the commit it answers, or response.created);
    # else it starts at its first event and gives no TTFT and no latency (§7)
    start_observed: bool = True
    conversation_id: str | None = None  # GA's `conv_…`, as logged
    voice: str | None = None  # the response's voice, as logged

    @property
    def delivered_audio(self) -> bool:
        return self.first_audio_ns is not None

    @property
    def state(self) -> str | None:
        """`completed | interrupted | cancelled | failed` (trace model §6); None when the log
        shows neither its end nor a cut (a cut-off log)."""
        if self.status == "failed":
            return "failed"
        if self.cut or (
            self.status == "cancelled"
            and self.status_reason == "turn_detected"
            and self.delivered_audio
        ):
            return "interrupted"
        if self.status == "cancelled":
            return "cancelled"
        if self.status is not None:
            return "completed"  # completed, or incomplete (token limit, filter): reason kept
        return None


@dataclass(slots=True)
class ToolFacts:
    call_id: str
    name: str | None = None
    arguments: str | None = None
    has_output: bool = False
    output: Any = None
    response_id: str | None = None
    output_ns: int | None = None


MISSING: Any = object()


@dataclass(slots=True)
class AppFacts:
    """An app-written record (trace model §5), validated."""

    name: str
    span_type: str = "function"
    input: Any = MISSING
    output: Any = MISSING
    metadata: dict[str, Any] | None = None
    metrics: dict[str, float] | None = None
    call_id: str | None = None
    response_id: str | None = None
    item_id: str | None = None


Facts = TurnFacts | InputFacts | TranscriptionFacts | ResponseFacts | ToolFacts | AppFacts | None
F = TypeVar("F", TurnFacts, InputFacts, TranscriptionFacts, ResponseFacts, ToolFacts, AppFacts)


@dataclass(slots=True)
class Node:
    """One reconstructed span before attribute mapping: times plus its kind's facts."""

    key: str
    kind: SpanKind
    parent: str | None
    start_ns: int
    end_ns: int
    facts: Facts = None
    events: list[SpanEvent] = field(default_factory=list)
    error: str | None = None
    incomplete: bool = False
    closed: bool = False
    clipped_end_ns: int | None = None  # the logged end, when a later turn cut the span short

    def facts_as(self, kind: type[F]) -> F:
        """The node's facts as the kind its span kind holds (a bug if they are not)."""
        facts = self.facts
        if not isinstance(facts, kind):
            raise TypeError(f"{self.key}: {kind.__name__} expected, not {type(facts).__name__}")
        return facts


@dataclass(slots=True)
class SessionDynamics:
    """The session's speech, overlap and silence (ms; `talk_ratio` a fraction): None where
    the log cannot tell (`dynamics`)."""

    user_speech_ms: float | None = None
    assistant_heard_ms: float | None = None
    overlap_ms: float | None = None
    silence_ms: float | None = None
    longest_silence_ms: float | None = None
    talk_ratio: float | None = None


@dataclass(slots=True)
class SessionFacts:
    """What the whole session says: configuration, conversation, audio and app extras."""

    realtime_id: str | None
    config: dict[str, Any]
    metadata: dict[str, Any]
    items: dict[str, Item]
    order: list[str]
    audio_in_ms: float | None
    audio_out_ms: float | None
    app_metadata: dict[str, Any] = field(default_factory=dict)
    app_tags: list[str] = field(default_factory=list)
    dynamics: SessionDynamics = field(default_factory=SessionDynamics)


@dataclass(slots=True)
class SessionTree:
    """A session's nodes (root first, then in start order), its facts and counters."""

    session_key: str
    nodes: list[Node]
    stats: SessionCounts
    session: SessionFacts
    problems: list[tuple[int, int, str]] = field(default_factory=list)  # file, line, reason

    @property
    def incomplete(self) -> bool:
        return bool(self.nodes) and self.nodes[0].incomplete
