"""Reconstruct: replay one session's ordered events through a state machine into span nodes.

This is the only per-event Python loop of the pipeline. It keeps domain facts
(items, usage, transcripts) on plain `Node`s; turning them into attributes is
the next stage's job. Span times are always recorded event timestamps.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from .events import KNOWN_TYPES, audio_bytes_per_second
from .events import obj as _obj
from .model import Node, SessionEvents, SessionTree, SpanEvent

Handler = Callable[["SessionMachine", int, dict[str, Any]], None]


class SessionMachine:
    """State of one session while its events are replayed in order."""

    def __init__(self, session_key: str) -> None:
        self.session_key = session_key
        self.config: dict[str, Any] = {}
        self.realtime_id: str | None = None
        self.items: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []
        self.nodes: dict[str, Node] = {}
        self.turn: Node | None = None
        self.turn_seq = 0
        self.item_response: dict[str, str] = {}
        self.client_spans: dict[str, str] = {}
        self.pending_text_inputs: list[Node] = []
        self.stats: dict[str, int] = {
            "events": 0,
            "unknown_events": 0,
            "errors": 0,
            "audio_in_bytes": 0,
            "audio_out_bytes": 0,
        }
        self.audio_in_ms = 0.0
        self.audio_out_ms = 0.0
        root = Node("session", "session", None, 0, 0)
        self.root = root
        self.nodes["session"] = root

    # -- helpers -----------------------------------------------------------------

    def _add(self, node: Node) -> Node:
        existing = self.nodes.get(node.key)
        if existing is not None:
            return existing
        self.nodes[node.key] = node
        return node

    def _item(self, item_id: str) -> dict[str, Any]:
        item = self.items.get(item_id)
        if item is None:
            item = {"id": item_id}
            self.items[item_id] = item
            self.order.append(item_id)
        return item

    def _merge_item(self, raw: dict[str, Any] | None) -> dict[str, Any] | None:
        """Fold what an event says about a conversation item into the one record of it."""
        if not isinstance(raw, dict) or not raw.get("id"):
            return None
        item = self._item(str(raw["id"]))
        for k in ("type", "role", "call_id", "name", "arguments", "output", "status"):
            v = raw.get(k)
            if v not in (None, ""):
                item[k] = v
        for part in raw.get("content") or []:
            if not isinstance(part, dict):
                continue
            if part.get("transcript"):
                item["transcript"] = part["transcript"]
            if part.get("text"):
                item["text"] = part["text"]
            if part.get("type") in ("input_audio", "audio", "output_audio"):
                item["audio"] = True
        return item

    def _open_turn(self, ts: int, key_hint: str) -> Node:
        self.turn_seq += 1
        key = f"turn:{key_hint}"
        if key in self.nodes:
            key = f"turn:{key_hint}#{self.turn_seq}"
        turn = self._add(Node(key, "turn", "session", ts, ts, {"index": self.turn_seq}))
        self.turn = turn
        return turn

    def _current_turn(self, ts: int, key_hint: str) -> Node:
        return self.turn if self.turn is not None else self._open_turn(ts, key_hint)

    def _innermost_open(self) -> Node:
        for kind in ("tool", "response", "user_input"):
            for node in reversed(self.nodes.values()):
                if node.kind == kind and not node.closed:
                    return node
        return self.turn or self.root

    def _fail(self, node: Node, ts: int, kind: str, message: str, extra: dict[str, Any]) -> None:
        attrs: dict[str, Any] = {"exception.type": kind, "exception.message": message}
        for k, v in extra.items():
            if v is not None:
                attrs[f"realtime.error.{k}"] = str(v)
        node.events.append(SpanEvent("exception", ts, attrs))
        node.error = message or kind
        self.stats["errors"] += 1

    def _user_input(self, ts: int, item_id: str, source: str) -> Node:
        key = f"input:{item_id}"
        node = self.nodes.get(key)
        if node is None:
            turn = self._open_turn(ts, item_id)
            node = self._add(
                Node(key, "user_input", turn.key, ts, ts, {"item_id": item_id, "source": source})
            )
        return node

    def _tool(
        self, ts: int, call_id: str, name: str | None, arguments: Any, response_id: str | None
    ) -> Node:
        key = f"tool:{call_id}"
        node = self.nodes.get(key)
        if node is None:
            turn = self._current_turn(ts, f"call_{call_id}")
            node = self._add(Node(key, "tool", turn.key, ts, ts, {"call_id": call_id}))
        if name:
            node.data["name"] = name
        if arguments not in (None, ""):
            node.data["arguments"] = arguments
        if response_id:
            node.data.setdefault("response_id", response_id)
        return node

    # -- handlers ----------------------------------------------------------------

    def on_session(self, ts: int, ev: dict[str, Any]) -> None:
        session = ev.get("session")
        if isinstance(session, dict):
            if session.get("id") and not self.realtime_id:
                self.realtime_id = str(session["id"])
            self.config.update({k: v for k, v in session.items() if v is not None})

    def on_session_update(self, ts: int, ev: dict[str, Any]) -> None:
        session = ev.get("session")
        if isinstance(session, dict):
            for k, v in session.items():
                self.config.setdefault(k, v)

    def on_speech_started(self, ts: int, ev: dict[str, Any]) -> None:
        item_id = str(ev.get("item_id") or f"speech@{ts}")
        node = self._user_input(ts, item_id, "audio")
        node.data["audio_start_ms"] = ev.get("audio_start_ms")

    def on_speech_stopped(self, ts: int, ev: dict[str, Any]) -> None:
        node = self.nodes.get(f"input:{ev.get('item_id')}")
        if node is not None:
            node.data["audio_end_ms"] = ev.get("audio_end_ms")
            node.end_ns = max(node.end_ns, ts)

    def on_committed(self, ts: int, ev: dict[str, Any]) -> None:
        item_id = str(ev.get("item_id") or f"commit@{ts}")
        node = self._user_input(ts, item_id, "audio")
        node.data["committed_ns"] = ts
        node.end_ns = max(node.end_ns, ts)
        node.closed = True
        item = self._item(item_id)
        item.setdefault("type", "message")
        item.setdefault("role", "user")
        item["audio"] = True

    def on_transcription_done(self, ts: int, ev: dict[str, Any]) -> None:
        item_id = str(ev.get("item_id") or "")
        transcript = ev.get("transcript") or ""
        self._item(item_id)["transcript"] = transcript
        node = self.nodes.get(f"input:{item_id}")
        if node is not None:
            node.data["transcript"] = transcript
            committed = node.data.get("committed_ns")
            if committed is not None:
                node.data["transcription_latency_s"] = (ts - committed) / 1e9
            if isinstance(ev.get("usage"), dict):
                node.data["transcription_usage"] = ev["usage"]
            node.end_ns = max(node.end_ns, ts)
            node.closed = True

    def on_transcription_failed(self, ts: int, ev: dict[str, Any]) -> None:
        err = _obj(ev, "error")
        node = self.nodes.get(f"input:{ev.get('item_id')}") or self._innermost_open()
        self._fail(
            node,
            ts,
            str(err.get("type") or "transcription_failed"),
            str(err.get("message") or "input audio transcription failed"),
            {"code": err.get("code")},
        )
        node.end_ns = max(node.end_ns, ts)
        node.closed = True

    def on_item_create(self, ts: int, ev: dict[str, Any]) -> None:
        raw = _obj(ev, "item")
        kind = raw.get("type")
        if kind == "function_call_output":
            call_id = str(raw.get("call_id") or "")
            node = self._tool(ts, call_id, None, None, None)
            node.data["output"] = raw.get("output")
            node.end_ns = max(node.end_ns, ts)
            node.closed = True
            if ev.get("event_id"):
                self.client_spans[str(ev["event_id"])] = node.key
        elif kind == "message" and raw.get("role") == "user":
            item_id = str(raw.get("id") or ev.get("event_id") or f"msg@{ts}")
            node = self._user_input(ts, item_id, "text")
            node.closed = True
            node.data["text"] = "".join(
                str(p.get("text") or p.get("transcript") or "")
                for p in raw.get("content") or []
                if isinstance(p, dict)
            )
            if not raw.get("id"):
                self.pending_text_inputs.append(node)
            if ev.get("event_id"):
                self.client_spans[str(ev["event_id"])] = node.key
        if raw.get("id"):
            self._merge_item(raw)
        elif kind == "function_call_output" or (kind == "message" and raw.get("role") != "user"):
            self._merge_item({**raw, "id": f"client:{ev.get('event_id') or ts}"})

    def on_item_added(self, ts: int, ev: dict[str, Any]) -> None:
        raw = ev.get("item")
        if not isinstance(raw, dict) or not raw.get("id"):
            return
        new = raw["id"] not in self.items
        item = self._merge_item(raw)
        if item is None or not new:
            return
        if item.get("type") == "message" and item.get("role") == "user" and not item.get("audio"):
            if self.pending_text_inputs:
                node = self.pending_text_inputs.pop(0)
                node.data["item_id"] = item["id"]
            elif f"input:{item['id']}" not in self.nodes:
                node = self._user_input(ts, str(item["id"]), "text")
                node.closed = True
                node.data["text"] = item.get("text", "")
        elif item.get("type") == "function_call_output" and item.get("call_id"):
            node = self._tool(ts, str(item["call_id"]), None, None, None)
            if not node.closed:
                node.data["output"] = item.get("output")
                node.end_ns = max(node.end_ns, ts)
                node.closed = True

    def on_response_created(self, ts: int, ev: dict[str, Any]) -> None:
        resp = _obj(ev, "response")
        rid = str(resp.get("id") or f"resp@{ts}")
        turn = self._current_turn(ts, rid)
        node = self._add(
            Node(f"response:{rid}", "response", turn.key, ts, ts, {"response_id": rid})
        )
        node.data["context"] = list(self.order)
        node.data["instructions"] = self.config.get("instructions")
        node.data["model"] = self.config.get("model")
        node.data["items"] = []
        for k in ("modalities", "output_modalities", "voice", "conversation", "metadata"):
            if resp.get(k) is not None:
                node.data[k] = resp[k]

    def _response(self, ev: dict[str, Any], ts: int) -> Node | None:
        rid = ev.get("response_id")
        if rid is None:
            return None
        node = self.nodes.get(f"response:{rid}")
        if node is None:  # response.created missing from the log: open it here
            self.on_response_created(ts, {"response": {"id": rid}})
            node = self.nodes[f"response:{rid}"]
        return node

    def _first_token(self, node: Node, ts: int) -> None:
        first = node.data.get("first_token_ns")
        if first is None or ts < first:
            node.data["first_token_ns"] = ts

    def on_output_item(self, ts: int, ev: dict[str, Any]) -> None:
        node = self._response(ev, ts)
        item = self._merge_item(ev.get("item"))
        if node is None or item is None:
            return
        if item["id"] not in node.data["items"]:
            node.data["items"].append(item["id"])
        self.item_response[item["id"]] = node.key
        if (
            item.get("type") == "function_call"
            and item.get("call_id")
            and ev.get("type") == "response.output_item.done"
        ):
            self._tool(
                ts,
                str(item["call_id"]),
                item.get("name"),
                item.get("arguments"),
                node.data["response_id"],
            )

    def on_text_delta(self, ts: int, ev: dict[str, Any]) -> None:
        node = self._response(ev, ts)
        if node is None:
            return
        self._first_token(node, ts)
        item_id = ev.get("item_id")
        if item_id:
            key = (
                "transcript"
                if ev.get("type") == "response.output_audio_transcript.delta"
                else "text"
            )
            item = self._item(str(item_id))
            item.setdefault("role", "assistant")
            item.setdefault("type", "message")
            item["_" + key] = item.get("_" + key, "") + str(ev.get("delta") or "")
            if item_id not in node.data["items"]:
                node.data["items"].append(item_id)
                self.item_response[str(item_id)] = node.key

    def on_text_done(self, ts: int, ev: dict[str, Any]) -> None:
        item_id = ev.get("item_id")
        if not item_id:
            return
        item = self._item(str(item_id))
        if ev.get("type") == "response.output_audio_transcript.done":
            item["transcript"] = ev.get("transcript") or item.get("_transcript", "")
        else:
            item["text"] = ev.get("text") or item.get("_text", "")

    def on_args_done(self, ts: int, ev: dict[str, Any]) -> None:
        call_id = ev.get("call_id")
        if not call_id:
            return
        if ev.get("item_id"):
            item = self._item(str(ev["item_id"]))
            item.update(
                {"type": "function_call", "call_id": call_id, "arguments": ev.get("arguments")}
            )
            if ev.get("name"):
                item["name"] = ev["name"]
        rnode = self._response(ev, ts)
        self._tool(
            ts,
            str(call_id),
            ev.get("name"),
            ev.get("arguments"),
            rnode.data["response_id"] if rnode else None,
        )

    def on_response_done(self, ts: int, ev: dict[str, Any]) -> None:
        resp = _obj(ev, "response")
        rid = resp.get("id")
        node = self._response({"response_id": rid}, ts) if rid else None
        if node is None:
            return
        node.end_ns = max(node.end_ns, ts)
        node.closed = True
        status = resp.get("status") or "completed"
        node.data["status"] = status
        details = _obj(resp, "status_details")
        node.data["status_details"] = details
        if isinstance(resp.get("usage"), dict):
            node.data["usage"] = resp["usage"]
        for raw in resp.get("output") or []:
            item = self._merge_item(raw)
            if item is None:
                continue
            if item["id"] not in node.data["items"]:
                node.data["items"].append(item["id"])
            self.item_response[item["id"]] = node.key
            if item.get("type") == "function_call" and item.get("call_id"):
                self._tool(
                    ts, str(item["call_id"]), item.get("name"), item.get("arguments"), str(rid)
                )
        if status == "failed":
            err = _obj(details, "error")
            self._fail(
                node,
                ts,
                str(err.get("type") or "response_failed"),
                str(err.get("message") or err.get("code") or "response failed"),
                {"code": err.get("code")},
            )

    def on_truncate(self, ts: int, ev: dict[str, Any]) -> None:
        item_id = ev.get("item_id")
        if not item_id:
            return
        item = self._item(str(item_id))
        item["truncated_at_ms"] = ev.get("audio_end_ms")
        rkey = self.item_response.get(str(item_id))
        node = self.nodes.get(rkey) if rkey else None
        if node is not None and "truncated_at_ms" not in node.data:
            node.data["truncated_at_ms"] = ev.get("audio_end_ms")
            node.events.append(
                SpanEvent(
                    "realtime.truncated",
                    ts,
                    {"item_id": str(item_id), "audio_end_ms": int(ev.get("audio_end_ms") or 0)},
                )
            )

    def on_error(self, ts: int, ev: dict[str, Any]) -> None:
        err = _obj(ev, "error")
        target_key = (
            self.client_spans.get(str(err.get("event_id"))) if err.get("event_id") else None
        )
        node = self.nodes.get(target_key) if target_key else None
        node = node or self._innermost_open()
        self._fail(
            node,
            ts,
            str(err.get("type") or "error"),
            str(err.get("message") or ""),
            {"code": err.get("code"), "param": err.get("param"), "event_id": err.get("event_id")},
        )

    def on_client_event(self, ts: int, ev: dict[str, Any]) -> None:
        """Remember which span a client event belongs to, for `error.event_id` lookups."""
        if ev.get("event_id"):
            self.client_spans[str(ev["event_id"])] = self._innermost_open().key

    # -- driver ------------------------------------------------------------------

    def feed(self, ts: int, etype: str, event: str | None) -> None:
        """One non-audio event (audio rows are aggregated by `add_audio`)."""
        self.stats["events"] += 1
        handler = HANDLERS.get(etype)
        if handler is None:
            if etype not in KNOWN_TYPES:
                self.stats["unknown_events"] += 1
            return
        try:
            ev = json.loads(event) if event else {}
        except ValueError:
            ev = {}
        if not isinstance(ev, dict):
            return
        ev["type"] = etype
        handler(self, ts, ev)

    def add_audio(self, se: SessionEvents) -> None:
        """Audio sums of the session: sizes (never payloads) per direction and response.

        Durations use the session's audio format as configured by the end of the
        replay; output audio without a `response_id` counts for the session only.
        """
        self.stats["events"] += se.audio_events
        self.stats["audio_in_bytes"] += se.audio_in_bytes
        self.stats["audio_out_bytes"] += se.audio_out_bytes
        self.audio_in_ms += se.audio_in_bytes * 1000 / audio_bytes_per_second(self._format("input"))
        out_bps = audio_bytes_per_second(self._format("output"))
        self.audio_out_ms += se.audio_out_bytes * 1000 / out_bps
        for rid, nbytes, first in se.audio_by_response:
            node = self._response({"response_id": rid}, first)
            if node is not None:
                node.data["audio_out_ms"] = (
                    node.data.get("audio_out_ms", 0.0) + nbytes * 1000 / out_bps
                )
                self._first_token(node, first)

    def _format(self, direction: str) -> Any:
        cfg = self.config
        audio = cfg.get("audio")
        if isinstance(audio, dict) and isinstance(audio.get(direction), dict):
            return audio[direction].get("format")
        return cfg.get(f"{direction}_audio_format", "pcm16")

    def finish(self, first_ts: int, last_ts: int, metadata: dict[str, Any]) -> SessionTree:
        """Close every open span at the last event (cut-off sessions) and order the nodes."""
        root = self.root
        root.start_ns, root.end_ns = first_ts, last_ts
        incomplete_any = False
        for node in self.nodes.values():
            if node.kind in ("turn", "session"):
                continue
            if not node.closed and not (
                node.kind == "user_input" and node.data.get("source") == "text"
            ):
                node.end_ns = max(node.end_ns, last_ts)
                node.incomplete = True
                incomplete_any = True
        for node in self.nodes.values():
            if node.kind == "turn":
                children = [n for n in self.nodes.values() if n.parent == node.key]
                if children:
                    node.start_ns = min(node.start_ns, *(c.start_ns for c in children))
                    node.end_ns = max(node.end_ns, *(c.end_ns for c in children))
                    node.incomplete = any(c.incomplete for c in children)
        root.incomplete = incomplete_any
        nodes = [
            root,
            *sorted(
                (n for n in self.nodes.values() if n is not root),
                key=lambda n: (n.start_ns, _KIND_ORDER[n.kind]),
            ),
        ]
        session = {
            "realtime_id": self.realtime_id,
            "config": self.config,
            "metadata": metadata,
            "items": self.items,
            "order": self.order,
            "audio_in_ms": self.audio_in_ms,
            "audio_out_ms": self.audio_out_ms,
        }
        return SessionTree(self.session_key, nodes, dict(self.stats), session)


_KIND_ORDER = {"session": 0, "turn": 1, "user_input": 2, "response": 3, "tool": 4}

HANDLERS: dict[str, Handler] = {
    "session.created": SessionMachine.on_session,
    "session.updated": SessionMachine.on_session,
    "transcription_session.created": SessionMachine.on_session,
    "transcription_session.updated": SessionMachine.on_session,
    "session.update": SessionMachine.on_session_update,
    "input_audio_buffer.speech_started": SessionMachine.on_speech_started,
    "input_audio_buffer.speech_stopped": SessionMachine.on_speech_stopped,
    "input_audio_buffer.committed": SessionMachine.on_committed,
    "conversation.item.input_audio_transcription.completed": SessionMachine.on_transcription_done,
    "conversation.item.input_audio_transcription.failed": SessionMachine.on_transcription_failed,
    "conversation.item.create": SessionMachine.on_item_create,
    "conversation.item.added": SessionMachine.on_item_added,
    "conversation.item.done": SessionMachine.on_item_added,
    "conversation.item.retrieved": SessionMachine.on_item_added,
    "response.created": SessionMachine.on_response_created,
    "response.output_item.added": SessionMachine.on_output_item,
    "response.output_item.done": SessionMachine.on_output_item,
    "response.output_text.delta": SessionMachine.on_text_delta,
    "response.output_audio_transcript.delta": SessionMachine.on_text_delta,
    "response.output_text.done": SessionMachine.on_text_done,
    "response.output_audio_transcript.done": SessionMachine.on_text_done,
    "response.function_call_arguments.done": SessionMachine.on_args_done,
    "response.done": SessionMachine.on_response_done,
    "conversation.item.truncate": SessionMachine.on_truncate,
    "conversation.item.truncated": SessionMachine.on_truncate,
    "error": SessionMachine.on_error,
    "response.create": SessionMachine.on_client_event,
    "response.cancel": SessionMachine.on_client_event,
    "input_audio_buffer.commit": SessionMachine.on_client_event,
    "input_audio_buffer.clear": SessionMachine.on_client_event,
    "conversation.item.delete": SessionMachine.on_client_event,
    "conversation.item.retrieve": SessionMachine.on_client_event,
}


def _metadata(values: Sequence[str | None]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for text in values:
        if not text:
            continue
        try:
            value = json.loads(text)
        except ValueError:
            continue
        if isinstance(value, dict):
            for k, v in value.items():
                out.setdefault(k, v)
    return out


def reconstruct(se: SessionEvents) -> SessionTree:
    """One session's events → its span nodes. Pure; the only per-event Python loop."""
    machine = SessionMachine(se.key)
    feed = machine.feed
    for ts, etype, event in zip(se.ts, se.types, se.events, strict=True):
        feed(ts, etype, event)
    machine.add_audio(se)
    return machine.finish(se.first_ns, se.last_ns, _metadata(list(dict.fromkeys(se.metadata))))
