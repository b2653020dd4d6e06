"""Attributes: map reconstructed nodes to `braintrust.*` and OpenTelemetry GenAI attributes.

Braintrust reads `braintrust.input_json` / `output_json` / `metadata` / `metrics`
/ `span_attributes` as JSON strings and `braintrust.tags` as a string array;
the scalar `gen_ai.*` set makes the same trace readable by any OTLP backend.
Message payloads are billed by size, so each span carries them once per
convention `MappingOptions.conventions` chooses (core/conventions.py). One small
mapper per span kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pipeline.core.conventions import CONVENTIONS
from pipeline.core.events import audio_format, count, format_name, num, obj
from pipeline.core.ids import span_id, trace_id
from pipeline.core.messages import MessageBook, audio_message, realtime_output, with_clip
from pipeline.core.model import (
    MISSING,
    AppFacts,
    InputFacts,
    Item,
    Node,
    ResponseFacts,
    SessionTree,
    SpanKind,
    ToolFacts,
    TranscriptionFacts,
    TurnFacts,
)
from pipeline.encode import dumps
from pipeline.records import SPAN_KIND_CLIENT, SPAN_KIND_INTERNAL, AttrValue, SpanRecord


class AudioMode(StrEnum):
    """`--audio`: where each turn's rebuilt speech goes."""

    NONE = "none"  # no payload is even kept while reading (today's speed)
    INLINE = "inline"  # base64 in the spans' audio parts
    DIR = "dir"  # WAV files under a folder, the parts naming them by relative path
    UPLOAD = "upload"  # Braintrust attachments, inline base64 to fall back on

    @property
    def keeps_payloads(self) -> bool:
        """Reading keeps each audio event's payload (else only its length)."""
        return self is not AudioMode.NONE

    @property
    def ships_clips(self) -> bool:
        """The clips leave the core as WAV bytes for the run to store (files, uploads)."""
        return self in (AudioMode.DIR, AudioMode.UPLOAD)


@dataclass(frozen=True, slots=True)
class MappingOptions:
    """How spans are named and shaped; part of the run configuration."""

    root_name: str = "realtime_session"
    tags: tuple[str, ...] = ()
    max_history: int = 50
    # names in core.conventions.CONVENTIONS, in its order: where messages go
    conventions: tuple[str, ...] = ("braintrust",)
    audio: AudioMode = AudioMode.NONE
    audio_max_bytes: int = 3 * 1024 * 1024  # an inline clip larger than this is left out

    def __post_init__(self) -> None:
        """A mode given by name (`audio="dir"` from a library call) is the mode."""
        if not isinstance(self.audio, AudioMode):
            object.__setattr__(self, "audio", AudioMode(self.audio))


DEFAULT_MAPPING = MappingOptions()


@dataclass(slots=True)
class SpanDraft:
    """What a mapper fills in for one span; `record` turns it into a SpanRecord."""

    name: str
    bt_type: str = "task"
    kind: int = SPAN_KIND_INTERNAL
    attrs: dict[str, AttrValue] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


