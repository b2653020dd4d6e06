"""Inputs: the state machine's handlers for the session's and the user's side of a turn.

Session configuration, speech and commits, transcriptions, conversation items the
client or server adds, client events, errors and app records. Each handler is a
function of the session's machine, the event's time and the event, as in `responses`.
"""

from __future__ import annotations

from typing import Any

from pipeline.core.app import app_session
from pipeline.core.events import num, obj, text
from pipeline.core.items import RANK_DONE, RANK_ITEM
from pipeline.core.machine import PROVISIONAL, SessionMachine
from pipeline.core.model import InputFacts, Node, TranscriptionFacts
from pipeline.records import AttrValue, SpanEvent


def on_session(m: SessionMachine, ts: int, ev: dict[str, Any]) -> None:
    session = obj(ev, "session")
    m.realtime_id = m.realtime_id or text(session.get("id"))
    m.config.update({k: v for k, v in session.items() if v is not None})


def on_session_update(m: SessionMachine, ts: int, ev: dict[str, Any]) -> None:
    for k, v in obj(ev, "session").items():
        m.config.setdefault(k, v)


def on_speech_started(m: SessionMachine, ts: int, ev: dict[str, Any]) -> None:
    item_id = text(ev.get("item_id")) or f"speech@{ts}"
    node = m.user_input(ts, item_id, "audio")
    node.facts_as(InputFacts).audio_start_ms = num(ev.get("audio_start_ms"))


def on_speech_stopped(m: SessionMachine, ts: int, ev: dict[str, Any]) -> None:
    node = m.nodes.get(f"input:{ev.get('item_id')}")
    if node is None:
        return
    facts = node.facts_as(InputFacts)
    facts.audio_end_ms = num(ev.get("audio_end_ms"))
    facts.speech_stopped_ns = ts
    node.end_ns = max(node.end_ns, ts)
    if m.turn is not None and node.parent == m.turn.key:
        m.input_ended(ts)


def on_committed(m: SessionMachine, ts: int, ev: dict[str, Any]) -> None:
    item_id = text(ev.get("item_id")) or f"commit@{ts}"
    node = m.user_input(ts, item_id, "audio")
    node.end_ns = max(node.end_ns, ts)
    node.closed = True
    if node.facts_as(InputFacts).speech_stopped_ns is None:
        m.input_ended(ts)  # push-to-talk: the commit ends the speech
    item = m.conv.item(item_id)
    item.role = item.role or "user"
    item.audio = True
    node.facts_as(InputFacts).committed_ns = ts
    if m.turn is not None and node.parent == m.turn.key:
        m.commit = (ts, m.turn.key)  # a response the server creates on its own starts here


def on_transcription_done(m: SessionMachine, ts: int, ev: dict[str, Any]) -> None:
    item_id = text(ev.get("item_id"))
    if item_id is None:
        return
    m.conv.item(item_id).set_text("transcript", ev.get("transcript"), RANK_DONE)
    node = m.nodes.get(f"input:{item_id}")
    if node is not None:
        facts = node.facts_as(InputFacts)
        facts.transcription_latency_s = (ts - (facts.speech_stopped_ns or node.end_ns)) / 1e9
    span = m.transcription(ts, item_id)
    if span is not None and isinstance(ev.get("usage"), dict):
        span.facts_as(TranscriptionFacts).usage = ev["usage"]


def on_transcription_failed(m: SessionMachine, ts: int, ev: dict[str, Any]) -> None:
    err = obj(ev, "error")
    item_id = text(ev.get("item_id"))
    span = m.transcription(ts, item_id) if item_id is not None else None
    if span is not None:
        span.facts_as(TranscriptionFacts).failed = True
    node = span or m.innermost_open()
    m.fail(
        node,
        ts,
        str(err.get("type") or "transcription_failed"),
        str(err.get("message") or "input audio transcription failed"),
        {"code": err.get("code")},
    )


