"""Messages: conversation items as chat messages (Braintrust) and GenAI `{role, parts}` messages.

Every response span carries the conversation so far, so each item's message is
built and serialized once per session (`MessageBook`) and reused.
"""

from __future__ import annotations

import json
import math
from typing import Any

from pipeline.core.model import Item
from pipeline.encode import dumps


def maybe_json(value: Any) -> Any:
    """Tool arguments/outputs are JSON text by convention; keep the text when they are not."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _audio_part(item: Item, fmt: str | None, ms: float | None) -> dict[str, Any]:
    """An OpenAI-shaped audio content part with format and duration when known, never data."""
    detail: dict[str, Any] = {}
    if fmt is not None:
        detail["format"] = fmt
    if ms is not None:
        detail["duration_ms"] = round(ms, 3)
    kind = "input_audio" if item.role in (None, "user") else "audio"
    return {"type": kind, kind: detail}


def audio_message(item: Item, fmt: str | None) -> dict[str, Any]:
    """The item's audio alone, as a message (what a transcription model is given)."""
    return {"role": item.role or "user", "content": [_audio_part(item, fmt, item.audio_ms)]}


def chat_message(item: Item, fmt: str | None, heard: bool = False) -> dict[str, Any] | None:
    """A conversation item as an OpenAI chat-style message; None when it says nothing.

    `heard`: a truncated item as the model sees it after the truncation, which deleted its
    transcript: the audio the caller heard, and nothing else.
    """
    if heard and item.truncated_ns is not None:
        return {
            "role": item.role or "assistant",
            "content": [_audio_part(item, fmt, item.heard_ms)],
        }
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
        return {"role": item.role or "user", "content": [_audio_part(item, fmt, item.audio_ms)]}
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
            if part.get("type") == "text":
                parts.append({"type": "text", "content": part.get("text")})
                continue
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
    """A session's items as chat messages, each built and serialized once.

    A truncated item has two messages: as generated (its own response's output) and as
    heard (every prompt after the truncation, and the turn's and session's views).
    """

    def __init__(
        self, items: dict[str, Item], input_format: str | None, output_format: str | None
    ) -> None:
        self.items = items
        self.formats = (input_format, output_format)
        self._msg: dict[tuple[str, bool], dict[str, Any] | None] = {}
        self._json: dict[tuple[int, str | None], str] = {}
        self._shared: set[int] = set()

    def messages(self, ids: list[str], as_of: float = math.inf) -> list[dict[str, Any]]:
        """The items' messages as the model saw them at `as_of` (ns): a truncated item as
        heard once its truncation had happened; `-math.inf`: as generated."""
        out = []
        for i in ids:
            item = self.items.get(i)
            heard = (
                item is not None and item.truncated_ns is not None and item.truncated_ns <= as_of
            )
            key = (i, heard)
            if key not in self._msg:
                fmt = (
                    self.formats[0]
                    if item is None or item.role in (None, "user")
                    else self.formats[1]
                )
                made = chat_message(item, fmt, heard) if item is not None else None
                self._msg[key] = made
                if made is not None:
                    self._shared.add(id(made))
            m = self._msg[key]
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


def with_clip(messages: list[dict[str, Any]], ref: Any) -> list[dict[str, Any]]:
    """The messages with the response's rebuilt audio (`--audio`: a file's path, or inline
    base64) as the first part of its first assistant message, as user inputs carry theirs:
    new dicts, the book's shared messages untouched."""
    out, done = [], False
    for msg in messages:
        if not done and msg.get("role") == "assistant":
            said = msg.get("content")
            parts: list[dict[str, Any]] = [
                {"type": "audio", "audio": {"data": ref, "format": "wav"}}
            ]
            if isinstance(said, str) and said:
                parts.append({"type": "text", "text": said})
            elif isinstance(said, list):
                parts += said
            msg, done = {**msg, "content": parts}, True
        out.append(msg)
    return out


def realtime_output(state: str, items: list[Item], audio: Any = None) -> dict[str, Any]:
    """A response's output in the Realtime shape of trace model §6: `{status, content,
    tool_calls?}`, what was delivered before its end. A truncated item keeps its transcript
    with `truncated_at_ms` and `heard_ms`. `audio`: the rebuilt audio's reference (--audio),
    in the first audio part."""
    content: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    for item in items:
        if item.type == "function_call":
            calls.append(
                {
                    "id": item.call_id,
                    "type": "function",
                    "function": {"name": item.name, "arguments": item.arguments or ""},
                }
            )
            continue
        if item.type != "message":
            continue
        said = item.final_text()
        spoken = item.audio or item.transcript is not None or bool(item.transcript_deltas)
        part: dict[str, Any] = (
            {"type": "audio", "transcript": said} if spoken else {"type": "text", "text": said}
        )
        if spoken and item.audio_ms is not None:
            part["duration_ms"] = round(item.audio_ms, 3)
        if item.truncated_ns is not None:
            part["truncated_at_ms"] = item.truncated_at_ms
            part["heard_ms"] = item.heard_ms
        if spoken and audio is not None:
            part["audio"] = {"data": audio, "format": "wav"}
            audio = None
        if said is not None or spoken:
            content.append({k: v for k, v in part.items() if v is not None})
    out: dict[str, Any] = {"status": state, "content": content}
    if calls:
        out["tool_calls"] = calls
    return out
