"""Dynamics: the conversation as the caller lived it, measured on the logged audio clock.

Server VAD says the caller stopped only after its silence window, so the events' times are
late by the end-of-turn delay. The input stream tells the truth: each
`input_audio_buffer.append` is logged when the client sent what it had just captured, so
the append logged at T carries the audio that ends at T, and an offset of the input stream
(`audio_start_ms`, `audio_end_ms`) has a wall time (`InputClock`). The assistant is audible
from its playback's start (WebRTC `output_audio_buffer.started`; on WebSocket its first
audio delta, after any audio still playing) for as long as its audio lasts, cut where the
caller stopped hearing it (a truncation's `audio_end_ms`, WebRTC `cleared`).

From those intervals: per turn, the end-of-turn delay, the caller's perceived wait, how
long the agent talked over a barge-in and how long the caller took to answer; per session,
speech, overlap and silence. A figure whose inputs the log lacks (no appends, no audio
format, no playback) is absent, never estimated (trace model, conversation dynamics).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from pipeline.core.model import (
    InputFacts,
    Node,
    ResponseFacts,
    SessionDynamics,
    SpanKind,
    TurnFacts,
)
from pipeline.records import SpanEvent

Interval = tuple[int, int]  # (start ns, end ns), start <= end


@dataclass(frozen=True, slots=True)
class InputClock:
    """Wall times of the input stream's offsets, from the appends' times and sizes."""

    times: Sequence[int]  # each append's time (ns), in stream order
    ends_ms: Sequence[float]  # the stream's length (ms) once that append was sent

    @classmethod
    def of(
        cls, appends: Sequence[tuple[int, int]], bytes_per_second: int | None
    ) -> InputClock | None:
        """`appends`: (time, decoded bytes) in stream order; None without appends or format."""
        if not appends or not bytes_per_second:
            return None
        ends: list[float] = []
        total = 0
        for _, size in appends:
            total += size
            ends.append(total * 1000 / bytes_per_second)
        return cls([t for t, _ in appends], ends)

    def wall(self, offset_ms: float) -> int | None:
        """The wall time (ns) the audio at `offset_ms` was captured; None past the stream."""
        i = bisect_left(self.ends_ms, offset_ms)
        if i == len(self.ends_ms) or offset_ms < 0:
            return None
        return self.times[i] - round((self.ends_ms[i] - offset_ms) * 1e6)


def place_speech(nodes: Sequence[Node], clock: InputClock | None) -> list[Interval] | None:
    """Each spoken user input's speech on the audio clock: the span starts when the speech
    did and ends when it did, or when its transcription (a child that runs after the commit)
    ends. The speech intervals, or None when some speech cannot be placed."""
    speech: list[Interval] = []
    kids_end: dict[str, int] = {}
    for n in nodes:
        if n.kind == SpanKind.TRANSCRIPTION and n.parent is not None:
            kids_end[n.parent] = max(kids_end.get(n.parent, n.end_ns), n.end_ns)
    placed = True
    for n in nodes:
        if n.kind != SpanKind.USER_INPUT:
            continue
        facts = n.facts_as(InputFacts)
        if facts.source != "audio":
            continue
        start_ms, end_ms = facts.audio_start_ms, facts.audio_end_ms
        if clock is None or start_ms is None or end_ms is None:
            placed = False
            continue
        start, end = clock.wall(start_ms), clock.wall(end_ms)
        if start is None or end is None or end < start:
            placed = False
            continue
        facts.speech_ns = (start, end)
        speech.append((start, end))
        # the VAD's events keep their own times (late by the end-of-turn delay)
        n.events.append(
            SpanEvent(
                "input_audio_buffer.speech_started", n.start_ns, {"audio_start_ms": int(start_ms)}
            )
        )
        if facts.speech_stopped_ns is not None:
            n.events.append(
                SpanEvent(
                    "input_audio_buffer.speech_stopped",
                    facts.speech_stopped_ns,
                    {"audio_end_ms": int(end_ms)},
                )
            )
        n.start_ns = start
        n.end_ns = max(end, kids_end.get(n.key, end))
    return speech if placed else None


def audible(responses: Sequence[Node]) -> tuple[list[Interval], list[Interval]] | None:
    """When each response's audio was heard (responses in start order), and which of those
    were cut short; None when some response delivered audio whose playing time the log does
    not give. A WebSocket client plays its responses one after another: one starts when its
    first delta came or when the audio before it ended, whichever is later."""
    out: list[Interval] = []
    cut: list[Interval] = []  # those cut short: truncated, cleared, barged in on
    known = True
    played_until = 0
    for node in responses:
        f = node.facts_as(ResponseFacts)
        start = f.first_audio_ns
        if start is None:
            continue
        if f.playback_ms is not None:  # WebRTC: the playback events' window
            length = f.playback_ms
        elif f.audio_out_ms is not None:  # WebSocket: the audio's duration from its bytes
            start = max(start, played_until)
            length = f.audio_out_ms
        else:
            known = False
            continue
        if f.truncated_at_ms is not None:
            length = min(length, f.truncated_at_ms)
        end = start + round(max(0.0, length) * 1e6)
        f.heard_ns = (start, end)
        played_until = end
        out.append((start, end))
        if f.cut:
            cut.append((start, end))
    return (out, cut) if known else None


def measure_turns(
    turns: Sequence[Node],
    kids: dict[str, list[Node]],
    heard: tuple[Sequence[Interval], Sequence[Interval]] | None,
) -> None:
    """Each turn's figures from its speech (placed) and the assistant's audio around it: a
    barge-in is speech that began while audio that was then cut short played; speech over
    audio that played on (double talk) is overlap, and no barge-in."""
    for turn in turns:
        t = turn.facts_as(TurnFacts)
        speech = next(
            (
                k.facts_as(InputFacts)
                for k in kids.get(turn.key, [])
                if k.kind == SpanKind.USER_INPUT and k.facts_as(InputFacts).speech_ns is not None
            ),
            None,
        )
        if speech is None or speech.speech_ns is None:
            continue
        start, end = speech.speech_ns
        if speech.speech_stopped_ns is not None and speech.speech_stopped_ns >= end:
            t.end_of_turn_delay_s = (speech.speech_stopped_ns - end) / 1e9
        if t.voice_latency_s is not None and t.input_end_ns is not None and t.input_end_ns >= end:
            # the wait measured from the event, plus what the event was late by
            t.perceived_latency_s = t.voice_latency_s + (t.input_end_ns - end) / 1e9
        if heard is None:
            continue
        played, cut = heard
        stopped = [h for h in cut if h[0] <= start < h[1]]
        before = [h for h in played if h[1] <= start]
        if stopped:  # the caller spoke over the agent: how long until it stopped
            t.barge_in_stop_time_s = (max(h[1] for h in stopped) - start) / 1e9
        elif before and not any(h[0] <= start < h[1] for h in played):
            # the caller answered after the agent's audio ended
            t.user_response_time_s = (start - max(h[1] for h in before)) / 1e9


def _union(intervals: Sequence[Interval]) -> list[Interval]:
    merged: list[list[int]] = []
    for a, b in sorted(intervals):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]


def _length(intervals: Sequence[Interval]) -> int:
    return sum(b - a for a, b in intervals)


def _intersection(xs: Sequence[Interval], ys: Sequence[Interval]) -> int:
    total, i, j = 0, 0, 0
    while i < len(xs) and j < len(ys):
        a, b = max(xs[i][0], ys[j][0]), min(xs[i][1], ys[j][1])
        total += max(0, b - a)
        if xs[i][1] < ys[j][1]:
            i += 1
        else:
            j += 1
    return total


def measure_session(
    speech: Sequence[Interval] | None, heard: Sequence[Interval] | None
) -> SessionDynamics:
    """The session's speech, overlap and silence; each side only when the log places all of
    it, the figures of both only when both are placed and someone spoke."""
    out = SessionDynamics()
    user = _union(speech) if speech else None
    agent = _union(heard) if heard else None
    if user is not None:
        out.user_speech_ms = _length(user) / 1e6
    if agent is not None:
        out.assistant_heard_ms = _length(agent) / 1e6
    if user is None or agent is None:
        return out
    both = _union([*user, *agent])
    gaps = [b[0] - a[1] for a, b in pairwise(both)]
    out.overlap_ms = _intersection(user, agent) / 1e6
    out.silence_ms = sum(gaps) / 1e6
    out.longest_silence_ms = max(gaps, default=0) / 1e6
    said = _length(user) + _length(agent)
    out.talk_ratio = _length(user) / said if said else None
    return out