class Mapping:
    """One session's shared mapping state: ids, the message book, common attributes."""

    def __init__(self, tree: SessionTree, options: MappingOptions) -> None:
        self.tree = tree
        self.options = options
        self.tid = trace_id(tree.session_key)
        self.ids = {n.key: span_id(tree.session_key, n.key) for n in tree.nodes}
        cfg = tree.session.config
        self.book = MessageBook(
            tree.session.items,
            format_name(audio_format(cfg, "input")),
            format_name(audio_format(cfg, "output")),
        )
        self.conventions = [CONVENTIONS[name] for name in options.conventions]
        self.model = cfg.get("model") if isinstance(cfg.get("model"), str) else None
        self.common: dict[str, AttrValue] = {}
        if tree.session.realtime_id:
            self.common["gen_ai.conversation.id"] = tree.session.realtime_id
        self.last_tools: list[Any] | None = None  # the tool set the previous response had
        self.audio: dict[str, Any] = {}  # span key → the audio part's `data` (see core.audio)
        self.children: dict[str, list[Node]] = {}
        for node in tree.nodes:
            if node.parent is not None:
                self.children.setdefault(node.parent, []).append(node)

    def payload(
        self, draft: SpanDraft, inputs: Any, outputs: Any, reason: str | None = None
    ) -> None:
        """Messages once per span and chosen convention; `inputs`/`outputs` are chat message
        lists (or None to leave out)."""
        for c in self.conventions:
            c.messages(draft.attrs, self.book, inputs, outputs, reason)

    def record(self, node: Node, draft: SpanDraft) -> SpanRecord:
        attrs: dict[str, AttrValue] = {"realtrace.kind": node.kind, **self.common, **draft.attrs}
        attrs["braintrust.span_attributes"] = dumps({"type": draft.bt_type, "name": draft.name})
        if draft.metrics:
            attrs["braintrust.metrics"] = dumps(draft.metrics)
        if draft.meta:
            attrs["braintrust.metadata"] = dumps(draft.meta)
        if node.incomplete:
            attrs["realtrace.incomplete"] = True
        if node.clipped_end_ns is not None:
            attrs["realtrace.logged_end_unix_nano"] = node.clipped_end_ns
        parent = self.ids[node.parent] if node.parent else None
        return SpanRecord(
            self.tid,
            self.ids[node.key],
            parent,
            draft.name,
            node.start_ns,
            node.end_ns,
            attrs,
            list(node.events),
            node.error,
            draft.kind,
        )

    def user_messages(self, turn: Node) -> list[dict[str, Any]]:
        kids = self.children.get(turn.key, [])
        return self.book.messages(
            [k.facts_as(InputFacts).item_id for k in kids if k.kind == SpanKind.USER_INPUT]
        )

    def model_call(self, draft: SpanDraft, model: str | None) -> None:
        """What a model span (and only a model span) carries: GenAI model attributes, and
        Braintrust's `model`/`provider`, which its cost estimate needs."""
        draft.attrs["gen_ai.provider.name"] = PROVIDER
        if model:
            draft.attrs["gen_ai.request.model"] = model
            draft.meta["model"] = model
        draft.meta["provider"] = PROVIDER

    def assistant_messages(self, turn: Node) -> list[dict[str, Any]]:
        ids = [
            i
            for k in self.children.get(turn.key, [])
            if k.kind == SpanKind.RESPONSE
            for i in k.facts_as(ResponseFacts).items
        ]
        return self.book.messages(ids)


PROVIDER = "openai"


def compact(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None and v != [] and v != {}}


def finish_reason(facts: ResponseFacts, m: Mapping) -> str | None:
    """The GenAI finish reason for a response; None when no response.done says how it ended."""
    status = facts.status
    if status is None:
        return None
    if status == "completed":
        items = m.tree.session.items
        calls = any(items[i].type == "function_call" for i in facts.items if i in items)
        return "tool_call" if calls else "stop"
    if status == "incomplete":
        return "content_filter" if facts.status_reason == "content_filter" else "length"
    if status == "failed":
        return "error"
    return "stop"  # cancelled (barge-in, response.cancel): the model was stopped, not wrong


# Braintrust's canonical token metrics: the only token counts a span carries
TOKEN_METRICS = (
    "tokens",
    "prompt_tokens",
    "completion_tokens",
    "prompt_cached_tokens",
    "prompt_audio_tokens",
    "completion_audio_tokens",
)


def usage_metrics(usage: dict[str, Any]) -> dict[str, float]:
    """Braintrust's canonical token metrics from a Realtime usage object (type-tolerant);
    what the log does not give is left out, never estimated."""
    ind, outd = obj(usage, "input_token_details"), obj(usage, "output_token_details")
    m = {
        "prompt_tokens": count(usage.get("input_tokens")),
        "completion_tokens": count(usage.get("output_tokens")),
        "tokens": count(usage.get("total_tokens")),
        "prompt_cached_tokens": count(ind.get("cached_tokens")),
        "prompt_audio_tokens": count(ind.get("audio_tokens")),
        "completion_audio_tokens": count(outd.get("audio_tokens")),
    }
    return {k: v for k, v in m.items() if v is not None}


