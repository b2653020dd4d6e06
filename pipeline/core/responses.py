"""Responses: the state machine's handlers for the model's side of a turn.

`response.created` … `response.done`, output items, text and transcript deltas,
function-call arguments, WebRTC playback and truncation. Each handler is a function of
the session's machine, the event's time and the event, as in `inputs`.
"""

from __future__ import annotations

from typing import Any

from pipeline.core.events import num, obj, text
from pipeline.core.items import RANK_DONE, RANK_ITEM, RANK_PART, RANK_RESPONSE_DONE, merge_part
from pipeline.core.machine import SessionMachine
from pipeline.core.model import Item, Node, ResponseFacts
from pipeline.records import AttrValue, SpanEvent


def on_response_created(m: SessionMachine, ts: int, ev: dict[str, Any]) -> None:
    facts = m.open_response(ts, obj(ev, "response"), created=True).facts_as(ResponseFacts)
    facts.start_observed = True  # its creation is in the log
    if facts.created_ns is None:
        facts.created_ns = ts


def on_output_item(m: SessionMachine, ts: int, ev: dict[str, Any]) -> None:
    node = m.response(ev.get("response_id"), ts)
    done = ev.get("type") == "response.output_item.done"
    item = m.conv.merge(ev.get("item"), RANK_ITEM if done else 0)
    if node is None or item is None:
        return
    m.attach_item(node, item)
    if item.type == "function_call" and item.call_id and done:
        m.tool(
            ts, item.call_id, item.name, item.arguments, node.facts_as(ResponseFacts).response_id
        )


def _owner(m: SessionMachine, ts: int, ev: dict[str, Any], item: Item) -> None:
    """A `*.done` event opens its response when it is the first event naming it (a client that
    logs on receipt can log them before `response.created`): the item is its output, never
    part of what it saw."""
    node = m.response(ev.get("response_id"), ts)
    if node is not None:
        m.attach_item(node, item)


def on_content_part_done(m: SessionMachine, ts: int, ev: dict[str, Any]) -> None:
    item_id = text(ev.get("item_id"))
    if item_id is None:
        return
    m.response(ev.get("response_id"), ts)  # opened before the item joins the conversation
    item = m.conv.item(item_id)
    merge_part(item, obj(ev, "part"), RANK_PART)
    _owner(m, ts, ev, item)


def _delivered(m: SessionMachine, ts: int, rid: Any, kind: str) -> Node | None:
    """The response `rid` whose content reached the client at `ts`; None when there is none,
    or the response had already ended (its output is what was delivered before its end)."""
    node = m.response(rid, ts)
    if node is None or node.facts_as(ResponseFacts).status is not None:
        return None
    m.content(node, ts, kind)
    return node


def on_text_delta(m: SessionMachine, ts: int, ev: dict[str, Any]) -> None:
    text_delta(
        m,
        ts,
        ev.get("type") == "response.output_audio_transcript.delta",
        ev.get("response_id"),
        ev.get("item_id"),
        ev.get("delta"),
    )


def text_delta(
    m: SessionMachine, ts: int, transcript: bool, rid: Any, item_id: Any, delta: Any
) -> None:
    """A text or transcript delta (the replay's most frequent event: `replay` decodes it
    into its four fields alone, and a run of deltas of one item goes straight to it)."""
    last = m.last_delta
    if last is not None and last[0] == rid and last[1] == item_id:
        facts, item = last[2], last[3]
        if facts.status is not None or m.items.get(item_id) is not item:
            m.last_delta = None  # ended, or the item is another record now: the long way
        else:  # its response, content times and item are those of the previous delta
            if delta.__class__ is str:
                (item.transcript_deltas if transcript else item.text_deltas).append(delta)
            return
    node = _delivered(m, ts, rid, "transcript" if transcript else "text")
    if node is None:
        return
    iid = text(item_id)
    if iid is None:
        return
    item = m.conv.item(iid)
    item.role = item.role or "assistant"
    if isinstance(delta, str):
        (item.transcript_deltas if transcript else item.text_deltas).append(delta)
    m.attach_item(node, item)
    m.last_delta = (rid, iid, node.facts_as(ResponseFacts), item)


def _done_item(m: SessionMachine, ts: int, ev: dict[str, Any]) -> Item | None:
    """The assistant item a `*.done` event closes; its response opened first, when this is
    the first event naming it (so the item is its output, never part of what it saw)."""
    item_id = text(ev.get("item_id"))
    if item_id is None:
        return None
    m.response(ev.get("response_id"), ts)
    item = m.conv.item(item_id)
    item.role = item.role or "assistant"
    return item


