"""Reconstruct: replay one session's ordered events through a state machine into span nodes.

This is the only per-event Python loop of the pipeline. It records domain facts
(items, usage, transcripts) as one typed facts object per span kind; turning
them into attributes is the next stage's job. Span times are always recorded
event timestamps, and `finish` enforces the trace model's shape invariants
(children within parents, events within spans, turns never overlapping) by
clipping and re-homing late events, never by stretching spans over neighbours.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from pipeline.core import responses
from pipeline.core.app import app_session
from pipeline.core.events import KNOWN_TYPES, num, obj, text
from pipeline.core.finish import add_audio, finish, merged_metadata
from pipeline.core.items import Conversation
from pipeline.core.model import (
    AttrValue,
    InputFacts,
    Item,
    Node,
    ResponseFacts,
    SessionCounts,
    SessionEvents,
    SessionTree,
    SpanEvent,
    ToolFacts,
    TurnFacts,
)
from pipeline.core.responses import (
    RANK_DONE,
    RANK_ITEM,
    first_output,
    interrupt,
    is_out_of_band,
)

Handler = Callable[["SessionMachine", int, dict[str, Any]], None]


class SessionMachine:
    """State of one session while its events are replayed in order."""

    def __init__(self, session_key: str) -> None:
        self.session_key = session_key
        self.config: dict[str, Any] = {}
        self.realtime_id: str | None = None
        self.conv = Conversation()
        self.items: dict[str, Item] = self.conv.items  # the same objects, for short reads
        self.order: list[str] = self.conv.order
        self.nodes: dict[str, Node] = {}
        self.turn: Node | None = None
        self.turns: list[Node] = []
        self.client_spans: dict[str, str] = {}
        self.pending_client = self.conv.pending
        self.oob_creates: list[int] = []  # times of client response.create for out-of-band
        self.live_response: Node | None = None  # the latest in-conversation response
        self.item_response: dict[str, Node] = {}  # output item id → the response that made it
        self.apps: list[tuple[int, int, dict[str, Any]]] = []  # (time, event index, record)
        self.app_metadata: dict[str, Any] = {}
        self.app_tags: list[str] = []
        self.problems: list[tuple[int, str]] = []  # (event index, reason)
        self.index = 0
        self.stats = SessionCounts()
        self.root = Node("session", "session", None, 0, 0)
        self.nodes["session"] = self.root

    # -- items -------------------------------------------------------------------

    def _rename_item(self, old: str, new: str) -> None:
        """A client-created item's provisional id becomes the server's."""
        self.conv.rename(old, new)
        node = self.nodes.get(f"input:{old}")
        if node is not None:
            node.facts.item_id = new

    # -- spans -------------------------------------------------------------------

    def _add(self, node: Node) -> Node:
        return self.nodes.setdefault(node.key, node)

    def _open_turn(self, ts: int, key_hint: str) -> Node:
        key = f"turn:{key_hint}"
        if key in self.nodes:
            key = f"turn:{key_hint}#{len(self.turns) + 1}"
        turn = self._add(Node(key, "turn", "session", ts, ts, TurnFacts(len(self.turns) + 1)))
        self.turns.append(turn)
        self.turn = turn
        return turn

    def _user_input(self, ts: int, item_id: str, source: str) -> Node:
        node = self.nodes.get(f"input:{item_id}")
        if node is None:
            turn = self._open_turn(ts, item_id)
            node = self._add(
                Node(
                    f"input:{item_id}", "user_input", turn.key, ts, ts, InputFacts(item_id, source)
                )
            )
        return node

    def _innermost_open(self) -> Node:
        """The open span of the current turn an event belongs to; the root when none is."""
        turn = self.turn
        if turn is not None:
            for kind in ("tool", "response", "user_input"):
                for node in reversed(self.nodes.values()):
                    if node.kind == kind and not node.closed and node.parent == turn.key:
                        return node
        return self.root

    def _fail(self, node: Node, ts: int, kind: str, message: str, extra: dict[str, Any]) -> None:
        attrs: dict[str, Any] = {"exception.type": kind, "exception.message": message}
        for k, v in extra.items():
            if v is not None:
                attrs[f"realtime.error.{k}"] = str(v)
        node.events.append(SpanEvent("exception", ts, attrs))
        node.error = message or kind
        self.stats.errors += 1

    def _tool(self, ts: int, call_id: str, name: Any, arguments: Any, rid: str | None) -> Node:
        node = self.nodes.get(f"tool:{call_id}")
        if node is None:
            turn = self.turn or self._open_turn(ts, f"call_{call_id}")
            node = self._add(Node(f"tool:{call_id}", "tool", turn.key, ts, ts, ToolFacts(call_id)))
        facts: ToolFacts = node.facts
        facts.name = text(name) or facts.name
        if isinstance(arguments, str):
            facts.arguments = arguments
        facts.response_id = facts.response_id or rid
        return node

    def _tool_output(self, node: Node, ts: int, output: Any) -> None:
        facts: ToolFacts = node.facts
        if not facts.has_output:
            facts.has_output, facts.output = True, output
            node.end_ns = max(node.end_ns, ts)
            node.closed = True

    def _response(self, rid: Any, ts: int, resp: dict[str, Any] | None = None) -> Node | None:
        """The span of response `rid`, opened here when its response.created was not logged."""
        if not isinstance(rid, str) or not rid:
            return None
        node = self.nodes.get(f"response:{rid}")
        if node is None:
            responses.on_response_created(self, ts, {"response": {**(resp or {}), "id": rid}})
            node = self.nodes[f"response:{rid}"]
        return node

    # -- handlers: session and user input ----------------------------------------

    def on_session(self, ts: int, ev: dict[str, Any]) -> None:
        session = obj(ev, "session")
        self.realtime_id = self.realtime_id or text(session.get("id"))
        self.config.update({k: v for k, v in session.items() if v is not None})

    def on_session_update(self, ts: int, ev: dict[str, Any]) -> None:
        for k, v in obj(ev, "session").items():
            self.config.setdefault(k, v)

    def on_speech_started(self, ts: int, ev: dict[str, Any]) -> None:
        item_id = text(ev.get("item_id")) or f"speech@{ts}"
        node = self._user_input(ts, item_id, "audio")
        node.facts.audio_start_ms = num(ev.get("audio_start_ms"))

    def on_speech_stopped(self, ts: int, ev: dict[str, Any]) -> None:
        node = self.nodes.get(f"input:{ev.get('item_id')}")
        if node is None:
            return
        node.facts.audio_end_ms = num(ev.get("audio_end_ms"))
        node.facts.speech_stopped_ns = ts
        node.end_ns = max(node.end_ns, ts)
        if self.turn is not None and node.parent == self.turn.key:
            self.turn.facts.input_end_ns = ts

    def on_committed(self, ts: int, ev: dict[str, Any]) -> None:
        item_id = text(ev.get("item_id")) or f"commit@{ts}"
        node = self._user_input(ts, item_id, "audio")
        node.end_ns = max(node.end_ns, ts)
        node.closed = True
        if node.facts.speech_stopped_ns is None and self.turn is not None:
            self.turn.facts.input_end_ns = ts  # push-to-talk: the commit ends the speech
        item = self.conv.item(item_id)
        item.role = item.role or "user"
        item.audio = True

    def on_transcription_done(self, ts: int, ev: dict[str, Any]) -> None:
        item_id = text(ev.get("item_id"))
        if item_id is None:
            return
        self.conv.item(item_id).set_text("transcript", ev.get("transcript"), RANK_DONE)
        node = self.nodes.get(f"input:{item_id}")
        if node is not None:
            facts: InputFacts = node.facts
            facts.transcription_latency_s = (ts - (facts.speech_stopped_ns or node.end_ns)) / 1e9
            if isinstance(ev.get("usage"), dict):
                facts.transcription_usage = ev["usage"]

    def on_transcription_failed(self, ts: int, ev: dict[str, Any]) -> None:
        err = obj(ev, "error")
        node = self.nodes.get(f"input:{ev.get('item_id')}") or self._innermost_open()
        self._fail(
            node,
            ts,
            str(err.get("type") or "transcription_failed"),
            str(err.get("message") or "input audio transcription failed"),
            {"code": err.get("code")},
        )

    # -- handlers: conversation items --------------------------------------------

    def on_item_create(self, ts: int, ev: dict[str, Any]) -> None:
        raw = obj(ev, "item")
        event_id = text(ev.get("event_id"))
        given = text(raw.get("id"))
        item_id = given or f"client:{event_id or ts}"
        item = self.conv.merge(raw, RANK_ITEM, item_id)
        if item is None:
            return
        if given is None:
            self.pending_client.append(item_id)
        node: Node | None = None
        if item.type == "function_call_output" and item.call_id:
            node = self._tool(ts, item.call_id, None, None, None)
            self._tool_output(node, ts, raw.get("output"))
        elif item.type == "message" and item.role == "user":
            node = self._user_input(ts, item_id, "text")
            node.closed = True
            node.facts.source = "audio" if item.audio and item.final_text() is None else "text"
            if self.turn is not None:
                self.turn.facts.input_end_ns = ts
        if node is not None and event_id:
            self.client_spans[event_id] = node.key

    def on_item_added(self, ts: int, ev: dict[str, Any]) -> None:
        raw = obj(ev, "item")
        item_id = text(raw.get("id"))
        if item_id is None:
            return
        new = item_id not in self.items
        if new:
            claimed = self.conv.claim_client(raw)
            if claimed is not None:
                self._rename_item(claimed, item_id)
                new = False
        item = self.conv.merge(raw, RANK_ITEM)
        if item is None or not new:
            return
        if item.type == "message" and item.role == "user" and not item.audio:
            node = self._user_input(ts, item_id, "text")  # a user message only the server logged
            node.closed = True
            if self.turn is not None:
                self.turn.facts.input_end_ns = ts
        elif item.type == "function_call_output" and item.call_id:
            self._tool_output(self._tool(ts, item.call_id, None, None, None), ts, item.output)

    # -- handlers: responses -----------------------------------------------------

    def on_audio_buffer(self, ts: int, ev: dict[str, Any]) -> None:
        """WebRTC playback: started → stopped/cleared gives output audio with no deltas logged."""
        node = self._response(ev.get("response_id"), ts)
        if node is None:
            return
        facts: ResponseFacts = node.facts
        if ev.get("type") == "output_audio_buffer.started":
            facts.playback_started_ns = ts
            first_output(self, node, ts, delta=False)
        elif facts.playback_started_ns is not None:
            facts.playback_ms = (facts.playback_ms or 0.0) + (ts - facts.playback_started_ns) / 1e6
            facts.playback_started_ns = None

    def on_truncate(self, ts: int, ev: dict[str, Any]) -> None:
        item_id = text(ev.get("item_id"))
        if item_id is None:
            return
        node = self.item_response.get(item_id)
        if node is not None and node.facts.truncated_at_ms is None:
            at = num(ev.get("audio_end_ms"))
            node.facts.truncated_at_ms = at
            attrs: dict[str, AttrValue] = {"item_id": item_id, "audio_end_ms": int(at or 0)}
            node.events.append(SpanEvent("realtime.truncated", ts, attrs))
            interrupt(self, node)

    def on_error(self, ts: int, ev: dict[str, Any]) -> None:
        err = obj(ev, "error")
        event_id = text(err.get("event_id"))
        target = self.nodes.get(self.client_spans.get(event_id, "")) if event_id else None
        self._fail(
            target or self._innermost_open(),
            ts,
            str(err.get("type") or "error"),
            str(err.get("message") or ""),
            {"code": err.get("code"), "param": err.get("param"), "event_id": event_id},
        )

    def on_client_event(self, ts: int, ev: dict[str, Any]) -> None:
        """Remember which span a client event belongs to, for `error.event_id` lookups."""
        event_id = text(ev.get("event_id"))
        if event_id:
            self.client_spans[event_id] = self._innermost_open().key
        if ev.get("type") == "response.create" and is_out_of_band(obj(ev, "response")):
            self.oob_creates.append(ts)

    def on_app(self, ts: int, ev: dict[str, Any]) -> None:
        if ev.get("type") == "app.session":
            problem = app_session(ev, self.app_metadata, self.app_tags)
            if problem:
                self.problems.append((self.index, problem))
        else:
            self.apps.append((ts, self.index, ev))

    # -- driver ------------------------------------------------------------------

    def feed(self, ts: int, etype: str, event: str | None) -> None:
        """One non-audio event (audio rows are aggregated by `add_audio`)."""
        self.stats.events += 1
        handler = HANDLERS.get(etype)
        if handler is None:
            if etype.startswith("app."):
                handler = SessionMachine.on_app
            else:
                if etype not in KNOWN_TYPES:
                    self.stats.unknown_events += 1
                return
        try:
            ev = orjson.loads(event) if event else {}
        except ValueError:  # orjson.JSONDecodeError is one
            ev = {}
        if isinstance(ev, dict):
            ev["type"] = etype
            handler(self, ts, ev)


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
    "response.created": responses.on_response_created,
    "response.output_item.added": responses.on_output_item,
    "response.output_item.done": responses.on_output_item,
    "response.content_part.done": responses.on_content_part_done,
    "response.output_text.delta": responses.on_text_delta,
    "response.output_audio_transcript.delta": responses.on_text_delta,
    "response.output_text.done": responses.on_text_done,
    "response.output_audio_transcript.done": responses.on_text_done,
    "response.function_call_arguments.done": responses.on_args_done,
    "response.done": responses.on_response_done,
    "output_audio_buffer.started": SessionMachine.on_audio_buffer,
    "output_audio_buffer.stopped": SessionMachine.on_audio_buffer,
    "output_audio_buffer.cleared": SessionMachine.on_audio_buffer,
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


def reconstruct(se: SessionEvents) -> SessionTree:
    """One session's events → its span nodes. Pure; the only per-event Python loop."""
    machine = SessionMachine(se.key)
    for i, (ts, etype, event) in enumerate(zip(se.ts, se.types, se.events, strict=True)):
        machine.index = i
        machine.feed(ts, etype, event)
    audio = add_audio(machine, se)
    return finish(machine, se, audio, merged_metadata(list(dict.fromkeys(se.metadata))))
