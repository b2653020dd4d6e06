"""Responses: the state machine's handlers for the model's side of a turn.

`response.created` … `response.done`, output items, text and transcript deltas,
function-call arguments. Each handler is a function of the session's machine, the
event's time and the event (the same signature as the machine's own handlers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.core.events import obj, text
from pipeline.core.items import merge_part
from pipeline.core.model import Item, Node, ResponseFacts

if TYPE_CHECKING:
    from pipeline.core.reconstruct import SessionMachine

# How complete a source of an item's text is (higher wins; see Item.set_text).
RANK_RESPONSE_DONE, RANK_ITEM, RANK_PART, RANK_DONE = 1, 2, 3, 4


def is_out_of_band(resp: dict[str, Any], asked: bool = False) -> bool:
    """`conversation: "none"` on the response; or the API's null `conversation_id` when the
    client asked for an out-of-band response (alone, a null could be a struct column's filler)."""
    if resp.get("conversation") == "none":
        return True
    return asked and "conversation_id" in resp and resp["conversation_id"] is None


def on_response_created(m: SessionMachine, ts: int, ev: dict[str, Any]) -> None:
    resp = obj(ev, "response")
    rid = text(resp.get("id")) or f"resp@{ts}"
    if f"response:{rid}" in m.nodes:
        return
    facts = ResponseFacts(rid, out_of_band=is_out_of_band(resp, bool(m.oob_creates)))
    start = ts
    facts.metadata = obj(resp, "metadata") or None  # the app's own (request ids, purpose)
    if facts.out_of_band:
        parent = "session"
        if m.oob_creates:
            start = min(ts, m.oob_creates.pop(0))
    else:
        _end_unfinished_responses(m, ts)
        parent = (m.turn or m._open_turn(ts, rid)).key
        facts.context = list(m.order)
    facts.instructions = text(resp.get("instructions")) or text(m.config.get("instructions"))
    facts.model = text(m.config.get("model"))
    mods = resp.get("output_modalities") or resp.get("modalities")
    if isinstance(mods, list):
        facts.modalities = [str(m) for m in mods]
    node = m._add(Node(f"response:{rid}", "response", parent, start, ts, facts))
    if not facts.out_of_band:
        m.live_response = node


def _end_unfinished_responses(m: SessionMachine, ts: int) -> None:
    """A response with no response.done ends where the next response starts (incomplete).

    Only the latest in-conversation response can still be open: each new one ends it.
    """
    node = m.live_response
    if node is not None and not node.closed:
        node.end_ns = max(node.end_ns, ts)
        node.closed = node.incomplete = True


def first_output(m: SessionMachine, node: Node, ts: int, delta: bool) -> None:
    facts: ResponseFacts = node.facts
    if facts.first_output_ns is None or ts < facts.first_output_ns:
        facts.first_output_ns = ts
    if delta and (facts.first_delta_ns is None or ts < facts.first_delta_ns):
        facts.first_delta_ns = ts


def _attach_item(m: SessionMachine, node: Node, item: Item) -> None:
    if item.id not in node.facts.items:
        node.facts.items.append(item.id)
        m.item_response.setdefault(item.id, node)
        if node.facts.out_of_band and item.id in m.order:
            m.order.remove(item.id)  # out-of-band output is not part of the conversation


def on_output_item(m: SessionMachine, ts: int, ev: dict[str, Any]) -> None:
    node = m._response(ev.get("response_id"), ts)
    done = ev.get("type") == "response.output_item.done"
    item = m.conv.merge(ev.get("item"), RANK_ITEM if done else 0)
    if node is None or item is None:
        return
    _attach_item(m, node, item)
    if item.type == "function_call" and item.call_id and done:
        m._tool(ts, item.call_id, item.name, item.arguments, node.facts.response_id)


def on_content_part_done(m: SessionMachine, ts: int, ev: dict[str, Any]) -> None:
    item_id = text(ev.get("item_id"))
    if item_id is not None:
        merge_part(m.conv.item(item_id), obj(ev, "part"), RANK_PART)


def on_text_delta(m: SessionMachine, ts: int, ev: dict[str, Any]) -> None:
    node = m._response(ev.get("response_id"), ts)
    if node is None:
        return
    first_output(m, node, ts, delta=True)
    item_id = text(ev.get("item_id"))
    if item_id is None:
        return
    item = m.conv.item(item_id)
    item.role = item.role or "assistant"
    delta = ev.get("delta")
    if isinstance(delta, str):
        if ev.get("type") == "response.output_audio_transcript.delta":
            item.transcript_deltas.append(delta)
        else:
            item.text_deltas.append(delta)
    _attach_item(m, node, item)


def on_text_done(m: SessionMachine, ts: int, ev: dict[str, Any]) -> None:
    item_id = text(ev.get("item_id"))
    if item_id is None:
        return
    item = m.conv.item(item_id)
    if ev.get("type") == "response.output_audio_transcript.done":
        item.set_text("transcript", ev.get("transcript"), RANK_DONE)
    else:
        item.set_text("text", ev.get("text"), RANK_DONE)


def on_args_done(m: SessionMachine, ts: int, ev: dict[str, Any]) -> None:
    call_id = text(ev.get("call_id"))
    if call_id is None:
        return
    item_id = text(ev.get("item_id"))
    if item_id is not None:
        item = m.conv.item(item_id)
        item.type, item.call_id = "function_call", call_id
        item.arguments = text(ev.get("arguments")) or item.arguments
        item.name = text(ev.get("name")) or item.name
    rnode = m._response(ev.get("response_id"), ts)
    rid = rnode.facts.response_id if rnode is not None else None
    m._tool(ts, call_id, ev.get("name"), ev.get("arguments"), rid)


def on_response_done(m: SessionMachine, ts: int, ev: dict[str, Any]) -> None:
    resp = obj(ev, "response")
    node = m._response(resp.get("id"), ts, resp)
    if node is None:
        return
    facts: ResponseFacts = node.facts
    node.end_ns = max(node.end_ns, ts)
    node.closed, node.incomplete = True, False
    facts.status = text(resp.get("status")) or "completed"
    details = obj(resp, "status_details")
    facts.status_reason = text(details.get("reason"))
    facts.usage = obj(resp, "usage")
    facts.metadata = facts.metadata or obj(resp, "metadata") or None
    output = resp.get("output")
    for raw in output if isinstance(output, list) else ():
        item = m.conv.merge(raw, RANK_RESPONSE_DONE)
        if item is None:
            continue
        _attach_item(m, node, item)
        if item.type == "function_call" and item.call_id:
            m._tool(ts, item.call_id, item.name, item.arguments, facts.response_id)
    if facts.status == "cancelled" and facts.status_reason == "turn_detected":
        interrupt(m, node)
    if facts.status == "failed":
        err = obj(details, "error")
        facts.error = err
        m._fail(
            node,
            ts,
            str(err.get("type") or "response_failed"),
            str(err.get("message") or err.get("code") or "response failed"),
            {"code": err.get("code")},
        )


def interrupt(m: SessionMachine, node: Node) -> None:
    turn = m.nodes.get(node.parent or "")
    if turn is not None and turn.kind == "turn":
        turn.facts.interrupted = True