def usage_details(usage: dict[str, Any]) -> dict[str, float]:
    """The token details Braintrust has no metric for (text tokens), for the metadata."""
    ind, outd = obj(usage, "input_token_details"), obj(usage, "output_token_details")
    m = {
        "prompt_text_tokens": count(ind.get("text_tokens")),
        "completion_text_tokens": count(outd.get("text_tokens")),
    }
    return {k: v for k, v in m.items() if v is not None}


# -- one mapper per span kind ---------------------------------------------------------


def map_turn(node: Node, m: Mapping) -> SpanDraft:
    """A stable name (`turn`: name filters and scoring targets match every turn); its place
    in `metadata.turn_index` and `turn_id`, the keys Braintrust's trace importers read."""
    facts = node.facts_as(TurnFacts)
    draft = SpanDraft("turn")
    draft.attrs["realtime.turn.interrupted"] = facts.interrupted
    users, assistant = m.user_messages(node), m.assistant_messages(node)
    m.payload(draft, users or None, assistant or None)
    if facts.voice_latency_s is not None:
        draft.metrics["voice_to_voice_latency"] = round(facts.voice_latency_s, 6)
    if facts.tool_time_s is not None:
        draft.metrics["tool_time"] = round(facts.tool_time_s, 6)
    for name, value in (  # conversation dynamics, where the log places them (`dynamics`)
        ("end_of_turn_delay", facts.end_of_turn_delay_s),
        ("perceived_latency", facts.perceived_latency_s),
        ("barge_in_stop_time", facts.barge_in_stop_time_s),
        ("user_response_time", facts.user_response_time_s),
    ):
        if value is not None:
            draft.metrics[name] = round(value, 6)
    draft.meta["turn_index"] = facts.index
    if facts.item_id is not None:  # the opening item's id as logged; none made up (§7)
        draft.meta["turn_id"] = facts.item_id
    return draft


def map_user_input(node: Node, m: Mapping) -> SpanDraft:
    facts = node.facts_as(InputFacts)
    draft = SpanDraft("user_input")
    draft.attrs["realtime.item_id"] = facts.item_id
    draft.attrs["realtime.input.source"] = facts.source
    said = m.book.messages([facts.item_id])
    audio = m.audio.get(node.key)
    if audio is not None:  # the caller's voice, and what the transcription heard beside it
        parts: list[dict[str, Any]] = [
            {"type": "input_audio", "input_audio": {"data": audio, "format": "wav"}}
        ]
        text = said[0].get("content") if said else None
        if isinstance(text, str):
            parts.append({"type": "text", "text": text})
        m.payload(draft, [{"role": "user", "content": parts}], None)
    elif said:
        for c in m.conventions:
            c.user_said(draft.attrs, m.book, said)
    if facts.audio_start_ms is not None:
        draft.attrs["realtime.audio_start_ms"] = int(facts.audio_start_ms)
    if facts.audio_end_ms is not None:
        draft.attrs["realtime.audio_end_ms"] = int(facts.audio_end_ms)
        if facts.audio_start_ms is not None and facts.audio_end_ms >= facts.audio_start_ms:
            draft.metrics["audio_ms"] = facts.audio_end_ms - facts.audio_start_ms
    if facts.transcription_latency_s is not None:
        draft.metrics["transcription_latency"] = facts.transcription_latency_s
    if facts.speech_ns is not None:  # the span starts with the speech; its end, here
        draft.attrs["realtrace.speech.end_unix_nano"] = facts.speech_ns[1]
    return draft


def map_transcription(node: Node, m: Mapping) -> SpanDraft:
    """The transcription model's call: the user's audio in, the transcript out, its usage as
    the span's own token metrics (billed apart from the responses, counted once)."""
    facts = node.facts_as(TranscriptionFacts)
    model = facts.model
    draft = SpanDraft(
        f"transcription {model}" if model else "transcription", "llm", SPAN_KIND_CLIENT
    )
    m.model_call(draft, model)
    draft.attrs["gen_ai.operation.name"] = "chat"
    draft.attrs["realtime.item_id"] = facts.item_id
    item = m.tree.session.items.get(facts.item_id)
    said = item.transcript if item is not None else None
    m.payload(
        draft,
        [audio_message(item, m.book.formats[0])] if item is not None else None,
        [{"role": "assistant", "content": said}] if said is not None else None,
        "error" if facts.failed else "stop",
    )
    usage = facts.usage or {}
    if usage.get("type") == "duration":
        draft.meta["usage"] = usage  # billed by the second: no token metrics
    else:
        draft.metrics.update(usage_metrics(usage))
        _usage_attributes(usage, draft.attrs)
        draft.meta.update(usage_details(usage))
    return draft


