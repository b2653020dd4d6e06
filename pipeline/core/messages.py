"""Messages: conversation items as chat messages (Braintrust) and GenAI `{role, parts}` messages.

Every response span carries the conversation so far, so each item's message is
built and serialized once per session (`MessageBook`) and reused.
"""

from __future__ import annotations

import json
from typing import Any

from pipeline.core.encode import dumps
from pipeline.core.events import obj
from pipeline.core.model import Item


def maybe_json(value: Any) -> Any:
    """Tool arguments/outputs are JSON text by convention; keep the text when they are not."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def audio_format(config: dict[str, Any], direction: str) -> str:
    """The session's audio format name (`pcm16`, `g711_ulaw`, `audio/pcm`, ...)."""
    fmt = obj(obj(config, "audio"), direction).get("format")
    if isinstance(fmt, dict):
        return str(fmt.get("type") or "audio/pcm")
    legacy = config.get(f"{direction}_audio_format")
    return str(fmt or legacy or "pcm16")


def _audio_part(item: Item, fmt: str) -> dict[str, Any]:
    """An OpenAI-shaped audio content part with format and duration, never data."""
    detail: dict[str, Any] = {"format": fmt}
    if item.audio_ms is not None:
        detail["duration_ms"] = round(item.audio_ms, 3)
    kind = "input_audio" if item.role in (None, "user") else "audio"
    return {"type": kind, kind: detail}


def chat_message(item: Item, fmt: str) -> dict[str, Any] | None:
    """A conversation item as an OpenAI chat-style message; None when it says nothing."""
    if item.type == "function_call":
        return {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": item.call_id,
                    "type": "function",
                    "function": {"name": item.name, "arguments": item.arguments or ""},
                }
            ],
        }
    if item.type == "function_call_output":
        return {"role": "tool", "tool_call_id": item.call_id, "content": item.output}
    if item.type != "message":
        return None
    said = item.final_text()
    if said is not None:
        return {"role": item.role or "user", "content": said}
    if item.audio:
        return {"role": item.role or "user", "content": [_audio_part(item, fmt)]}
    return None


def genai_message(msg: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    """Chat message → GenAI semantic-conventions message (role + typed parts)."""
    parts: list[dict[str, Any]] = []
    content = msg.get("content")
    if msg["role"] == "tool":
        parts.append(
            {"type": "tool_call_response", "id": msg.get("tool_call_id"), "response": content}
        )
    elif isinstance(content, str) and content:
        parts.append({"type": "text", "content": content})
    elif isinstance(content, list):
        for part in content:
            detail = part.get(part.get("type"), {})
            parts.append({"type": "audio", "modality": "audio", **detail})
    for call in msg.get("tool_calls") or []:
        fn = call.get("function") or {}
        parts.append(
            {
                "type": "tool_call",
                "id": call.get("id"),
                "name": fn.get("name"),
                "arguments": maybe_json(fn.get("arguments")),
            }
        )
    out: dict[str, Any] = {"role": msg["role"], "parts": parts}
    if finish_reason is not None:
        out["finish_reason"] = finish_reason
    return out


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
    """A session's items as chat messages, each built and serialized once."""

    def __init__(self, items: dict[str, Item], input_format: str) -> None:
        self.items = items
        self.fmt = input_format
        self._msg: dict[str, dict[str, Any] | None] = {}
        self._json: dict[tuple[int, str | None], str] = {}
        self._shared: set[int] = set()

    def messages(self, ids: list[str]) -> list[dict[str, Any]]:
        out = []
        for i in ids:
            if i not in self._msg:
                item = self.items.get(i)
                made = chat_message(item, self.fmt) if item is not None else None
                self._msg[i] = made
                if made is not None:
                    self._shared.add(id(made))
            m = self._msg[i]
            if m is not None:
                out.append(m)
        return _merge_calls(out)

    def _cached(self, msg: dict[str, Any], genai: bool, reason: str | None) -> str:
        key = (id(msg), f"g:{reason}" if genai else None)
        cached = self._json.get(key)
        if cached is None:
            cached = dumps(genai_message(msg, reason) if genai else msg)
            if id(msg) in self._shared:  # merged or ad-hoc messages are short-lived
                self._json[key] = cached
        return cached

    def json(self, msgs: list[dict[str, Any]]) -> str:
        return "[" + ",".join(self._cached(m, False, None) for m in msgs) + "]"

    def genai_json(self, msgs: list[dict[str, Any]], reason: str | None = None) -> str:
        return "[" + ",".join(self._cached(m, True, reason) for m in msgs) + "]"
