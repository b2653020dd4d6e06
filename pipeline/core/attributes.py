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
from typing import Any

from pipeline.core.conventions import CONVENTIONS
from pipeline.core.encode import dumps
from pipeline.core.events import num, obj
from pipeline.core.ids import span_id, trace_id
from pipeline.core.messages import MessageBook, audio_format
from pipeline.core.model import (
    MISSING,
    SPAN_KIND_CLIENT,
    SPAN_KIND_INTERNAL,
    AppFacts,
    AttrValue,
    InputFacts,
    Node,
    ResponseFacts,
    SessionTree,
    SpanRecord,
    ToolFacts,
    TurnFacts,
)


@dataclass(frozen=True, slots=True)
class MappingOptions:
    """How spans are named and shaped; part of the run configuration."""

    root_name: str = "realtime_session"
    tags: tuple[str, ...] = ()
    max_history: int = 50
    # names in core.conventions.CONVENTIONS, in its order: where messages go
    conventions: tuple[str, ...] = ("braintrust",)


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
        self.book = MessageBook(tree.session.items, audio_format(cfg, "input"))
        self.conventions = [CONVENTIONS[name] for name in options.conventions]
        self.model = cfg.get("model") if isinstance(cfg.get("model"), str) else None
        self.common: dict[str, AttrValue] = {"gen_ai.provider.name": "openai"}
        if self.model:
            self.common["gen_ai.request.model"] = self.model
        if tree.session.realtime_id:
            self.common["gen_ai.conversation.id"] = tree.session.realtime_id
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
            [k.facts_as(InputFacts).item_id for k in kids if k.kind == "user_input"]
        )

    def assistant_messages(self, turn: Node) -> list[dict[str, Any]]:
        ids = [
            i
            for k in self.children.get(turn.key, [])
            if k.kind == "response"
            for i in k.facts_as(ResponseFacts).items
        ]
        return self.book.messages(ids)


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


def usage_metrics(usage: dict[str, Any]) -> dict[str, float]:
    """Braintrust token metrics from a `response.done` usage object (type-tolerant)."""
    ind, outd = obj(usage, "input_token_details"), obj(usage, "output_token_details")
    m = {
        "prompt_tokens": num(usage.get("input_tokens")),
        "completion_tokens": num(usage.get("output_tokens")),
        "tokens": num(usage.get("total_tokens")),
        "prompt_cached_tokens": num(ind.get("cached_tokens")),
        "prompt_text_tokens": num(ind.get("text_tokens")),
        "prompt_audio_tokens": num(ind.get("audio_tokens")),
        "completion_text_tokens": num(outd.get("text_tokens")),
        "completion_audio_tokens": num(outd.get("audio_tokens")),
    }
    return {k: v for k, v in m.items() if v is not None}


# -- one mapper per span kind ---------------------------------------------------------


def map_turn(node: Node, m: Mapping) -> SpanDraft:
    facts = node.facts_as(TurnFacts)
    draft = SpanDraft(f"turn {facts.index}")
    draft.attrs["realtime.turn.interrupted"] = facts.interrupted
    users, assistant = m.user_messages(node), m.assistant_messages(node)
    m.payload(draft, users or None, assistant or None)
    if facts.voice_latency_s is not None:
        draft.metrics["voice_to_voice_latency"] = round(facts.voice_latency_s, 6)
    return draft


def map_user_input(node: Node, m: Mapping) -> SpanDraft:
    facts = node.facts_as(InputFacts)
    draft = SpanDraft("user_input")
    draft.attrs["realtime.item_id"] = facts.item_id
    draft.attrs["realtime.input.source"] = facts.source
    said = m.book.messages([facts.item_id])
    if said:
        for c in m.conventions:
            c.user_said(draft.attrs, m.book, said)
    if facts.audio_start_ms is not None:
        draft.attrs["realtime.audio_start_ms"] = int(facts.audio_start_ms)
    if facts.audio_end_ms is not None:
        draft.attrs["realtime.audio_end_ms"] = int(facts.audio_end_ms)
        if facts.audio_start_ms is not None:
            draft.metrics["audio_ms"] = facts.audio_end_ms - facts.audio_start_ms
    if facts.transcription_latency_s is not None:
        draft.metrics["transcription_latency"] = facts.transcription_latency_s
    if facts.transcription_usage is not None:
        draft.meta["transcription_usage"] = facts.transcription_usage
    return draft


def _prompt(facts: ResponseFacts, m: Mapping, draft: SpanDraft) -> list[dict[str, Any]]:
    """The conversation as the model saw it, capped at the last `max_history` messages."""
    history = m.book.messages(facts.context)
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
    return prompt + history[omitted:]


def _output_type(facts: ResponseFacts, m: Mapping) -> str:
    mods = (
        facts.modalities
        or m.tree.session.config.get("output_modalities")
        or m.tree.session.config.get("modalities")
    )
    if isinstance(mods, list) and mods:
        return "speech" if "audio" in mods else "text"
    audible = facts.audio_out_ms is not None or facts.playback_ms is not None
    return "speech" if audible else "text"


def _response_messages(
    facts: ResponseFacts, m: Mapping, draft: SpanDraft, reason: str | None
) -> None:
    """The response's prompt and output, once, in the payload shape the options choose."""
    prompt = _prompt(facts, m, draft)
    output = m.book.messages(facts.items)
    for c in m.conventions:
        c.prompt(draft.attrs, m.book, prompt, output, facts.instructions, reason)


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
    facts = node.facts_as(ResponseFacts)
    draft = SpanDraft(f"chat {m.model}" if m.model else "chat", "llm", SPAN_KIND_CLIENT)
    a = draft.attrs
    a["gen_ai.operation.name"] = "chat"
    a["gen_ai.response.id"] = facts.response_id
    a["gen_ai.output.type"] = _output_type(facts, m)
    a["gen_ai.request.stream"] = True
    if m.model:
        a["gen_ai.response.model"] = m.model
    reason = finish_reason(facts, m)
    if reason is not None:
        a["gen_ai.response.finish_reasons"] = [reason]
    if facts.status is not None:
        a["realtime.response.status"] = facts.status
    if facts.out_of_band:
        a["realtime.response.out_of_band"] = True
    _response_messages(facts, m, draft, reason)
    _usage_attributes(facts.usage, a)
    usage = facts.usage
    draft.metrics.update(usage_metrics(usage))
    if facts.first_delta_ns is not None:
        ttft = (facts.first_delta_ns - node.start_ns) / 1e9
        draft.metrics["time_to_first_token"] = ttft
        a["gen_ai.response.time_to_first_chunk"] = ttft
    out_ms = facts.audio_out_ms if facts.audio_out_ms is not None else facts.playback_ms
    if out_ms is not None:
        draft.metrics["audio_output_ms"] = round(out_ms, 3)
    draft.meta.update(
        compact(
            {
                "response_id": facts.response_id,
                "status": facts.status,
                "status_reason": facts.status_reason,
                "error": facts.error or None,
                "model": m.model,
                "truncated_at_ms": facts.truncated_at_ms,
                "modalities": facts.modalities,
                "response_metadata": facts.metadata,
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
    draft.meta.update(compact({"call_id": facts.call_id, "response_id": facts.response_id}))
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


MAPPERS: dict[str, Callable[[Node, Mapping], SpanDraft]] = {
    "turn": map_turn,
    "user_input": map_user_input,
    "response": map_response,
    "tool": map_tool,
    "app": map_app,
}
