"""Unusual sessions tell the truth too (trace model §7, issue 36): small logs in the shapes
real loggers write, each asserting the trace as a whole (the tree, the root's metrics, the
messages), not one attribute."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from test_voice_truth import at, convert, meta, metrics


def ns(seconds: float) -> int:
    """The epoch nanoseconds of `at(seconds)`."""
    return 1_763_978_400_000_000_000 + round(seconds * 1e9)


SESSION = {
    "type": "realtime",
    "object": "realtime.session",
    "id": "sess_rev4",
    "model": "gpt-realtime",
    "instructions": "You are a concierge.",
    "output_modalities": ["audio"],
}


def _ga_turn(t0: float, n: int) -> list[dict[str, Any]]:
    """One spoken user turn answered in the conversation (GA names)."""
    item, rid = f"item_u{n}", f"resp_c{n}"
    return [
        at(t0, type="input_audio_buffer.speech_started", item_id=item, audio_start_ms=100),
        at(t0 + 1, type="input_audio_buffer.speech_stopped", item_id=item, audio_end_ms=1100),
        at(t0 + 1.01, type="input_audio_buffer.committed", item_id=item),
        at(t0 + 1.02, type="conversation.item.added",
           item={"id": item, "type": "message", "role": "user", "content": [{"type": "input_audio"}]}),
        at(t0 + 1.03, type="response.created",
           response={"id": rid, "status": "in_progress", "conversation_id": "conv_1"}),
        at(t0 + 1.5, type="response.done",
           response={"id": rid, "status": "completed", "conversation_id": "conv_1",
                     "output": [{"id": f"item_a{n}", "type": "message", "role": "assistant",
                                 "content": [{"type": "output_text", "text": "Sure."}]}],
                     "usage": {"total_tokens": 30, "input_tokens": 20, "output_tokens": 10}}),
    ]  # fmt: skip


def test_a_ga_out_of_band_call_is_not_a_user_turn_and_keeps_its_request(tmp_path: Path) -> None:
    """`conversation: "none"` with `metadata.response_type`, answered by a `response.done`
    with no `conversation_id` key that echoes the metadata: it became a user turn (root
    `turns` +1) starting at its `response.done`, without its instructions or modalities."""
    oob_meta = {"response_type": "out-of-band", "purpose": "summary"}
    events = [
        at(0, type="session.created", session=SESSION),
        *_ga_turn(1, 1),
        at(5, type="response.create", event_id="evt_oob",
           response={"conversation": "none", "metadata": oob_meta,
                     "instructions": "Summarise the call in one line.",
                     "output_modalities": ["text"], "tool_choice": "none"}),
        at(6.5, type="response.done",
           response={"id": "resp_oob", "status": "completed", "metadata": oob_meta,
                     "output": [{"id": "item_sum", "type": "message", "role": "assistant",
                                 "content": [{"type": "output_text", "text": "A short call."}]}],
                     "usage": {"total_tokens": 12, "input_tokens": 8, "output_tokens": 4}}),
    ]  # fmt: skip
    t = convert(tmp_path, events)
    assert metrics(t, t.root)["turns"] == 1  # the caller's one turn, no phantom
    assert len(t.kind("response")) == 2 and len(t.kind("turn")) == 1
    (oob,) = [r for r in t.kind("response") if r["_a"].get("realtime.response.out_of_band")]
    assert t.parent(oob) is t.root  # under the session, never under a turn
    assert int(oob["startTimeUnixNano"]) == ns(5)  # at its response.create, not its done
    assert int(oob["endTimeUnixNano"]) == ns(6.5)
    assert "summary" in str(meta(t, oob))  # the request's metadata
    assert meta(t, oob)["tool_choice"] == "none"  # and what it forced
    assert meta(t, oob)["modalities"] == ["text"]
    prompt = t.json_attr(oob, "braintrust.input_json")
    assert "Summarise the call in one line." in str(prompt)  # the request's instructions
    assert "You are a concierge." not in str(prompt)


def test_a_failure_with_no_logged_error_invents_no_text(tmp_path: Path) -> None:
    """'response failed' / `response_failed` were written where the log holds no error."""
    events = [
        at(0, type="session.created", session=SESSION),
        *_ga_turn(1, 1)[:5],
        at(2.5, type="response.done",
           response={"id": "resp_c1", "status": "failed", "conversation_id": "conv_1",
                     "status_details": {"type": "failed"}}),
    ]  # fmt: skip
    t = convert(tmp_path, events)
    (r,) = t.kind("response")
    assert r["status"]["code"] == 2 and "message" not in r["status"]  # failed, no made-up text
    (exc,) = [e for e in r.get("events", []) if e["name"] == "exception"]
    attrs = {a["key"]: a["value"].get("stringValue") for a in exc["attributes"]}
    assert attrs["exception.type"] == "" and attrs["exception.message"] == ""
    assert "response failed" not in str(t.spans) and "response_failed" not in str(t.spans)


def test_heard_is_the_truncation_point_even_past_a_playback_window(tmp_path: Path) -> None:
    """WebRTC: the playback window (started → cleared) capped `heard_ms` below a logged
    truncation: the banyan barge-in at 4,000 ms showed 2,800 ms heard."""
    import json
    import re

    from conftest import REAL_LOGS

    from pipeline.config import RunConfig
    from pipeline.run import run_convert

    log = REAL_LOGS / "banyan_log1_webrtc_beta_toolcall_bargein.jsonl"
    if not log.exists():
        import pytest

        pytest.skip("../shared/real-logs is not beside this checkout")
    truncations = [
        json.loads(x)["audio_end_ms"]
        for x in log.read_text().splitlines()
        if '"conversation.item.truncated"' in x
    ]
    out = tmp_path / "t.jsonl"
    assert run_convert(RunConfig.to_file(inputs=(str(log),), output=out)).exit_code == 0
    text = out.read_text()
    heard = [float(x) for x in re.findall(r'[^_]heard_ms\\":([0-9.]+)', text)]
    assert (
        sorted(set(heard))
        == sorted(set(float(t) for t in truncations))
        == [0, 20, 1680, 2460, 4000]
    )


def test_ids_come_from_the_log_and_none_are_made_up(tmp_path: Path) -> None:
    """A session id logged beside the events (Azure, LiveKit loggers) keys the session but
    never reached `gen_ai.conversation.id`; GA's `conv_…` and the voice were dropped;
    `turn_id` was synthesised from response ids where no item opened the turn."""
    greeting = {"id": "resp_hello", "status": "completed", "conversation_id": "conv_9",
                "audio": {"output": {"voice": "marin"}},
                "output": [{"id": "item_g", "type": "message", "role": "assistant",
                            "content": [{"type": "output_text", "text": "Hi!"}]}]}  # fmt: skip
    events = [
        {**e, "session_id": "call-42"}
        for e in [
            at(0.5, type="response.created", response={**greeting, "status": "in_progress"}),
            at(0.9, type="response.done", response=greeting),
            *_ga_turn(1, 1),
        ]
    ]
    t = convert(tmp_path, events)
    assert t.root["_a"]["gen_ai.conversation.id"] == "call-42"
    assert meta(t, t.root)["session_id"] == "call-42"
    first, second = t.kind("turn")
    assert "turn_id" not in meta(t, first)  # opened by the greeting: no item, no made-up id
    assert meta(t, second)["turn_id"] == "item_u1"  # the opening item's id, as logged
    hello = next(r for r in t.kind("response") if meta(t, r)["response_id"] == "resp_hello")
    assert meta(t, hello)["conversation_id"] == "conv_9" and meta(t, hello)["voice"] == "marin"


def test_a_transcription_session_misses_no_reply_and_counts_its_tokens(tmp_path: Path) -> None:
    """`session.type: transcription` reported a false start and a turn without latency, and
    its billed transcription tokens were missing from the root total."""
    usage = {"type": "tokens", "total_tokens": 26, "input_tokens": 20, "output_tokens": 6}
    events = [
        at(0, type="session.created",
           session={"type": "transcription", "object": "realtime.transcription_session",
                    "id": "sess_tr", "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}}}),
        at(1, type="input_audio_buffer.speech_started", item_id="item_t1", audio_start_ms=0),
        at(2, type="input_audio_buffer.speech_stopped", item_id="item_t1", audio_end_ms=1000),
        at(2.01, type="input_audio_buffer.committed", item_id="item_t1"),
        at(2.5, type="conversation.item.input_audio_transcription.completed",
           item_id="item_t1", transcript="hello there", usage=usage),
    ]  # fmt: skip
    t = convert(tmp_path, events)
    root = metrics(t, t.root)
    assert root.get("false_starts", 0) == 0 and root.get("turns_without_latency", 0) == 0
    m = meta(t, t.root)
    assert m["session_type"] == "transcription"
    assert (m["total_tokens"], m["input_tokens"], m["output_tokens"]) == (26, 20, 6)


def test_speech_that_never_ended_is_no_false_start(tmp_path: Path) -> None:
    events = [
        at(0, type="session.created", session=SESSION),
        *_ga_turn(1, 1),
        at(4, type="input_audio_buffer.speech_started", item_id="item_u2", audio_start_ms=3000),
    ]  # the log ends while the caller speaks: the VAD never fired speech_stopped
    t = convert(tmp_path, events)
    assert metrics(t, t.root).get("false_starts", 0) == 0


def test_latency_from_the_transcript_when_audio_was_not_logged_and_playback_is_no_ttft(
    tmp_path: Path,
) -> None:
    """A response with its audio transcript logged but no audio bytes got no voice-to-voice
    latency in a session where another response's audio was logged; WebRTC's
    `output_audio_buffer.started` counted as content for TTFT."""
    events = [
        at(0, type="session.created", session=SESSION),
        # turn 1: audio bytes logged (the session has audio)
        *_ga_turn(1, 1)[:5],
        at(2.2, type="response.output_audio.delta", response_id="resp_c1", item_id="item_a1",
           delta="AAAA"),
        at(2.5, type="response.done", response={"id": "resp_c1", "status": "completed",
                                                "conversation_id": "conv_1"}),
        # turn 2: only the transcript of its audio logged
        *_ga_turn(4, 2)[:5],
        at(5.4, type="response.output_audio_transcript.delta", response_id="resp_c2",
           item_id="item_a2", delta="Sure"),
        at(5.9, type="response.done", response={"id": "resp_c2", "status": "completed",
                                                "conversation_id": "conv_1"}),
        # turn 3: WebRTC playback starts before any content
        *_ga_turn(7, 3)[:5],
        at(8.2, type="output_audio_buffer.started", response_id="resp_c3"),
        at(8.6, type="response.output_audio_transcript.delta", response_id="resp_c3",
           item_id="item_a3", delta="Ok"),
        at(9.0, type="response.done", response={"id": "resp_c3", "status": "completed",
                                                "conversation_id": "conv_1"}),
    ]  # fmt: skip
    t = convert(tmp_path, events)
    turns = t.kind("turn")
    latency = [metrics(t, x).get("voice_to_voice_latency") for x in turns]
    assert latency[1] == 0.4  # speech stopped at 5 s, the transcript's first delta at 5.4 s
    assert latency[2] == 0.2  # playback is when the caller heard it: counts for latency
    r3 = t.kind("response")[2]
    # from its start (the commit, 8.01 s) to its first content (8.6 s), not to the playback
    assert round(metrics(t, r3)["time_to_first_token"], 3) == round(8.6 - 8.01, 3)


def test_a_turn_waiting_on_a_tool_that_never_answered_is_incomplete(tmp_path: Path) -> None:
    call = {"id": "item_fc", "type": "function_call", "call_id": "call_1", "name": "lookup",
            "arguments": "{}"}  # fmt: skip
    events = [
        at(0, type="session.created", session=SESSION),
        *_ga_turn(1, 1)[:5],
        at(2.5, type="response.done", response={"id": "resp_c1", "status": "completed",
                                                "conversation_id": "conv_1", "output": [call]}),
    ]  # fmt: skip
    t = convert(tmp_path, events)
    (turn,) = t.kind("turn")
    assert turn["_a"].get("realtrace.incomplete") is True
    assert t.root["_a"].get("realtrace.incomplete") is True


def test_genai_output_of_an_interrupted_reply_is_what_was_heard(tmp_path: Path) -> None:
    """Under `--attributes genai`, an interrupted response's output message held the whole
    generated audio (2,400 ms) with nothing saying it was cut at 1,500 ms."""
    import json

    from conftest import SAMPLES, read_spans

    from pipeline.config import RunConfig
    from pipeline.core.attributes import MappingOptions
    from pipeline.core.conventions import parse_conventions
    from pipeline.run import run_convert

    out = tmp_path / "t.jsonl"
    cfg = RunConfig.to_file(
        (str(SAMPLES / "2025-11-24" / "barge_in_beta.jsonl"),),
        out,
        mapping=MappingOptions(conventions=parse_conventions("genai")),
    )
    assert run_convert(cfg).exit_code == 0
    (cut,) = [s for s in read_spans(out) if "realtrace.output.heard_ms" in s["_a"]]
    assert cut["_a"]["realtrace.output.heard_ms"] == 1500
    (msg,) = json.loads(cut["_a"]["gen_ai.output.messages"])
    assert [p.get("duration_ms") for p in msg["parts"]] == [1500]  # not the 2,400 generated
    assert msg["finish_reason"] in ("stop", "length", "content_filter", "tool_call", "error")


def test_the_report_says_how_many_responses_start_outside_the_log(tmp_path: Path) -> None:
    import json

    import pytest
    from click.testing import CliRunner
    from conftest import REAL_LOGS

    from pipeline.cli import main

    if not REAL_LOGS.is_dir():
        pytest.skip("../shared/real-logs is not beside this checkout")
    doc = tmp_path / "r.json"
    r = CliRunner().invoke(main, ["report", "-i", str(REAL_LOGS), "--json", str(doc), "-q"])
    assert r.exit_code == 0, r.output
    # swooby, bravedigger's tail and the two rtopenai logs begin inside a response
    assert json.loads(doc.read_text())["summary"]["responses_start_not_logged"] == 4