def on_text_done(m: SessionMachine, ts: int, ev: dict[str, Any]) -> None:
    item = _done_item(m, ts, ev)
    if item is None:
        return
    if ev.get("type") == "response.output_audio_transcript.done":
        item.set_text("transcript", ev.get("transcript"), RANK_DONE)
        item.audio = True
    else:
        item.set_text("text", ev.get("text"), RANK_DONE)
    _owner(m, ts, ev, item)


def on_audio_done(m: SessionMachine, ts: int, ev: dict[str, Any]) -> None:
    """The end of an item's audio (a log of *.done events only has nothing earlier)."""
    item = _done_item(m, ts, ev)
    if item is not None:
        item.audio = True
        _owner(m, ts, ev, item)


def on_args_delta(m: SessionMachine, ts: int, ev: dict[str, Any]) -> None:
    """Function-call arguments are content too: the first one ends time-to-first-token."""
    _delivered(m, ts, ev.get("response_id"), "args")


def on_args_done(m: SessionMachine, ts: int, ev: dict[str, Any]) -> None:
    call_id = text(ev.get("call_id"))
    if call_id is None:
        return
    m.response(ev.get("response_id"), ts)
    item_id = text(ev.get("item_id"))
    if item_id is not None:
        item = m.conv.item(item_id)
        item.type, item.call_id = "function_call", call_id
        item.arguments = text(ev.get("arguments")) or item.arguments
        item.name = text(ev.get("name")) or item.name
    rnode = m.response(ev.get("response_id"), ts)
    rid = rnode.facts_as(ResponseFacts).response_id if rnode is not None else None
    m.tool(ts, call_id, ev.get("name"), ev.get("arguments"), rid)


def on_response_done(m: SessionMachine, ts: int, ev: dict[str, Any]) -> None:
    resp = obj(ev, "response")
    node = m.response(resp.get("id"), ts, resp)
    if node is None:
        return
    facts = node.facts_as(ResponseFacts)
    node.end_ns = max(node.end_ns, ts)
    node.closed, node.incomplete = True, False
    facts.status = text(resp.get("status")) or "completed"
    if m.cancel is not None and facts.status == "cancelled" and not facts.cancelled_by_client:
        m.cancelled(node, m.cancel)  # a cancel naming no response: the next one cancelled
        m.cancel = None
    details = obj(resp, "status_details")
    facts.status_reason = text(details.get("reason"))
    facts.usage = obj(resp, "usage")
    facts.metadata = facts.metadata or obj(resp, "metadata") or None
    output = resp.get("output")
    for raw in output if isinstance(output, list) else ():
        item = m.conv.merge(raw, RANK_RESPONSE_DONE)
        if item is None:
            continue
        m.attach_item(node, item)
        if item.type == "function_call" and item.call_id:
            m.tool(ts, item.call_id, item.name, item.arguments, facts.response_id)
    if facts.status == "failed":
        err = obj(details, "error")
        facts.error = err
        m.fail(  # the logged type and message only: none logged, none invented (§7)
            node,
            ts,
            str(err.get("type") or ""),
            str(err.get("message") or ""),
            {"code": err.get("code")},
        )


def on_audio_buffer(m: SessionMachine, ts: int, ev: dict[str, Any]) -> None:
    """WebRTC playback: started → stopped/cleared gives output audio with no deltas logged;
    a playback cleared while it played was cut (the caller barged in)."""
    node = m.response(ev.get("response_id"), ts)
    if node is None:
        return
    facts = node.facts_as(ResponseFacts)
    if ev.get("type") == "output_audio_buffer.started":
        facts.playback_started_ns = ts
        m.content(node, ts, "playback")
    elif facts.playback_started_ns is not None:
        facts.playback_ms = (facts.playback_ms or 0.0) + (ts - facts.playback_started_ns) / 1e6
        facts.playback_started_ns = None
        if ev.get("type") == "output_audio_buffer.cleared":
            facts.cut = True


def on_truncate(m: SessionMachine, ts: int, ev: dict[str, Any]) -> None:
    """The caller heard an assistant item only up to `audio_end_ms`: its response was
    interrupted, and the server deletes the item's transcript from the model's context."""
    item_id = text(ev.get("item_id"))
    if item_id is None:
        return
    item = m.items.get(item_id)
    if item is None or item.truncated_ns is not None:
        return
    at = num(ev.get("audio_end_ms"))
    item.truncated_ns, item.truncated_at_ms, item.heard_ms = ts, at, at
    node = m.item_response.get(item_id)
    if node is None:
        return
    facts = node.facts_as(ResponseFacts)
    facts.cut = True
    facts.truncated_at_ms, facts.truncated_ns = at, ts
    attrs: dict[str, AttrValue] = {"item_id": item_id}
    if at is not None:
        attrs["audio_end_ms"] = int(at)
    node.events.append(SpanEvent("realtime.truncated", ts, attrs))
