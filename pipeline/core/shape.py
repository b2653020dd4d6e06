"""Shape: the trace model's invariants, enforced once a session's events are replayed.

Children lie within their parents, span events within their spans, and the
turns of a session never overlap. Where a log would break them, facts are
recorded where they fit (a clipped span keeps its logged end; a late event
moves to the nearest ancestor that contains it), never by stretching spans
over their neighbours.
"""

from __future__ import annotations

from bisect import bisect_right

from pipeline.core.model import Node, ResponseFacts, SpanKind, ToolFacts, TurnFacts


def bound_turns(turns: list[Node], nodes: dict[str, Node], session_audio: bool = True) -> None:
    """Turns span their children and end no later than the next turn starts.

    Turns are put in time order first (a span opened late, from a response id
    seen only in an audio delta, can start before a later-created turn), and
    a child that starts after the next turn began moves to the turn open at
    its start, so clipping never leaves a child outside its turn.
    """
    kids: dict[str, list[Node]] = {t.key: [] for t in turns}
    for node in nodes.values():
        if node.parent in kids:
            kids[node.parent].append(node)
    for turn in turns:
        if kids[turn.key]:
            turn.start_ns = min(turn.start_ns, *(k.start_ns for k in kids[turn.key]))
    turns.sort(key=lambda t: t.start_ns)
    starts = [t.start_ns for t in turns]
    for i, turn in enumerate(turns):
        turn.facts_as(TurnFacts).index = i + 1
        for kid in list(kids[turn.key]):
            home = bisect_right(starts, kid.start_ns) - 1
            if home > i:
                kids[turn.key].remove(kid)
                kids[turns[home].key].append(kid)
                kid.parent = turns[home].key
    for i, turn in enumerate(turns):
        mine = kids[turn.key]
        if mine:
            turn.end_ns = max(turn.end_ns, *(k.end_ns for k in mine))
            turn.incomplete = turn.incomplete or any(k.incomplete for k in mine)
        if i + 1 < len(turns) and turn.end_ns > starts[i + 1]:
            turn.end_ns = max(turn.start_ns, starts[i + 1])
            for kid in mine:
                if kid.end_ns > turn.end_ns:
                    kid.clipped_end_ns = kid.end_ns
                    kid.end_ns = max(kid.start_ns, turn.end_ns)
        describe_turn(turn, mine, session_audio)


def describe_turn(turn: Node, kids: list[Node], session_audio: bool) -> None:
    """What a turn's children say of it: interrupted, its latency, its tool time."""
    facts = turn.facts_as(TurnFacts)
    responses = [k.facts_as(ResponseFacts) for k in kids if k.kind == SpanKind.RESPONSE]
    facts.interrupted = any(r.state == "interrupted" for r in responses)
    facts.voice_latency_s = voice_latency(facts.input_end_ns, responses, session_audio)
    waits = [
        (t.facts_as(ToolFacts).output_ns or t.end_ns) - t.start_ns
        for t in kids
        if t.kind == SpanKind.TOOL
    ]
    facts.tool_time_s = sum(waits) / 1e9 if waits else None


def voice_latency(
    input_end_ns: int | None, responses: list[ResponseFacts], session_audio: bool
) -> float | None:
    """Seconds from the end of the user's input to the first audio of the turn from any of its
    responses (after tool calls too); first text where the session produced no audio at all.
    A response that logged its audio transcript but no audio bytes began its audio with the
    transcript's first delta (§7: many apps do not log audio)."""
    if input_end_ns is None:
        return None
    firsts = [
        (r.first_audio_ns if r.first_audio_ns is not None else r.first_transcript_ns)
        if session_audio
        else r.first_text_ns
        for r in responses
        if r.start_observed  # a response whose start is not logged measures nothing (§7)
    ]
    after = [t for t in firsts if t is not None and t >= input_end_ns]
    return (min(after) - input_end_ns) / 1e9 if after else None


def fit_transcriptions(nodes: dict[str, Node]) -> None:
    """A transcription lies within its user input, which a later turn may have cut short: a
    transcription that came after that keeps its logged end, as the clipped spans do."""
    for node in nodes.values():
        if node.kind != SpanKind.TRANSCRIPTION:
            continue
        parent = nodes[node.parent or ""]
        if node.end_ns > parent.end_ns:
            node.clipped_end_ns = node.end_ns
            node.end_ns = parent.end_ns
        node.start_ns = max(parent.start_ns, min(node.start_ns, node.end_ns))


def rehome_events(nodes: dict[str, Node]) -> None:
    """A span event outside its span moves to the nearest ancestor that contains it."""
    for node in list(nodes.values()):
        keep = []
        for event in node.events:
            if node.start_ns <= event.time_ns <= node.end_ns:
                keep.append(event)
                continue
            event.attributes["realtrace.span_key"] = node.key
            up = nodes.get(node.parent or "")
            while up is not None and not up.start_ns <= event.time_ns <= up.end_ns:
                up = nodes.get(up.parent or "")
            (up or nodes["session"]).events.append(event)
        node.events = keep