def _prompt(
    node: Node, facts: ResponseFacts, m: Mapping, draft: SpanDraft
) -> list[dict[str, Any]] | None:
    """The conversation as the model saw it when the response started (a truncated item as
    heard), capped at the last `max_history` messages; None when nothing of it is known."""
    seen = [i for i in facts.context or () if i not in facts.items]  # never its own output
    history = m.book.messages(seen, facts.created_ns or node.start_ns)  # its context's moment
    cap = m.options.max_history
    omitted = max(0, len(history) - cap) if cap > 0 else len(history)
    prompt: list[dict[str, Any]] = []
    if facts.instructions:
        prompt.append({"role": "system", "content": facts.instructions})
    if omitted:
        noun = "message" if omitted == 1 else "messages"
        prompt.append(
            {"role": "system", "content": f"[realtrace: {omitted} earlier {noun} omitted]"}
        )
        draft.meta["history_omitted_messages"] = omitted
    prompt += history[omitted:]
    return prompt or None  # a model is never called with nothing: empty means unknown


def _output_type(facts: ResponseFacts, items: list[Item]) -> str | None:
    """`speech` or `text` from the output actually produced; None when nothing was."""
    if facts.delivered_audio or facts.audio_out_ms is not None or facts.playback_ms is not None:
        return "speech"
    if any(i.audio or i.transcript is not None or i.transcript_deltas for i in items):
        return "speech"
    if any(i.type == "message" and i.final_text() is not None for i in items):
        return "text"
    return None


def _usage_attributes(usage: dict[str, Any], a: dict[str, AttrValue]) -> None:
    """The GenAI token attributes, for the counts the log has (unknown stays unknown)."""
    for attr, value in (
        ("gen_ai.usage.input_tokens", num(usage.get("input_tokens"))),
        ("gen_ai.usage.output_tokens", num(usage.get("output_tokens"))),
        (
            "gen_ai.usage.cache_read.input_tokens",
            num(obj(usage, "input_token_details").get("cached_tokens")),
        ),
    ):
        if isinstance(value, int):
            a[attr] = value


