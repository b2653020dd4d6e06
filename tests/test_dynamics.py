"""Conversation dynamics (issue 37): the caller's speech placed by the input stream's audio
clock, the assistant's audio by its deltas or playback events, and the figures both give, on
logs built here with known intervals. Every expected value is worked out by hand from the
timeline below, never taken from realtrace's output.

The timeline (seconds from the log's start; an append of 100 ms of pcm16 every 100 ms from
0 to 18 s, so the audio at input offset `o` ms was captured at `o/1000 - 0.1` s):

    turn 1  speech 0.9-2.9 (offsets 1000-3000), VAD stopped 3.45, reply audio 4.0-6.0
    turn 2  speech 10.9-11.9 (11000-12000), stopped 12.4, reply audio 13.0-16.0 (3 s) ...
    turn 3  ... cut by speech 14.5-15.9 (14600-16000): truncated at 1,800 ms (heard to 14.8),
            stopped 16.4, reply audio 16.9-17.9
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from conftest import Trace
from test_voice_truth import at, convert, metrics

PCM = 48_000  # bytes per second of pcm16 at 24 kHz


def audio(seconds: float) -> str:
    return base64.b64encode(bytes(round(seconds * PCM))).decode()


def _appends(until: float) -> list[dict[str, Any]]:
    return [
        at(round(i * 0.1, 3), type="input_audio_buffer.append", audio=audio(0.1))
        for i in range(round(until * 10) + 1)
    ]


def _turn(
    n: int,
    speech: tuple[int, int],
    started: float,
    stopped: float,
    first_audio: float,
    seconds: float,
    playback: str | None,
) -> list[dict[str, Any]]:
    """A user turn: VAD events (offsets in ms), commit, a server response whose audio plays
    `seconds` from `first_audio` (as deltas, or as WebRTC playback events when `playback`
    names how it ends)."""
    item, rid, out = f"item_u{n}", f"resp_{n}", f"item_a{n}"
    events = [
        at(started, type="input_audio_buffer.speech_started", item_id=item,
           audio_start_ms=speech[0]),
        at(stopped, type="input_audio_buffer.speech_stopped", item_id=item,
           audio_end_ms=speech[1]),
        at(stopped + 0.01, type="input_audio_buffer.committed", item_id=item),
        at(stopped + 0.011, type="conversation.item.created",
           item={"id": item, "type": "message", "role": "user",
                 "content": [{"type": "input_audio"}]}),
        at(stopped + 0.02, type="response.created",
           response={"id": rid, "status": "in_progress", "output": []}),
        at(stopped + 0.03, type="response.output_item.added", response_id=rid,
           item={"id": out, "type": "message", "role": "assistant"}),
    ]  # fmt: skip
    if playback is None:
        quarter = seconds / 4
        events += [
            at(round(first_audio + i * 0.05, 3), type="response.audio.delta", response_id=rid,
               item_id=out, delta=audio(quarter))
            for i in range(4)
        ]  # fmt: skip
    else:
        events.append(at(first_audio, type="output_audio_buffer.started", response_id=rid))
    events.append(
        at(first_audio + 0.3, type="response.done",
           response={"id": rid, "status": "completed",
                     "output": [{"id": out, "type": "message", "role": "assistant",
                                 "content": [{"type": "audio", "transcript": f"reply {n}"}]}]})
    )  # fmt: skip
    if playback == "stopped":
        events.append(
            at(first_audio + seconds, type="output_audio_buffer.stopped", response_id=rid)
        )
    return events


def _call(appends: bool, webrtc: bool = False) -> list[dict[str, Any]]:
    play = "stopped" if webrtc else None
    events = [
        at(0.0, type="session.created",
           session={"id": "sess_dyn", "model": "gpt-4o-realtime-preview",
                    "input_audio_format": "pcm16", "output_audio_format": "pcm16",
                    "turn_detection": {"type": "server_vad", "silence_duration_ms": 500}}),
        *(_appends(18.0) if appends else []),
        *_turn(1, (1000, 3000), 1.2, 3.45, 4.0, 2.0, play),
        *_turn(2, (11000, 12000), 11.2, 12.4, 13.0, 3.0, "cleared" if webrtc else None),
        # the caller barges in at 14.5 (offset 14600): the client stops playing at 1.8 s
        at(14.81, type="conversation.item.truncate", item_id="item_a2", content_index=0,
           audio_end_ms=1800),
        at(14.82, type="conversation.item.truncated", item_id="item_a2", content_index=0,
           audio_end_ms=1800),
        *([at(14.85, type="output_audio_buffer.cleared", response_id="resp_2")]
          if webrtc else []),
        *_turn(3, (14600, 16000), 14.8, 16.4, 16.9, 1.0, play),
    ]  # fmt: skip
    return sorted(events, key=lambda e: e["timestamp"])


def _turn_metrics(t: Trace) -> list[dict[str, Any]]:
    return [metrics(t, turn) for turn in t.kind("turn")]


FIGURES = ("end_of_turn_delay", "perceived_latency", "barge_in_stop_time", "user_response_time")


def test_every_figure_on_a_websocket_call_with_appends(tmp_path: Path) -> None:
    t = convert(tmp_path, _call(appends=True))
    turns = _turn_metrics(t)
    got = [{k: m[k] for k in (*FIGURES, "voice_to_voice_latency") if k in m} for m in turns]
    approx = pytest.approx
    assert got == [
        {"end_of_turn_delay": approx(0.55), "perceived_latency": approx(1.1),
         "voice_to_voice_latency": approx(0.55)},
        # the caller answered 4.9 s after the reply's audio ended (6.0 → 10.9)
        {"end_of_turn_delay": approx(0.5), "perceived_latency": approx(1.1),
         "user_response_time": approx(4.9), "voice_to_voice_latency": approx(0.6)},
        # spoke at 14.5 over audio heard until 14.8: the agent stopped 0.3 s later
        {"end_of_turn_delay": approx(0.5), "perceived_latency": approx(1.0),
         "barge_in_stop_time": approx(0.3), "voice_to_voice_latency": approx(0.5)},
    ]  # fmt: skip
    root = metrics(t, t.root)
    user, agent = 2.0 + 1.0 + 1.4, 2.0 + 1.8 + 1.0
    assert root["user_speech_ms"] == approx(user * 1000, abs=0.01)
    assert root["assistant_heard_ms"] == approx(agent * 1000, abs=0.01)
    assert root["overlap_ms"] == approx(300, abs=0.01)
    # silences between the first and last speech: 2.9-4.0, 6.0-10.9, 11.9-13.0, 15.9-16.9
    assert root["silence_ms"] == approx(1100 + 4900 + 1100 + 1000, abs=0.01)
    assert root["longest_silence_ms"] == approx(4900, abs=0.01)
    assert root["talk_ratio"] == approx(round(user / (user + agent), 4))
    # user input spans: when the speech was, on the audio clock; VAD events at their times
    t0 = int(t.root["startTimeUnixNano"])
    for ui, (start, end) in zip(
        t.kind("user_input"), [(0.9, 2.9), (10.9, 11.9), (14.5, 15.9)], strict=True
    ):
        assert (int(ui["startTimeUnixNano"]) - t0) / 1e9 == approx(start)
        assert (ui["_a"]["realtrace.speech.end_unix_nano"] - t0) / 1e9 == approx(end)
    for name, times in (("started", [1.2, 11.2, 14.8]), ("stopped", [3.45, 12.4, 16.4])):
        logged = [
            (int(e["timeUnixNano"]) - t0) / 1e9
            for span in t.spans
            for e in span.get("events", [])
            if e["name"] == f"input_audio_buffer.speech_{name}"
        ]
        assert sorted(logged) == approx(times)
    heard = [
        ((r["_a"]["realtrace.heard.start_unix_nano"] - t0) / 1e9,
         (r["_a"]["realtrace.heard.end_unix_nano"] - t0) / 1e9)
        for r in t.kind("response")
    ]  # fmt: skip
    assert heard == [approx((4.0, 6.0)), approx((13.0, 14.8)), approx((16.9, 17.9))]


def test_a_webrtc_call_knows_what_was_heard_but_not_when_the_caller_spoke(
    tmp_path: Path,
) -> None:
    """WebRTC logs no appends: the assistant's audio from the playback events (cut at the
    truncation, not at `cleared`), and every figure that needs the caller's speech absent."""
    t = convert(tmp_path, _call(appends=False, webrtc=True))
    root = metrics(t, t.root)
    assert root["assistant_heard_ms"] == pytest.approx(2000 + 1800 + 1000, abs=0.01)
    for gone in ("user_speech_ms", "overlap_ms", "silence_ms", "longest_silence_ms", "talk_ratio"):
        assert gone not in root
    assert all(not set(FIGURES) & set(m) for m in _turn_metrics(t))
    assert all("realtrace.speech.end_unix_nano" not in ui["_a"] for ui in t.kind("user_input"))


