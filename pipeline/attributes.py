"""Attributes: map reconstructed nodes to `braintrust.*` and OpenTelemetry GenAI attributes.

Braintrust reads `braintrust.input_json` / `output_json` / `metadata` / `metrics`
/ `span_attributes` as JSON strings and `braintrust.tags` as a string array;
the `gen_ai.*` set makes the same trace readable by any OTLP backend.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .events import obj
from .ids import span_id, trace_id
from .model import AttrValue, Node, SessionSpans, SessionTree, SpanRecord


@dataclass(frozen=True, slots=True)
class MappingOptions:
    """How spans are named and shaped; part of the run configuration."""

    root_name: str = "realtime_session"
    tags: tuple[str, ...] = ()
    max_history: int = 50


DEFAULT_MAPPING = MappingOptions()


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)


def _dumps(value: Any) -> str:
    """Compact JSON; one shared encoder (json.dumps with options builds one per call)."""
    return _ENCODER.encode(value)


def _maybe_json(text: Any) -> Any:
    """Tool arguments/outputs are JSON text by convention; keep the text when they are not."""
    if isinstance(text, str):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _message_text(item: dict[str, Any]) -> str | None:
    return (
        item.get("text") or item.get("transcript") or item.get("_text") or item.get("_transcript")
    )


def chat_message(item: dict[str, Any]) -> dict[str, Any] | None:
    """A conversation item as an OpenAI chat-style message (what Braintrust renders)."""
    kind = item.get("type", "message")
    if kind == "function_call":
        return {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": item.get("call_id"),
                    "type": "function",
                    "function": {
                        "name": item.get("name"),
                        "arguments": item.get("arguments") or "",
                    },
                }
            ],
        }
    if kind == "function_call_output":
        return {"role": "tool", "tool_call_id": item.get("call_id"), "content": item.get("output")}
    if kind != "message":
        return None
    text = _message_text(item)
    if text is None and item.get("audio"):
        text = "[audio]"
    return {"role": item.get("role") or "user", "content": text or ""}


def _genai_message(msg: dict[str, Any]) -> dict[str, Any]:
    """Chat message → GenAI semantic-conventions message (role + typed parts)."""
    parts: list[dict[str, Any]] = []
    if msg.get("content"):
        if msg["role"] == "tool":
            parts.append(
                {
                    "type": "tool_call_response",
                    "id": msg.get("tool_call_id"),
                    "response": msg["content"],
                }
            )
        else:
            parts.append({"type": "text", "content": msg["content"]})
    for call in msg.get("tool_calls") or []:
        fn = call.get("function") or {}
        parts.append(
            {
                "type": "tool_call",
                "id": call.get("id"),
                "name": fn.get("name"),
                "arguments": _maybe_json(fn.get("arguments")),
            }
        )
    return {"role": msg["role"], "parts": parts}


def _merge_calls(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fold a tool call into the assistant message just before it (one response, one message).

    Messages are shared between spans (see MessageBook): a merge builds a new dict.
    """
    out: list[dict[str, Any]] = []
    for msg in messages:
        prev = out[-1] if out else None
        if (
            prev is not None
            and prev["role"] == "assistant" == msg["role"]
            and msg.get("tool_calls")
        ):
            out[-1] = {**prev, "tool_calls": (prev.get("tool_calls") or []) + msg["tool_calls"]}
            continue
        out.append(msg)
    return out


class MessageBook:
    """A session's items as chat messages, each built and serialized once.

    Every response span carries the conversation so far, so without this a long
    session would rebuild and re-serialize the same messages once per response.
    """

    def __init__(self, items: dict[str, dict[str, Any]]) -> None:
        self.items = items
        self._msg: dict[str, dict[str, Any] | None] = {}
        self._json: dict[int, str] = {}
        self._genai: dict[int, str] = {}
        self._shared: set[int] = set()

    def messages(self, ids: list[str]) -> list[dict[str, Any]]:
        out = []
        for i in ids:
            if i not in self._msg:
                item = self.items.get(i)
                made = chat_message(item) if item is not None else None
                self._msg[i] = made
                if made is not None:
                    self._shared.add(id(made))
            m = self._msg[i]
            if m is not None:
                out.append(m)
        return _merge_calls(out)

    def _cached(self, cache: dict[int, str], msg: dict[str, Any], render: Any) -> str:
        key = id(msg)
        text = cache.get(key)
        if text is None:
            text = _dumps(render(msg))
            if key in self._shared:  # merged or ad-hoc messages are short-lived: never cached
                cache[key] = text
        return text

    def json(self, msgs: list[dict[str, Any]]) -> str:
        return "[" + ",".join(self._cached(self._json, m, lambda x: x) for m in msgs) + "]"

    def genai_json(self, msgs: list[dict[str, Any]]) -> str:
        return "[" + ",".join(self._cached(self._genai, m, _genai_message) for m in msgs) + "]"


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None and v != [] and v != {}}