def on_item_create(m: SessionMachine, ts: int, ev: dict[str, Any]) -> None:
    raw = obj(ev, "item")
    event_id = text(ev.get("event_id"))
    given = text(raw.get("id"))
    item_id = given or f"{PROVISIONAL}{event_id or ts}"
    item = m.conv.merge(raw, RANK_ITEM, item_id)
    if item is None:
        return
    if given is None:
        m.pending_client.append(item_id)
    node: Node | None = None
    if item.type == "function_call_output" and item.call_id:
        node = m.tool(ts, item.call_id, None, None, None)
        m.tool_output(node, ts, raw.get("output"))
    elif item.type == "message" and item.role == "user":
        node = m.user_input(ts, item_id, "text")
        node.closed = True
        said_nothing = item.audio and item.final_text() is None
        node.facts_as(InputFacts).source = "audio" if said_nothing else "text"
        m.input_ended(ts)
    if node is not None and event_id:
        m.client_spans[event_id] = node.key


def on_item_added(m: SessionMachine, ts: int, ev: dict[str, Any]) -> None:
    raw = obj(ev, "item")
    item_id = text(raw.get("id"))
    if item_id is None:
        return
    new = item_id not in m.items
    if new:
        claimed = m.conv.claim_client(raw)
        if claimed is not None:
            m.rename_item(claimed, item_id)
            new = False
    item = m.conv.merge(raw, RANK_ITEM)
    if item is None or not new:
        return
    if item.type == "message" and item.role == "user" and not item.audio:
        node = m.user_input(ts, item_id, "text")  # a user message only the server logged
        node.closed = True
        m.input_ended(ts)
    elif item.type == "function_call_output" and item.call_id:
        m.tool_output(m.tool(ts, item.call_id, None, None, None), ts, item.output)


def on_error(m: SessionMachine, ts: int, ev: dict[str, Any]) -> None:
    err = obj(ev, "error")
    event_id = text(err.get("event_id"))
    if event_id:
        m.forget_request(event_id)
    target = m.nodes.get(m.client_spans.get(event_id, "")) if event_id else None
    m.fail(
        target or m.innermost_open(),
        ts,
        str(err.get("type") or "error"),
        str(err.get("message") or ""),
        {"code": err.get("code"), "param": err.get("param"), "event_id": event_id},
    )


def on_client_event(m: SessionMachine, ts: int, ev: dict[str, Any]) -> None:
    """Remember which span a client event belongs to, for `error.event_id` lookups."""
    event_id = text(ev.get("event_id"))
    if event_id:
        m.client_spans[event_id] = m.innermost_open().key


def on_response_create(m: SessionMachine, ts: int, ev: dict[str, Any]) -> None:
    """The client asks for a response: it starts here (trace model §6)."""
    on_client_event(m, ts, ev)
    m.request(ts, obj(ev, "response"), text(ev.get("event_id")))


def on_response_cancel(m: SessionMachine, ts: int, ev: dict[str, Any]) -> None:
    """The client cancels a response: an event on the response it names, else the one live."""
    on_client_event(m, ts, ev)
    attrs: dict[str, AttrValue] = {"realtime.cancelled_by": "client"}
    if ev.get("event_id"):
        attrs["realtime.event_id"] = str(ev["event_id"])
    cancel = SpanEvent("realtime.response.cancel", ts, attrs)
    rid = text(ev.get("response_id"))
    node = m.nodes.get(f"response:{rid}") if rid else m.live_response
    if node is None or node.closed:  # the response it stops is not named yet: the next one
        m.cancel = cancel
        return
    m.cancelled(node, cancel)


def on_app(m: SessionMachine, ts: int, ev: dict[str, Any]) -> None:
    if ev.get("type") == "app.session_end":  # the call is over: a marker for --settle, no span
        return
    if ev.get("type") == "app.session":
        problem = app_session(ev, m.app_metadata, m.app_tags)
        if problem:
            m.problems.append((m.index, problem))
    else:
        m.apps.append((ts, m.index, ev))
