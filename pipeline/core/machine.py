"""Machine: the state of one session while its events are replayed, and the operations
its handlers share (open a turn, a user input, a response, a tool; record an error).

The handlers live by side of the conversation (`inputs`: session, user and client;
`responses`: the model) as functions of this machine; `reconstruct` dispatches the
events to them. Everything the handlers record is a typed facts object per span.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.core.events import obj, text
from pipeline.core.items import RANK_ITEM, Conversation
from pipeline.core.model import (
    InputFacts,
    Item,
    Node,
    ResponseFacts,
    SpanKind,
    ToolFacts,
    TranscriptionFacts,
    TurnFacts,
)
from pipeline.records import SessionCounts, SpanEvent

PROVISIONAL = "client:"  # the id a client-created item goes by until the server names it
# Events after which a session still "ended on" the error before them (trace model §6).
TRAILING_TYPES = frozenset({"rate_limits.updated", "error"})


@dataclass(slots=True)
class Request:
    """A client's `response.create`, waiting for the response it asks for."""

    ts: int
    event_id: str | None
    response: dict[str, Any]  # what it asks: instructions, modalities, tools, conversation
    items: list[str] | None  # the ids of its own `input` (a new context); None: the conversation
    out_of_band: bool


def is_out_of_band(resp: dict[str, Any], asked: bool = False, ga: bool = False) -> bool:
    """`conversation: "none"` on the response or request; or, when the client asked for an
    out-of-band response, a response with no conversation: a null `conversation_id`, or on
    the GA API (whose in-conversation responses name theirs) none at all, as GA's
    `response.done` of an out-of-band call has no such key. Alone, a null could be a struct
    column's filler; a beta response may have no such key either."""
    if resp.get("conversation") == "none":
        return True
    if not asked:
        return False
    return resp["conversation_id"] is None if "conversation_id" in resp else ga


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
        self.creates: list[Request] = []  # client requests not yet matched to a response
        self.commit: tuple[int, str] | None = None  # the latest commit: (time, its turn's key)
        self.ended_on_error: str | None = None  # the error the session's events end on
        self.seen_events: set[str] = set()
        self.cancel: SpanEvent | None = None  # a client cancel naming no response yet seen
        self.live_response: Node | None = None  # the latest in-conversation response
        self.item_response: dict[str, Node] = {}  # output item id → the response that made it
        # the (response id, item id, response facts, item) the last text delta went to
        self.last_delta: tuple[str, str, ResponseFacts, Item] | None = None
        self.apps: list[tuple[int, int, dict[str, Any]]] = []  # (time, event index, record)
        self.app_metadata: dict[str, Any] = {}
        self.app_tags: list[str] = []
        self.problems: list[tuple[int, str]] = []  # (event index, reason)
        self.index = 0
        self.stats = SessionCounts()
        self.root = Node("session", SpanKind.SESSION, None, 0, 0)
        self.nodes["session"] = self.root

    # -- items -------------------------------------------------------------------

    def rename_item(self, old: str, new: str) -> None:
        """A client-created item's provisional id becomes the server's."""
        self.conv.rename(old, new)
        node = self.nodes.get(f"input:{old}")
        if node is not None:
            node.facts_as(InputFacts).item_id = new
            turn = self.nodes.get(node.parent or "")
            if turn is not None and turn.kind == SpanKind.TURN:
                turn.facts_as(TurnFacts).item_id = new  # the logged id, at last

    # -- spans -------------------------------------------------------------------

    def add(self, node: Node) -> Node:
        return self.nodes.setdefault(node.key, node)

    def open_turn(self, ts: int, key_hint: str) -> Node:
        key = f"turn:{key_hint}"
        if key in self.nodes:
            key = f"turn:{key_hint}#{len(self.turns) + 1}"
        turn = self.add(Node(key, SpanKind.TURN, "session", ts, ts, TurnFacts(len(self.turns) + 1)))
        self.turns.append(turn)
        self.turn = turn
        return turn

    def user_input(self, ts: int, item_id: str, source: str) -> Node:
        node = self.nodes.get(f"input:{item_id}")
        if node is None:
            turn = self.open_turn(ts, item_id)
            if not item_id.startswith(PROVISIONAL):  # a client item's id until the server's
                turn.facts_as(TurnFacts).item_id = item_id
            node = self.add(
                Node(
                    f"input:{item_id}",
                    SpanKind.USER_INPUT,
                    turn.key,
                    ts,
                    ts,
                    InputFacts(item_id, source),
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
            for kind in (SpanKind.TOOL, SpanKind.RESPONSE, SpanKind.USER_INPUT):
                for node in reversed(self.nodes.values()):
                    if node.kind == kind and not node.closed and node.parent == turn.key:
                        return node
        return self.root

    def fail(self, node: Node, ts: int, kind: str, message: str, extra: dict[str, Any]) -> None:
        """An error event on `node`, which fails it; the root fails only when the session
        ends on the error (`finish`), so a stray error does not mark a whole call failed."""
        attrs: dict[str, Any] = {"exception.type": kind, "exception.message": message}
        for k, v in extra.items():
            if v is not None:
                attrs[f"realtime.error.{k}"] = str(v)
        node.events.append(SpanEvent("exception", ts, attrs))
        if node is not self.root:
            node.error = message or kind
        self.ended_on_error = message or kind
        self.stats.errors += 1

    def tool(self, ts: int, call_id: str, name: Any, arguments: Any, rid: str | None) -> Node:
        node = self.nodes.get(f"tool:{call_id}")
        if node is None:
            turn = self.turn or self.open_turn(ts, f"call_{call_id}")
            node = self.add(
                Node(f"tool:{call_id}", SpanKind.TOOL, turn.key, ts, ts, ToolFacts(call_id))
            )
        facts = node.facts_as(ToolFacts)
        facts.name = text(name) or facts.name
        if isinstance(arguments, str):
            facts.arguments = arguments
        facts.response_id = facts.response_id or rid
        return node

    def tool_output(self, node: Node, ts: int, output: Any) -> None:
        facts = node.facts_as(ToolFacts)
        if not facts.has_output:
            facts.has_output, facts.output, facts.output_ns = True, output, ts
            node.end_ns = max(node.end_ns, ts)
            node.closed = True

    # -- transcription -------------------------------------------------------------

    def transcription(self, ts: int, item_id: str) -> Node | None:
        """The transcription span of a user audio item, under its user input, from the commit
        (when the model got the audio) to `ts`; the user input lasts until it is transcribed."""
        parent = self.nodes.get(f"input:{item_id}")
        if parent is None:
            return None
        key = f"transcription:{item_id}"
        node = self.nodes.get(key)
        if node is None:
            facts = parent.facts_as(InputFacts)
            start = facts.committed_ns or facts.speech_stopped_ns or parent.end_ns
            model = text(self._transcription_config().get("model"))
            facts_t = TranscriptionFacts(item_id, model)
            node = self.add(Node(key, SpanKind.TRANSCRIPTION, parent.key, start, ts, facts_t))
        node.end_ns = max(node.end_ns, ts)
        node.closed = True
        parent.end_ns = max(parent.end_ns, ts)
        return node

    def _transcription_config(self) -> dict[str, Any]:
        legacy = obj(self.config, "input_audio_transcription")
        return legacy or obj(obj(obj(self.config, "audio"), "input"), "transcription")

    # -- responses ---------------------------------------------------------------

    def response(self, rid: Any, ts: int, resp: dict[str, Any] | None = None) -> Node | None:
        """The span of response `rid`, opened here when its response.created was not logged."""
        if not isinstance(rid, str) or not rid:
            return None
        node = self.nodes.get(f"response:{rid}")
        if node is None:
            node = self.open_response(ts, {**(resp or {}), "id": rid})
        return node

    def open_response(self, ts: int, resp: dict[str, Any], created: bool = False) -> Node:
        """A response's span, from what `response.created` (or an earlier event) says of it.

        It starts at the earliest event tied to it (trace model §6): the client's
        `response.create`, else the commit of the user's audio when the server answers on
        its own, else the first event naming it.
        """
        rid = text(resp.get("id")) or f"resp@{ts}"
        node = self.nodes.get(f"response:{rid}")
        if node is not None:
            self._describe(node.facts_as(ResponseFacts), resp)
            return node
        facts = ResponseFacts(rid)
        facts.out_of_band, create = self._claim_create(ts, resp)
        request = create.response if create is not None else {}
        start = ts
        if create is not None:
            start = create.ts
        elif (
            not facts.out_of_band
            and self.commit is not None
            and self.turn is not None
            and self.commit[1] == self.turn.key
        ):
            start = self.commit[0]
        else:
            facts.start_observed = created  # opened by response.created, or by a later event
        self.commit = None
        if facts.out_of_band:
            parent = "session"
        else:
            self._end_unfinished_responses(ts)
            parent = (self.turn or self.open_turn(ts, rid)).key
        given = create.items if create is not None else None
        facts.context = given if given is not None else list(self.order)
        facts.instructions = (
            text(request.get("instructions"))
            or text(resp.get("instructions"))
            or text(self.config.get("instructions"))
        )
        facts.model = text(self.config.get("model"))
        tools = request.get("tools") if isinstance(request.get("tools"), list) else None
        facts.tools = tools if tools is not None else _list(self.config.get("tools"))
        facts.modalities = _modalities(request)
        facts.tool_choice = request.get("tool_choice")
        self._describe(facts, resp)
        node = self.add(Node(f"response:{rid}", SpanKind.RESPONSE, parent, start, ts, facts))
        if not facts.out_of_band:
            self.live_response = node
        return node

    def cancelled(self, node: Node, cancel: SpanEvent) -> None:
        """The client cancelled this response: an event on its span, whose start moves to
        the cancel when that is the earliest event tied to it (a log begun with the cancel,
        §7); a turn it opened moves with it."""
        node.facts_as(ResponseFacts).cancelled_by_client = True
        node.events.append(cancel)
        if cancel.time_ns < node.start_ns:
            node.start_ns = cancel.time_ns
            parent = self.nodes.get(node.parent or "")
            if (
                parent is not None
                and parent.kind == SpanKind.TURN
                and parent.start_ns > cancel.time_ns
            ):
                parent.start_ns = cancel.time_ns

    def _describe(self, facts: ResponseFacts, resp: dict[str, Any]) -> None:
        """What a response object says of the response, where nothing earlier said it."""
        facts.metadata = facts.metadata or obj(resp, "metadata") or None  # request ids, purpose
        facts.modalities = facts.modalities or _modalities(resp)
        facts.conversation_id = facts.conversation_id or text(resp.get("conversation_id"))
        voice = resp.get("voice") or obj(obj(resp, "audio"), "output").get("voice")
        facts.voice = facts.voice or text(voice)

    def _claim_create(self, ts: int, resp: dict[str, Any]) -> tuple[bool, Request | None]:
        """Whether the response is out-of-band, and the client's `response.create` it answers:
        the oldest one logged before it of the same kind."""
        asked = [c for c in self.creates if c.ts <= ts]
        meta = obj(resp, "metadata")
        if meta:  # a request's metadata echoed on its response names the request (§7)
            for create in asked:
                if obj(create.response, "metadata") == meta:
                    self.creates.remove(create)
                    return create.out_of_band or is_out_of_band(resp), create
        ga = self.config.get("type") in ("realtime", "transcription")  # GA's session object
        oob = is_out_of_band(resp, any(c.out_of_band for c in asked), ga)
        for create in asked:
            if create.out_of_band == oob:
                self.creates.remove(create)
                return oob, create
        return oob, None

    def forget_request(self, event_id: str) -> None:
        """A `response.create` the server refused (an error naming it) answers no response."""
        self.creates = [c for c in self.creates if c.event_id != event_id]

    def request(self, ts: int, request: dict[str, Any], event_id: str | None) -> None:
        """A client `response.create`: kept for the response it asks for, with the items of
        its own `input` (a new context), and the tool outputs it carries."""
        given: list[str] | None = None
        raw = request.get("input")
        if isinstance(raw, list):
            given = []
            for n, entry in enumerate(raw):
                if not isinstance(entry, dict):
                    continue
                if entry.get("type") == "item_reference":
                    ref = text(entry.get("id"))
                    if ref is not None:
                        given.append(ref)
                    continue
                own = text(entry.get("id")) or f"request:{event_id or ts}:{n}"
                item = self.conv.merge(entry, RANK_ITEM, own, ordered=False)
                if item is None:
                    continue
                given.append(item.id)
                if item.type == "function_call_output" and item.call_id:
                    self.tool_output(self.tool(ts, item.call_id, None, None, None), ts, item.output)
        self.creates.append(Request(ts, event_id, request, given, is_out_of_band(request)))

    def _end_unfinished_responses(self, ts: int) -> None:
        """A response with no response.done ends where the next response starts (incomplete).

        Only the latest in-conversation response can still be open: each new one ends it.
        """
        node = self.live_response
        if node is not None and not node.closed:
            node.end_ns = max(node.end_ns, ts)
            node.closed = node.incomplete = True

    def content(self, node: Node, ts: int, kind: str) -> None:
        """Content of `kind` (`audio`, `transcript`, `text`, `args`) reached the client at
        `ts`; `playback` (WebRTC's output_audio_buffer.started) is when the caller began to
        hear it: audio for the voice-to-voice latency, never content for TTFT (§7)."""
        facts = node.facts_as(ResponseFacts)
        if kind != "playback" and (facts.first_content_ns is None or ts < facts.first_content_ns):
            facts.first_content_ns = ts
        if kind in ("audio", "playback"):
            if facts.first_audio_ns is None or ts < facts.first_audio_ns:
                facts.first_audio_ns = ts
        elif kind in ("text", "transcript"):
            if facts.first_text_ns is None or ts < facts.first_text_ns:
                facts.first_text_ns = ts
            if kind == "transcript" and (
                facts.first_transcript_ns is None or ts < facts.first_transcript_ns
            ):
                facts.first_transcript_ns = ts

    def attach_item(self, node: Node, item: Item) -> None:
        facts = node.facts_as(ResponseFacts)
        if item.id not in facts.items:
            facts.items.append(item.id)
            self.item_response.setdefault(item.id, node)
            if facts.out_of_band and item.id in self.order:
                self.order.remove(item.id)  # out-of-band output is not part of the conversation


def _list(value: Any) -> list[Any] | None:
    return value if isinstance(value, list) else None


def _modalities(resp: dict[str, Any]) -> list[str] | None:
    mods = resp.get("output_modalities") or resp.get("modalities")
    return [str(m) for m in mods] if isinstance(mods, list) else None