def _finish_reason(data: dict[str, Any], items: dict[str, dict[str, Any]]) -> str:
    status = data.get("status")
    if status is None:
        return "incomplete"
    if status == "completed":
        calls = any(items.get(i, {}).get("type") == "function_call" for i in data.get("items", []))
        return "tool_calls" if calls else "stop"
    if status == "incomplete":
        return str((data.get("status_details") or {}).get("reason") or "length")
    return str(status)


def _usage_metrics(usage: dict[str, Any]) -> dict[str, float]:
    ind = usage.get("input_token_details") or {}
    outd = usage.get("output_token_details") or {}
    m = {
        "prompt_tokens": usage.get("input_tokens"),
        "completion_tokens": usage.get("output_tokens"),
        "tokens": usage.get("total_tokens"),
        "prompt_cached_tokens": ind.get("cached_tokens"),
        "prompt_text_tokens": ind.get("text_tokens"),
        "prompt_audio_tokens": ind.get("audio_tokens"),
        "completion_text_tokens": outd.get("text_tokens"),
        "completion_audio_tokens": outd.get("audio_tokens"),
    }
    return {k: v for k, v in m.items() if isinstance(v, int | float)}


def _session_facts(tree: SessionTree) -> dict[str, Any]:
    cfg = tree.session["config"]
    audio = obj(cfg, "audio")
    a_in, a_out = obj(audio, "input"), obj(audio, "output")
    tools = [t.get("name") for t in cfg.get("tools") or [] if isinstance(t, dict) and t.get("name")]
    return _clean(
        {
            "model": cfg.get("model"),
            "voice": cfg.get("voice") or a_out.get("voice"),
            "modalities": cfg.get("modalities") or cfg.get("output_modalities"),
            "turn_detection": cfg.get("turn_detection") or a_in.get("turn_detection"),
            "input_audio_format": cfg.get("input_audio_format") or a_in.get("format"),
            "output_audio_format": cfg.get("output_audio_format") or a_out.get("format"),
            "input_audio_transcription": cfg.get("input_audio_transcription")
            or a_in.get("transcription"),
            "tools": tools,
            "instructions": cfg.get("instructions"),
        }
    )


