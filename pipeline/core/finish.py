"""Finish: close a replayed session into its tree of span nodes.

Audio durations from payload sizes (never from the payloads), spans the log left
open closed at its last event and marked incomplete, app records placed, and the
trace model's shape invariants enforced (`shape`), then the nodes in start order.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pipeline.core.app import app_node
from pipeline.core.dynamics import InputClock, audible, measure_session, measure_turns, place_speech
from pipeline.core.events import audio_bytes_per_second, audio_format
from pipeline.core.machine import SessionMachine
from pipeline.core.model import (
    SPAN_KINDS,
    InputFacts,
    Item,
    Node,
    ResponseFacts,
    SessionEvents,
    SessionFacts,
    SessionTree,
    SpanKind,
    ToolFacts,
)
from pipeline.core.shape import bound_turns, fit_transcriptions, rehome_events


def add_audio(m: SessionMachine, se: SessionEvents) -> tuple[float | None, float | None]:
    """Audio durations (input, output) from payload sizes; never from the payloads, and never
    from a guessed format (unknown format: unknown duration, the delivery still counts).

    Durations use the session's audio format as configured by the end of the
    replay; output audio without a `response_id` counts for the session only.
    """
    m.stats.events += se.audio_events
    m.stats.duplicate_events += se.duplicate_audio
    m.stats.audio_in_bytes += se.audio_in_bytes
    m.stats.audio_out_bytes += se.audio_out_bytes
    in_bps = audio_bytes_per_second(audio_format(m.config, "input"))
    out_bps = audio_bytes_per_second(audio_format(m.config, "output"))
    in_ms = se.audio_in_bytes * 1000 / in_bps if se.audio_in_bytes and in_bps else None
    out_ms = se.audio_out_bytes * 1000 / out_bps if se.audio_out_bytes and out_bps else None
    for rid, nbytes, first in se.audio_by_response:
        node = m.response(rid, first)
        if node is not None:
            facts = node.facts_as(ResponseFacts)
            if out_bps:
                facts.audio_out_ms = (facts.audio_out_ms or 0.0) + nbytes * 1000 / out_bps
            if facts.status is None or first <= node.end_ns:
                m.content(node, first, "audio")
    return in_ms, out_ms


def finish(
    m: SessionMachine,
    se: SessionEvents,
    audio: tuple[float | None, float | None],
    metadata: dict[str, Any],
) -> SessionTree:
    """Close what the log left open, enforce the shape invariants, order the nodes."""
    root = m.root
    root.start_ns, root.end_ns = se.first_ns, se.last_ns
    for node in m.nodes.values():
        if node.kind not in (SpanKind.TURN, SpanKind.SESSION) and not node.closed:
            node.end_ns = max(node.end_ns, se.last_ns)
            node.incomplete = True
    if m.cancel is not None:  # a cancel no response answered: the session's own event
        root.events.append(m.cancel)
        m.cancel = None
    awaited = _drop_unobserved_tools(m)
    _heard(m)
    clock = InputClock.of(se.appends, audio_bytes_per_second(audio_format(m.config, "input")))
    speech = place_speech(list(m.nodes.values()), clock)
    bound_turns(m.turns, m.nodes, any(r.delivered_audio for r in _responses(m)))
    fit_transcriptions(m.nodes)
    responses = sorted(
        (n for n in m.nodes.values() if n.kind == SpanKind.RESPONSE), key=lambda n: n.start_ns
    )
    heard = audible(responses)
    kids: dict[str, list[Node]] = {}
    for node in m.nodes.values():
        kids.setdefault(node.parent or "", []).append(node)
    measure_turns(m.turns, kids, heard)
    _add_apps(m, se)
    rehome_events(m.nodes)
    # a call left waiting for its output is unfinished business too
    root.incomplete = awaited or any(n.incomplete for n in m.nodes.values() if n is not root)
    if m.ended_on_error is not None:
        root.error = m.ended_on_error  # the session ended on an error: the call failed
    nodes = [
        root,
        *sorted(
            (n for n in m.nodes.values() if n is not root),
            key=lambda n: (n.start_ns, _KIND_ORDER[n.kind]),
        ),
    ]
    facts = SessionFacts(
        # a session id logged anywhere: in an event, else the record beside it (the key)
        m.realtime_id or (None if m.session_key.startswith("log:") else m.session_key),
        m.config,
        metadata,
        m.items,
        m.order,
        _audio_in_ms(audio[0], nodes, m.items),
        _audio_out_ms(audio[1], nodes),
        m.app_metadata,
        m.app_tags,
        measure_session(speech, heard[0] if heard is not None else None),
    )
    problems = [(se.files[i], se.lines[i], reason) for i, reason in m.problems]
    return SessionTree(m.session_key, nodes, m.stats, facts, problems)


def _responses(m: SessionMachine) -> list[ResponseFacts]:
    return [n.facts_as(ResponseFacts) for n in m.nodes.values() if n.kind == SpanKind.RESPONSE]


def _drop_unobserved_tools(m: SessionMachine) -> bool:
    """A tool span needs the tool's output: a call whose execution the log never shows stays
    in its response's `tool_calls` only (no span claims a run that may never have happened).
    A turn opened for such a call alone goes with it; a turn left waiting on one is
    incomplete, as its root is (§7). True when a call was left waiting."""
    gone = [
        k
        for k, n in m.nodes.items()
        if n.kind == SpanKind.TOOL and not n.facts_as(ToolFacts).has_output
    ]
    waiting = {m.nodes[key].parent for key in gone}
    for key in gone:
        del m.nodes[key]
    held = {n.parent for n in m.nodes.values()}
    for turn in [t for t in m.turns if t.key not in held and t.key.startswith("turn:call_")]:
        m.turns.remove(turn)
        del m.nodes[turn.key]
    for turn in m.turns:
        if turn.key in waiting:
            turn.incomplete = True
    return bool(gone)


def _heard(m: SessionMachine) -> None:
    """A truncated item was heard up to its truncation: the server accepts no point beyond
    the audio, so the truncation is authoritative (§7), and the item's audio is never taken
    to be shorter than what was heard (a WebRTC playback window, started → cleared, ends
    when the client flushed its buffer, not when the caller stopped hearing)."""
    for item in m.items.values():
        if item.truncated_ns is None or item.heard_ms is None:
            continue
        node = m.item_response.get(item.id)
        if node is None:
            continue
        facts = node.facts_as(ResponseFacts)
        made = facts.audio_out_ms if facts.audio_out_ms is not None else facts.playback_ms
        if made is not None:
            item.audio_ms = max(made, item.heard_ms)


def _add_apps(m: SessionMachine, se: SessionEvents) -> None:
    """App records become spans under the span they name, else the turn open at their start."""
    for n, (ts, index, record) in enumerate(m.apps):
        made = app_node(record, ts, n, m.nodes, m.turns)
        if isinstance(made, str):
            m.problems.append((index, made))
            continue
        m.nodes[made.key] = made
        m.stats.app_spans += 1
        m.stats.errors += made.error is not None


def _audio_in_ms(
    from_bytes: float | None, nodes: list[Node], items: dict[str, Item]
) -> float | None:
    """From appended audio when the client side was logged, else from VAD offsets; else unknown."""
    total: float | None = None
    for n in nodes:
        if n.kind == SpanKind.USER_INPUT:
            facts = n.facts_as(InputFacts)
            start, end = facts.audio_start_ms, facts.audio_end_ms
            if start is not None and end is not None:
                ms = max(0.0, end - start)
                total = (total or 0.0) + ms
                item = items.get(facts.item_id)
                if item is not None:
                    item.audio_ms = ms
    return from_bytes if from_bytes is not None else total


def _audio_out_ms(from_bytes: float | None, nodes: list[Node]) -> float | None:
    """From audio deltas, else from WebRTC playback events; unknown when neither was logged."""
    if from_bytes is not None:
        return from_bytes
    played = [n.facts_as(ResponseFacts).playback_ms for n in nodes if n.kind == SpanKind.RESPONSE]
    known = [p for p in played if p is not None]
    return sum(known) if known else None


_KIND_ORDER = {kind: i for i, kind in enumerate(SPAN_KINDS)}  # ties at one start time


def merged_metadata(values: Sequence[str | None]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for raw in values:
        if not raw:
            continue
        try:
            value = json.loads(raw)
        except ValueError:
            continue
        if isinstance(value, dict):
            for k, v in value.items():
                out.setdefault(k, v)
    return out
