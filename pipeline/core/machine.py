"""Machine: the state of one session while its events are replayed, and the operations
its handlers share (open a turn, a user input, a response, a tool; record an error).

The handlers live by side of the conversation (`inputs`: session, user and client;
`responses`: the model) as functions of this machine; `reconstruct` dispatches the
events to them. Everything the handlers record is a typed facts object per span.
"""

from __future__ import annotations

from typing import Any

from pipeline.core.events import obj, text
from pipeline.core.items import Conversation
from pipeline.core.model import (
    InputFacts,
    Item,
    Node,
    ResponseFacts,
    SessionCounts,
    SpanEvent,
    ToolFacts,
    TurnFacts,
)


def is_out_of_band(resp: dict[str, Any], asked: bool = False) -> bool:
    """`conversation: "none"` on the response; or the API's null `conversation_id` when the
    client asked for an out-of-band response (alone, a null could be a struct column's filler)."""
    if resp.get("conversation") == "none":
        return True
    return asked and "conversation_id" in resp and resp["conversation_id"] is None


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

    def rename_item(self, old: str, new: str) -> None:
        """A client-created item's provisional id becomes the server's."""
        self.conv.rename(old, new)
        node = self.nodes.get(f"input:{old}")
        if node is not None:
            node.facts_as(InputFacts).item_id = new

    # -- spans -------------------------------------------------------------------

    def add(self, node: Node) -> Node:
        return self.nodes.setdefault(node.key, node)

    def open_turn(self, ts: int, key_hint: str) -> Node:
        key = f"turn:{key_hint}"
        if key in self.nodes:
            key = f"turn:{key_hint}#{len(self.turns) + 1}"
        turn = self.add(Node(key, "turn", "session", ts, ts, TurnFacts(len(self.turns) + 1)))
        self.turns.append(turn)
        self.turn = turn
        return turn

    def user_input(self, ts: int, item_id: str, source: str) -> Node:
        node = self.nodes.get(f"input:{item_id}")
        if node is None:
            turn = self.open_turn(ts, item_id)
            node = self.add(
                Node(
                    f"input:{item_id}", "user_input", turn.key, ts, ts, InputFacts(item_id, source)
                )
            )
        return node

    def input_ended(self, ts: int) -> None:
        """The user's input of the current turn ended at `ts` (speech stopped, a commit, a
        message sent)."""
        if self.turn is not None:
            self.turn.facts_as(TurnFacts).input_end_ns = ts

    def innermost_open(self) -> Node:
        """The open span of the current turn an event belongs to; the root when none is."""
        turn = self.turn
        if turn is not None:
            for kind in ("tool", "response", "user_input"):
                for node in reversed(self.nodes.values()):
                    if node.kind == kind and not node.closed and node.parent == turn.key:
                        return node
        return self.root

    def fail(self, node: Node, ts: int, kind: str, message: str, extra: dict[str, Any]) -> None:
        attrs: dict[str, Any] = {"exception.type": kind, "exception.message": message}
        for k, v in extra.items():
            if v is not None:
                attrs[f"realtime.error.{k}"] = str(v)
        node.events.append(SpanEvent("exception", ts, attrs))
        node.error = message or kind
        self.stats.errors += 1

    def tool(self, ts: int, call_id: str, name: Any, arguments: Any, rid: str | None) -> Node:
        node = self.nodes.get(f"tool:{call_id}")
        if node is None:
            turn = self.turn or self.open_turn(ts, f"call_{call_id}")
            node = self.add(Node(f"tool:{call_id}", "tool", turn.key, ts, ts, ToolFacts(call_id)))
        facts = node.facts_as(ToolFacts)
        facts.name = text(name) or facts.name
        if isinstance(arguments, str):
            facts.arguments = arguments
        facts.response_id = facts.response_id or rid
        return node

    def tool_output(self, node: Node, ts: int, output: Any) -> None:
        facts = node.facts_as(ToolFacts)
        if not facts.has_output:
            facts.has_output, facts.output = True, output
            node.end_ns = max(node.end_ns, ts)
            node.closed = True

    # -- responses ---------------------------------------------------------------

    def response(self, rid: Any, ts: int, resp: dict[str, Any] | None = None) -> Node | None:
        """The span of response `rid`, opened here when its response.created was not logged."""
        if not isinstance(rid, str) or not rid:
            return None
        node = self.nodes.get(f"response:{rid}")
        if node is None:
            node = self.open_response(ts, {**(resp or {}), "id": rid})
        return node

    def open_response(self, ts: int, resp: dict[str, Any]) -> Node:
        """A response's span, from what `response.created` (or a later event) says of it."""
        rid = text(resp.get("id")) or f"resp@{ts}"
        node = self.nodes.get(f"response:{rid}")
        if node is not None:
            return node
        facts = ResponseFacts(rid, out_of_band=is_out_of_band(resp, bool(self.oob_creates)))
        start = ts
        facts.metadata = obj(resp, "metadata") or None  # the app's own (request ids, purpose)
        if facts.out_of_band:
            parent = "session"
            if self.oob_creates:
                start = min(ts, self.oob_creates.pop(0))
        else:
            self._end_unfinished_responses(ts)
            parent = (self.turn or self.open_turn(ts, rid)).key
            facts.context = list(self.order)
        facts.instructions = text(resp.get("instructions")) or text(self.config.get("instructions"))
        facts.model = text(self.config.get("model"))
        mods = resp.get("output_modalities") or resp.get("modalities")
        if isinstance(mods, list):
            facts.modalities = [str(m) for m in mods]
        node = self.add(Node(f"response:{rid}", "response", parent, start, ts, facts))
        if not facts.out_of_band:
            self.live_response = node
        return node

    def _end_unfinished_responses(self, ts: int) -> None:
        """A response with no response.done ends where the next response starts (incomplete).

        Only the latest in-conversation response can still be open: each new one ends it.
        """
        node = self.live_response
        if node is not None and not node.closed:
            node.end_ns = max(node.end_ns, ts)
            node.closed = node.incomplete = True

    def first_output(self, node: Node, ts: int, delta: bool) -> None:
        facts = node.facts_as(ResponseFacts)
        if facts.first_output_ns is None or ts < facts.first_output_ns:
            facts.first_output_ns = ts
        if delta and (facts.first_delta_ns is None or ts < facts.first_delta_ns):
            facts.first_delta_ns = ts

    def attach_item(self, node: Node, item: Item) -> None:
        facts = node.facts_as(ResponseFacts)
        if item.id not in facts.items:
            facts.items.append(item.id)
            self.item_response.setdefault(item.id, node)
            if facts.out_of_band and item.id in self.order:
                self.order.remove(item.id)  # out-of-band output is not part of the conversation

    def interrupt(self, node: Node) -> None:
        turn = self.nodes.get(node.parent or "")
        if turn is not None and turn.kind == "turn":
            turn.facts_as(TurnFacts).interrupted = True