def map_session(tree: SessionTree, options: MappingOptions = DEFAULT_MAPPING) -> SessionSpans:
    """Nodes of one session → exportable span records (root first). Pure."""
    key = tree.session_key
    tid = trace_id(key)
    items: dict[str, dict[str, Any]] = tree.session["items"]
    facts = _session_facts(tree)
    model = str(facts.get("model") or "gpt-realtime")
    realtime_id = tree.session.get("realtime_id")
    common: dict[str, AttrValue] = {"gen_ai.provider.name": "openai", "gen_ai.request.model": model}
    if realtime_id:
        common["gen_ai.conversation.id"] = str(realtime_id)

    book = MessageBook(items)
    ids = {n.key: span_id(key, n.key) for n in tree.nodes}
    totals = {"prompt_tokens": 0, "completion_tokens": 0, "tokens": 0}
    responses = 0
    turn_io: dict[str, dict[str, list[Any]]] = {}
    for node in tree.nodes:
        if node.kind == "response":
            responses += 1
            for k, v in _usage_metrics(node.data.get("usage") or {}).items():
                if k in totals:
                    totals[k] += int(v)
        if node.kind in ("user_input", "response") and node.parent:
            io = turn_io.setdefault(node.parent, {"input": [], "output": []})
            if node.kind == "user_input":
                text = _input_text(node, items)
                if text:
                    io["input"].append({"role": "user", "content": text})
            else:
                io["output"].extend(book.messages(node.data.get("items", [])))
    spans = [
        _span(n, tid, ids, tree, common, options, model, turn_io, book) for n in tree.nodes[1:]
    ]

    history = book.messages(tree.session["order"])
    metrics = {
        "turns": sum(1 for n in tree.nodes if n.kind == "turn"),
        "responses": responses,
        "total_messages": len(history),
        **totals,
        "audio_input_ms": round(_audio_input_ms(tree), 3),
        "audio_output_ms": round(tree.session["audio_out_ms"], 3),
        "errors": tree.stats["errors"],
        "session_duration_ms": (tree.nodes[0].end_ns - tree.nodes[0].start_ns) / 1e6,
    }
    root = tree.nodes[0]
    meta = _clean(
        {
            "session_id": realtime_id,
            "session_key": key,
            **facts,
            **tree.session["metadata"],
            "unknown_events": tree.stats["unknown_events"] or None,
            "conversation_history": history,
        }
    )
    attrs: dict[str, AttrValue] = {
        "realtrace.kind": "session",
        "realtrace.session_key": key,
        "realtrace.events": tree.stats["events"],
        **common,
        "braintrust.span_attributes": _dumps({"type": "task", "name": options.root_name}),
        "braintrust.input_json": _dumps([m for m in history if m["role"] == "user"]),
        "braintrust.output_json": _dumps(
            [m for m in history if m["role"] == "assistant" and m.get("content")]
        ),
        "braintrust.metadata": _dumps(meta),
        "braintrust.metrics": _dumps(metrics),
        "braintrust.tags": ["realtime", model, *options.tags],
    }
    if root.incomplete:
        attrs["realtrace.incomplete"] = True
    root_span = SpanRecord(
        tid,
        ids["session"],
        None,
        options.root_name,
        root.start_ns,
        root.end_ns,
        attrs,
        list(root.events),
        root.error,
    )
    return SessionSpans(
        key, tid, [root_span, *spans], root.start_ns, root.end_ns, dict(tree.stats), root.incomplete
    )


def _input_text(node: Node, items: dict[str, dict[str, Any]]) -> str | None:
    item = items.get(node.data.get("item_id", ""), {})
    return (
        node.data.get("transcript")
        or node.data.get("text")
        or item.get("transcript")
        or item.get("text")
    )


def _audio_input_ms(tree: SessionTree) -> float:
    """From appended audio when the client side was logged, else from VAD offsets."""
    if tree.stats["audio_in_bytes"]:
        return float(tree.session["audio_in_ms"])
    total = 0.0
    for n in tree.nodes:
        if n.kind == "user_input":
            start, end = n.data.get("audio_start_ms"), n.data.get("audio_end_ms")
            if isinstance(start, int | float) and isinstance(end, int | float):
                total += max(0, end - start)
    return total