def test_a_log_without_appends_or_format_measures_nothing_it_cannot(tmp_path: Path) -> None:
    """No appends logged: the speech stays where the VAD events put it, no figure of it."""
    t = convert(tmp_path, _call(appends=False))
    root = metrics(t, t.root)
    assert root["assistant_heard_ms"] == pytest.approx(4800, abs=0.01)
    assert "user_speech_ms" not in root and "overlap_ms" not in root
    assert all(not set(FIGURES) & set(m) for m in _turn_metrics(t))
    # appends but no format named: their bytes are no clock
    events = [
        e if e["type"] != "session.created"
        else {**e, "session": {k: v for k, v in e["session"].items() if "format" not in k}}
        for e in _call(appends=True)
    ]  # fmt: skip
    t = convert(tmp_path / "noformat", events)
    assert all(not set(FIGURES) & set(m) for m in _turn_metrics(t))
    assert "user_speech_ms" not in metrics(t, t.root)


@pytest.mark.parametrize("offset", [1e400, -5, "300", None, 10**30])
def test_offsets_no_clock_can_place_leave_the_figures_absent(tmp_path: Path, offset: Any) -> None:
    """A VAD offset past the appended audio, negative, of the wrong type or absent: the
    session converts, and nothing is measured from that speech (never a guess, never a
    failed session)."""
    events = [
        {**e, "audio_start_ms": offset}
        if e.get("type") == "input_audio_buffer.speech_started" and e["item_id"] == "item_u1"
        else e
        for e in _call(appends=True)
    ]
    t = convert(tmp_path, events)
    first = _turn_metrics(t)[0]
    assert not set(FIGURES) & set(first)
    assert "user_speech_ms" not in metrics(t, t.root)  # a side is known whole, or not at all
    assert metrics(t, t.root)["assistant_heard_ms"] == pytest.approx(4800, abs=0.01)
    assert _turn_metrics(t)[1]["user_response_time"] == pytest.approx(4.9)  # others still placed