def map_response(node: Node, m: Mapping) -> SpanDraft:
    """A model response (Braintrust's Realtime spec): its prompt as seen at its start, its
    delivered output in the Realtime shape, one terminal state, canonical token metrics."""
    facts = node.facts_as(ResponseFacts)
    draft = SpanDraft(f"chat {m.model}" if m.model else "chat", "llm", SPAN_KIND_CLIENT)
    m.model_call(draft, m.model)
    a = draft.attrs
    a["gen_ai.operation.name"] = "chat"
    a["gen_ai.response.id"] = facts.response_id
    items = [m.tree.session.items[i] for i in facts.items if i in m.tree.session.items]
    output_type = _output_type(facts, items)
    if output_type is not None:
        a["gen_ai.output.type"] = output_type
    a["gen_ai.request.stream"] = True
    if m.model:
        a["gen_ai.response.model"] = m.model
    reason = finish_reason(facts, m)
    if reason is not None:
        a["gen_ai.response.finish_reasons"] = [reason]
    if facts.status is not None:
        a["realtime.response.status"] = facts.status
    if facts.created_ns is not None:
        a["realtime.response.created_unix_nano"] = facts.created_ns
    if facts.first_audio_ns is not None:
        a["realtime.response.first_audio_unix_nano"] = facts.first_audio_ns
    if facts.out_of_band:
        a["realtime.response.out_of_band"] = True
    state = facts.state
    shaped = realtime_output(state or "in_progress", items, m.audio.get(node.key))
    # the output messages as the caller heard them: an interrupted reply cut where it was
    # (§7), and said so by an attribute every convention's reader sees
    output = m.book.messages(facts.items)
    clip = m.audio.get(node.key)
    if clip is not None:  # what the caller heard, as a file or inline (--audio)
        output = with_clip(output, clip)
    if facts.truncated_at_ms is not None:
        a["realtrace.output.heard_ms"] = facts.truncated_at_ms
    if facts.heard_ns is not None:  # when the caller could hear it (`dynamics`)
        a["realtrace.heard.start_unix_nano"], a["realtrace.heard.end_unix_nano"] = facts.heard_ns
    for c in m.conventions:
        c.prompt(
            a, m.book, _prompt(node, facts, m, draft), output, shaped, facts.instructions, reason
        )
    _usage_attributes(facts.usage, a)
    draft.metrics.update(usage_metrics(facts.usage))
    if not facts.start_observed:  # its start is not in the log: no time measured from it
        a["realtrace.start_observed"] = False
    elif facts.first_content_ns is not None and facts.first_content_ns >= node.start_ns:
        ttft = (facts.first_content_ns - node.start_ns) / 1e9
        draft.metrics["time_to_first_token"] = ttft
        a["gen_ai.response.time_to_first_chunk"] = ttft
    out_ms = facts.audio_out_ms if facts.audio_out_ms is not None else facts.playback_ms
    if out_ms is not None:
        draft.metrics["audio_output_ms"] = round(out_ms, 3)
    tools = facts.tools if facts.tools != m.last_tools else None
    m.last_tools = facts.tools if not facts.out_of_band else m.last_tools
    draft.meta.update(
        compact(
            {
                "response_id": facts.response_id,
                "status": state,
                "provider_status": facts.status,
                "status_reason": facts.status_reason,
                "cancelled_by": "client" if facts.cancelled_by_client else None,
                "error": facts.error or None,
                "truncated_at_ms": facts.truncated_at_ms,
                "modalities": facts.modalities,
                "out_of_band": facts.out_of_band or None,
                "conversation_id": facts.conversation_id,
                "voice": facts.voice,
                "response_metadata": facts.metadata,
                "tools": tools,
                "tool_choice": facts.tool_choice,
                **usage_details(facts.usage),
            }
        )
    )
    return draft


def map_tool(node: Node, m: Mapping) -> SpanDraft:
    facts = node.facts_as(ToolFacts)
    draft = SpanDraft(f"execute_tool {facts.name}" if facts.name else "execute_tool", "tool")
    a = draft.attrs
    a["gen_ai.operation.name"] = "execute_tool"
    a["gen_ai.tool.call.id"] = facts.call_id
    a["gen_ai.tool.type"] = "function"
    if facts.name:
        a["gen_ai.tool.name"] = facts.name
    for c in m.conventions:
        if facts.arguments is not None:
            c.tool_arguments(a, facts.arguments)
    for c in m.conventions:
        if facts.has_output:
            c.tool_result(a, facts.output)
    draft.meta.update(compact({"tool_call_id": facts.call_id, "response_id": facts.response_id}))
    return draft


def map_app(node: Node, m: Mapping) -> SpanDraft:
    """App steps have no GenAI shape: their input/output are always `braintrust.*_json`."""
    facts = node.facts_as(AppFacts)
    draft = SpanDraft(facts.name, facts.span_type)
    if facts.input is not MISSING:
        draft.attrs["braintrust.input_json"] = dumps(facts.input)
    if facts.output is not MISSING:
        draft.attrs["braintrust.output_json"] = dumps(facts.output)
    draft.meta.update(facts.metadata or {})
    draft.metrics.update(facts.metrics or {})
    return draft


MAPPERS: dict[SpanKind, Callable[[Node, Mapping], SpanDraft]] = {
    SpanKind.TURN: map_turn,
    SpanKind.USER_INPUT: map_user_input,
    SpanKind.TRANSCRIPTION: map_transcription,
    SpanKind.RESPONSE: map_response,
    SpanKind.TOOL: map_tool,
    SpanKind.APP: map_app,
}