def _span(
    node: Node,
    tid: bytes,
    ids: dict[str, bytes],
    tree: SessionTree,
    common: dict[str, AttrValue],
    options: MappingOptions,
    model: str,
    turn_io: dict[str, dict[str, list[Any]]],
    book: MessageBook,
) -> SpanRecord:
    items: dict[str, dict[str, Any]] = tree.session["items"]
    d = node.data
    attrs: dict[str, AttrValue] = {"realtrace.kind": node.kind, **common}
    metrics: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    bt_type = "task"
    name = node.kind
    if node.kind == "turn":
        name = f"turn {d.get('index', '')}".strip()
        io = turn_io.get(node.key, {"input": [], "output": []})
        attrs["braintrust.input_json"] = _dumps(io["input"])
        attrs["braintrust.output_json"] = _dumps(io["output"])
    elif node.kind == "user_input":
        text = _input_text(node, items)
        attrs["realtime.item_id"] = str(d.get("item_id"))
        attrs["realtime.input.source"] = str(d.get("source"))
        if text is not None:
            attrs["braintrust.output_json"] = _dumps(text)
        start, end = d.get("audio_start_ms"), d.get("audio_end_ms")
        if isinstance(start, int | float):
            attrs["realtime.audio_start_ms"] = int(start)
        if isinstance(end, int | float):
            attrs["realtime.audio_end_ms"] = int(end)
            if isinstance(start, int | float):
                metrics["audio_ms"] = end - start
        if "transcription_latency_s" in d:
            metrics["transcription_latency"] = d["transcription_latency_s"]
        usage = d.get("transcription_usage")
        if isinstance(usage, dict):
            meta["transcription_usage"] = usage
    elif node.kind == "response":
        bt_type = "llm"
        name = f"chat {model}"
        rid = str(d.get("response_id"))
        attrs["gen_ai.operation.name"] = "chat"
        attrs["gen_ai.response.id"] = rid
        attrs["gen_ai.response.model"] = model
        attrs["gen_ai.response.finish_reasons"] = [_finish_reason(d, items)]
        context = list(d.get("context", []))
        history = book.messages(context)
        omitted = max(0, len(history) - options.max_history)
        shown = history[omitted:] if options.max_history > 0 else []
        instructions = d.get("instructions")
        prompt: list[dict[str, Any]] = (
            [{"role": "system", "content": instructions}] if instructions else []
        )
        if omitted:
            prompt.append(
                {"role": "system", "content": f"[realtrace: {omitted} earlier messages omitted]"}
            )
            meta["history_omitted_messages"] = omitted
        prompt += shown
        output = book.messages(d.get("items", []))
        attrs["braintrust.input_json"] = book.json(prompt)
        attrs["braintrust.output_json"] = book.json(output)
        attrs["gen_ai.input.messages"] = book.genai_json(prompt[1:] if instructions else prompt)
        if instructions:
            attrs["gen_ai.system_instructions"] = _dumps(
                [{"type": "text", "content": instructions}]
            )
        reason = _finish_reason(d, items)
        attrs["gen_ai.output.messages"] = _dumps(
            [{**_genai_message(m), "finish_reason": reason} for m in output]
        )
        usage = d.get("usage") or {}
        if isinstance(usage.get("input_tokens"), int):
            attrs["gen_ai.usage.input_tokens"] = usage["input_tokens"]
        if isinstance(usage.get("output_tokens"), int):
            attrs["gen_ai.usage.output_tokens"] = usage["output_tokens"]
        cached = (usage.get("input_token_details") or {}).get("cached_tokens")
        if isinstance(cached, int):
            attrs["gen_ai.usage.cache_read.input_tokens"] = cached
        metrics.update(_usage_metrics(usage))
        if "first_token_ns" in d:
            metrics["time_to_first_token"] = (d["first_token_ns"] - node.start_ns) / 1e9
        if d.get("audio_out_ms"):
            metrics["audio_output_ms"] = round(d["audio_out_ms"], 3)
        status = d.get("status")
        attrs["realtime.response.status"] = str(status or "in_progress")
        details = d.get("status_details") or {}
        meta.update(
            _clean(
                {
                    "response_id": rid,
                    "status": status,
                    "status_reason": details.get("reason"),
                    "model": model,
                    "truncated_at_ms": d.get("truncated_at_ms"),
                    "modalities": d.get("output_modalities") or d.get("modalities"),
                }
            )
        )
    elif node.kind == "tool":
        bt_type = "tool"
        tool_name = str(d.get("name") or "function")
        name = f"execute_tool {tool_name}"
        attrs["gen_ai.operation.name"] = "execute_tool"
        attrs["gen_ai.tool.name"] = tool_name
        attrs["gen_ai.tool.call.id"] = str(d.get("call_id"))
        attrs["gen_ai.tool.type"] = "function"
        if "arguments" in d:
            attrs["braintrust.input_json"] = _dumps(_maybe_json(d["arguments"]))
            attrs["gen_ai.tool.call.arguments"] = str(d["arguments"])
        if "output" in d:
            attrs["braintrust.output_json"] = _dumps(_maybe_json(d["output"]))
            attrs["gen_ai.tool.call.result"] = str(d["output"])
        if d.get("response_id"):
            meta["response_id"] = d["response_id"]
        meta["call_id"] = d.get("call_id")
    attrs["braintrust.span_attributes"] = _dumps({"type": bt_type, "name": name})
    if metrics:
        attrs["braintrust.metrics"] = _dumps(metrics)
    if meta:
        attrs["braintrust.metadata"] = _dumps(meta)
    if node.incomplete:
        attrs["realtrace.incomplete"] = True
    parent = ids[node.parent] if node.parent else None
    return SpanRecord(
        tid,
        ids[node.key],
        parent,
        name,
        node.start_ns,
        node.end_ns,
        attrs,
        list(node.events),
        node.error,
    )
