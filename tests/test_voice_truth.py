"""Voice truth (trace model §6, issue 23): what the caller heard, when, and how long they
waited, point by point, on the samples and on small logs written here. Expected values are
computed from the generator's own events, never from realtrace's output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import SAMPLES, Trace, traces
from test_traces import trace_of, ts_of

from pipeline.config import RunConfig
from pipeline.run import run_convert


def meta(t: Trace, span: dict[str, Any]) -> dict[str, Any]:
    return t.json_attr(span, "braintrust.metadata")


def metrics(t: Trace, span: dict[str, Any]) -> dict[str, Any]:
    return t.json_attr(span, "braintrust.metrics") if "braintrust.metrics" in span["_a"] else {}


def convert(tmp_path: Path, events: list[dict[str, Any]], name: str = "log.jsonl") -> Trace:
    """One flat JSONL log of `events` (each with its `timestamp`), converted: its one trace."""
    logs = tmp_path / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    (logs / name).write_text("".join(json.dumps(e) + "\n" for e in events))
    out = tmp_path / "t.jsonl"
    result = run_convert(RunConfig.to_file(inputs=(str(logs),), output=out))
    assert result.exit_code == 0
    (t,) = traces(out).values()  # also checks every shape invariant
    return t


def at(seconds: float, **event: Any) -> dict[str, Any]:
    return {"timestamp": f"2025-11-24T10:00:{seconds:06.3f}Z", **event}


# -- 1. response lifecycle ----------------------------------------------------------------


def test_the_client_cancel_is_an_event_on_the_cancelled_response(sample_run: Path) -> None:
    t, s = trace_of(sample_run, "phone")
    cancelled = t.kind("response")[-1]
    m = meta(t, cancelled)
    assert (m["status"], m["cancelled_by"], m["status_reason"]) == (
        "cancelled",
        "client",
        "client_cancelled",
    )
    (event,) = cancelled["events"]
    assert event["name"] == "realtime.response.cancel"
    assert int(event["timeUnixNano"]) == ts_of(s, "response.cancel")[0]
    assert "status" not in cancelled  # a cancel is not an error
    # it started at the client's request, not at response.created
    assert int(cancelled["startTimeUnixNano"]) == ts_of(s, "response.create")[-1]
    assert t.json_attr(cancelled, "braintrust.output_json") == {
        "status": "cancelled",
        "content": [],
    }


def test_a_failed_response_is_an_error_and_the_only_terminal_state_that_is(
    sample_run: Path,
) -> None:
    for name in ("errors", "barge_in", "phone", "voice"):
        t, _ = trace_of(sample_run, name)
        for r in t.kind("response"):
            failed = meta(t, r).get("status") == "failed"
            assert (r.get("status", {}).get("code") == 2) is failed
            assert t.json_attr(r, "braintrust.output_json")["status"] == meta(t, r)["status"]


# -- 2. what was delivered and heard ------------------------------------------------------


def test_a_truncated_item_keeps_its_words_in_its_output_and_is_heard_audio_after(
    sample_run: Path,
) -> None:
    t, s = trace_of(sample_run, "barge_in")
    cut, answer = t.kind("response")
    (said,) = t.json_attr(cut, "braintrust.output_json")["content"]
    truncate = next(ev for _, _, ev in s.events if ev["type"] == "conversation.item.truncated")
    assert said["transcript"].startswith("Once upon a time")
    assert said["truncated_at_ms"] == said["heard_ms"] == truncate["audio_end_ms"]
    heard = {"role": "assistant", "content": [{"type": "audio", "audio": {"format": "pcm16", "duration_ms": 1500}}]}  # fmt: skip
    prompt = t.json_attr(answer, "braintrust.input_json")
    assert heard in prompt and not any("Once upon" in json.dumps(m) for m in prompt)
    turn = t.parent(cut)
    assert t.json_attr(turn, "braintrust.output_json") == [heard]
    assert heard in meta(t, t.root)["conversation_history"]
    assert "Once upon" not in t.root["_a"]["braintrust.output_json"]


# -- 3. latency you can act on ------------------------------------------------------------


def test_voice_latency_runs_to_the_first_audio_of_any_response_of_the_turn(
    sample_run: Path,
) -> None:
    for name in ("app", "tools"):  # turns that open with a function call
        t, s = trace_of(sample_run, name)
        stopped = ts_of(s, "input_audio_buffer.speech_stopped")
        audio = ts_of(s, "response.output_audio.delta")
        for turn, end in zip(t.kind("turn"), stopped, strict=True):
            first = min(a for a in audio if a > end)
            latency = metrics(t, turn)["voice_to_voice_latency"]
            assert latency == pytest.approx((first - end) / 1e9, abs=1e-6)
            # the wait for the tool is its own figure: from the call's arguments to its output
            tools = [c for c in t.children(turn) if c["_a"]["realtrace.kind"] == "tool"]
            wait = sum(int(x["endTimeUnixNano"]) - int(x["startTimeUnixNano"]) for x in tools)
            assert metrics(t, turn).get("tool_time") == (
                pytest.approx(wait / 1e9, abs=1e-6) if tools else None
            )
        latencies = sorted(metrics(t, turn)["voice_to_voice_latency"] for turn in t.kind("turn"))
        rm = metrics(t, t.root)
        assert rm["voice_to_voice_latency_p95"] == pytest.approx(latencies[-1], abs=1e-6)
        assert rm["turns_without_latency"] == 0
    t, _ = trace_of(sample_run, "app")
    assert metrics(t, t.kind("turn")[0])["voice_to_voice_latency"] > 1.8  # the slow turn counts


def test_time_to_first_token_counts_function_call_arguments(sample_run: Path) -> None:
    t, s = trace_of(sample_run, "tools")
    for r in t.kind("response"):
        rid = r["_a"]["gen_ai.response.id"]
        first = min(
            ts
            for ts, _, ev in s.events
            if ev["type"].endswith(".delta") and ev.get("response_id") == rid
        )
        start = int(r["startTimeUnixNano"])
        assert metrics(t, r)["time_to_first_token"] == pytest.approx((first - start) / 1e9)


# -- 4. interruptions, counted right; false starts ---------------------------------------


def test_a_user_input_nothing_answered_is_a_false_start(tmp_path: Path) -> None:
    events = [
        at(0, type="session.created", session={"id": "sess_fs", "model": "gpt-realtime"}),
        at(1, type="input_audio_buffer.speech_started", item_id="i1", audio_start_ms=100),
        at(1.4, type="input_audio_buffer.speech_stopped", item_id="i1", audio_end_ms=500),
        at(1.5, type="input_audio_buffer.committed", item_id="i1"),
        at(2, type="input_audio_buffer.speech_started", item_id="i2", audio_start_ms=1100),
        at(3, type="input_audio_buffer.speech_stopped", item_id="i2", audio_end_ms=2100),
        at(3.1, type="input_audio_buffer.committed", item_id="i2"),
        at(3.2, type="response.created", response={"id": "r1"}),
        at(3.5, type="response.output_audio.delta", response_id="r1", item_id="o1", delta="AAAA"),
        at(4, type="response.done", response={"id": "r1", "status": "completed"}),
    ]
    t = convert(tmp_path, events)
    rm = metrics(t, t.root)
    assert rm["false_starts"] == 1 and rm["turns_without_latency"] == 1
    assert rm["interruptions"] == rm["cancelled_responses"] == 0


# -- 5. out-of-band responses --------------------------------------------------------------


def test_out_of_band_responses_take_their_own_prompt_and_modalities(sample_run: Path) -> None:
    t, s = trace_of(sample_run, "phone")
    (oob,) = [r for r in t.kind("response") if t.parent(r) is t.root]
    request = next(
        ev["response"]
        for _, _, ev in s.events
        if ev["type"] == "response.create" and ev["response"].get("conversation") == "none"
    )
    prompt = t.json_attr(oob, "braintrust.input_json")
    assert prompt[0] == {"role": "system", "content": request["instructions"]}
    # its own input: the one item it references, not the whole conversation
    assert prompt[1:] == [{"role": "user", "content": "Hi, where is my order?"}]
    assert oob["_a"]["gen_ai.output.type"] == "text"
    assert meta(t, oob)["modalities"] == ["text"]


# -- 6. unknown stays unknown --------------------------------------------------------------


def test_a_phone_call_with_no_format_logged_gets_no_format_and_no_byte_durations(
    sample_run: Path,
) -> None:
    t, _ = trace_of(sample_run, "phone")
    text = json.dumps([s["_a"] for s in t.spans])
    assert "pcm16" not in text and "audio/pcm" not in text
    rm = metrics(t, t.root)
    assert rm["audio_input_ms"] == 3000  # from the VAD offsets, not from G.711 bytes as PCM
    assert "audio_output_ms" not in rm  # 8 kHz bytes read as 24 kHz PCM would invent one
    assert "input_audio_format" not in meta(t, t.root)


def test_a_truncation_without_its_offset_invents_none(tmp_path: Path) -> None:
    events = [
        at(0, type="session.created", session={"id": "sess_tr", "model": "gpt-realtime"}),
        at(1, type="response.created", response={"id": "r1"}),
        at(1.2, type="output_audio_buffer.started", response_id="r1"),
        at(
            1.3,
            type="response.output_audio_transcript.delta",
            response_id="r1",
            item_id="o1",
            delta="Hello there",
        ),
        at(2, type="response.done", response={"id": "r1", "status": "completed"}),
        at(2.5, type="conversation.item.truncated", item_id="o1"),
    ]
    t = convert(tmp_path, events)
    (r,) = t.kind("response")
    assert meta(t, r)["status"] == "interrupted" and "truncated_at_ms" not in meta(t, r)
    (event,) = [e for s in t.spans for e in s.get("events", [])]
    assert [a["key"] for a in event["attributes"]] == ["item_id", "realtrace.span_key"]


# -- 8. Braintrust's canonical metrics and tool definitions -------------------------------


def test_llm_spans_carry_canonical_metrics_model_provider_and_changed_tools(
    sample_run: Path,
) -> None:
    canonical = {
        "tokens",
        "prompt_tokens",
        "completion_tokens",
        "prompt_cached_tokens",
        "prompt_audio_tokens",
        "completion_audio_tokens",
        "time_to_first_token",
        "audio_output_ms",
    }
    t, s = trace_of(sample_run, "voice")
    responses = t.kind("response")
    for r in responses:
        assert set(metrics(t, r)) <= canonical
        assert meta(t, r)["model"] == "gpt-realtime" and meta(t, r)["provider"] == "openai"
    tools = next(ev for _, _, ev in s.events if ev["type"] == "session.created")["session"]["tools"]
    assert meta(t, responses[0])["tools"] == tools  # the first response: the set in force
    assert all("tools" not in meta(t, r) for r in responses[1:])  # unchanged since


# -- 9. transcription spans -----------------------------------------------------------------


def test_each_transcribed_item_is_a_transcription_llm_span_under_its_input(
    sample_run: Path,
) -> None:
    t, s = trace_of(sample_run, "voice")
    done = [ev for _, _, ev in s.events if ev["type"].endswith("transcription.completed")]
    spans = t.kind("transcription")
    assert len(spans) == len(done) == 3
    for span, ev in zip(spans, done, strict=True):
        assert t.parent(span)["_a"]["realtime.item_id"] == ev["item_id"]
        assert span["name"] == "transcription gpt-4o-transcribe" and span["kind"] == 3
        assert json.loads(span["_a"]["braintrust.span_attributes"])["type"] == "llm"
        m = metrics(t, span)
        assert (m["prompt_tokens"], m["completion_tokens"], m["tokens"]) == (
            ev["usage"]["input_tokens"],
            ev["usage"]["output_tokens"],
            ev["usage"]["total_tokens"],
        )
        assert t.json_attr(span, "braintrust.output_json") == [
            {"role": "assistant", "content": ev["transcript"]}
        ]
        assert "transcription_usage" not in json.dumps(t.parent(span)["_a"])  # counted once
    e, _ = trace_of(sample_run, "errors")
    (failed,) = [x for x in e.kind("transcription") if x.get("status")]
    assert failed["status"]["code"] == 2


# -- 10. stable names and ids ------------------------------------------------------------


def test_turns_have_one_name_and_their_place_in_metadata(sample_run: Path) -> None:
    t, _ = trace_of(sample_run, "voice")
    turns = t.kind("turn")
    assert {x["name"] for x in turns} == {"turn"}
    assert [meta(t, x)["turn_index"] for x in turns] == [1, 2, 3, 4]
    # turn_id: the opening user item's id, as logged; the greeting's turn has none (§7)
    ids = [meta(t, x).get("turn_id") for x in turns]
    assert ids[0] is None and len(set(ids[1:])) == 3 and all(i.startswith("item_") for i in ids[1:])
    a, _ = trace_of(sample_run, "app")
    for tool in a.kind("tool"):
        assert meta(a, tool)["tool_call_id"] == tool["_a"]["gen_ai.tool.call.id"]
    b, _ = trace_of(sample_run, "barge_in")
    assert "interrupted" in b.root["_a"]["braintrust.tags"]
    c, _ = trace_of(sample_run, "cut_off")
    assert "incomplete" in c.root["_a"]["braintrust.tags"]


# -- 11. errors -------------------------------------------------------------------------


def test_the_root_fails_only_when_the_session_ends_on_an_error(tmp_path: Path) -> None:
    error = {"type": "server_error", "message": "The server had an error", "event_id": None}
    events = [
        at(0, type="session.created", session={"id": "sess_er", "model": "gpt-realtime"}),
        at(1, type="error", event_id="e1", error=error),
        at(2, type="response.created", response={"id": "r1"}),
        at(3, type="response.done", response={"id": "r1", "status": "completed"}),
    ]
    t = convert(tmp_path, events)
    assert "status" not in t.root and metrics(t, t.root)["errors"] == 1
    assert [e["name"] for e in t.root["events"]] == ["exception"]
    ended = convert(tmp_path / "2", [*events, at(4, type="error", event_id="e2", error=error)])
    assert ended.root["status"]["code"] == 2 and "error" in ended.root["_a"]["braintrust.tags"]


# -- 12. tool spans only for observed executions ------------------------------------------


def test_a_tool_result_inside_response_create_is_the_tools_output(sample_run: Path) -> None:
    t, s = trace_of(sample_run, "phone")
    (tool,) = t.kind("tool")
    request = next(
        ev["response"]
        for _, _, ev in s.events
        if ev["type"] == "response.create" and ev["response"].get("input")
    )
    (given,) = request["input"]
    assert "realtrace.incomplete" not in tool["_a"]
    assert t.json_attr(tool, "braintrust.output_json") == json.loads(given["output"])
    assert int(tool["endTimeUnixNano"]) == ts_of(s, "response.create")[0]


# -- 13. reconstruction gaps ---------------------------------------------------------------


def test_done_events_logged_before_response_created_stay_out_of_its_input(
    sample_run: Path,
) -> None:
    t, s = trace_of(sample_run, "phone")
    answer = t.kind("response")[1]
    said = "Your order A-1001 has shipped and arrives tomorrow."
    assert t.json_attr(answer, "braintrust.output_json")["content"][0]["transcript"] == said
    assert said not in answer["_a"]["braintrust.input_json"]
    rid = answer["_a"]["gen_ai.response.id"]
    created = [ts for ts, _, ev in s.events if ev["type"] == "response.created" and ev["response"]["id"] == rid]  # fmt: skip
    order = [ev for _, _, ev in s.events]
    logged = [i for i, ev in enumerate(order) if ev.get("response_id") == rid]
    opened = next(i for i, ev in enumerate(order) if ev.get("response", {}).get("id") == rid)
    assert min(logged) < opened  # the sample really logs its done events first
    assert int(answer["startTimeUnixNano"]) < created[0]  # its request, earliest of all


def test_session_updated_keys_a_log_without_session_created(tmp_path: Path) -> None:
    events = [
        at(0, type="session.updated", session={"id": "sess_upd", "model": "gpt-realtime"}),
        at(1, type="response.created", response={"id": "r1"}),
        at(2, type="response.done", response={"id": "r1", "status": "completed"}),
    ]
    t = convert(tmp_path, events)
    assert t.root["_a"]["realtrace.session_key"] == "sess_upd"


def test_the_same_log_twice_is_one_session_with_its_copies_counted(tmp_path: Path) -> None:
    import gzip
    import shutil

    logs = tmp_path / "logs"
    logs.mkdir()
    voice = SAMPLES / "2025-11-24" / "voice_ga.jsonl"
    shutil.copy(voice, logs / "voice.jsonl")
    (logs / "voice.jsonl.gz").write_bytes(gzip.compress(voice.read_bytes()))
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    run_convert(RunConfig.to_file(inputs=(str(voice),), output=one))
    both = run_convert(RunConfig.to_file(inputs=(str(logs),), output=two))
    assert both.stats.duplicate_events == len(voice.read_text().splitlines())
    (a,), (b,) = traces(one).values(), traces(two).values()
    lines = len(voice.read_text().splitlines())
    assert meta(b, b.root)["duplicate_events"] == lines
    assert b.root["_a"]["realtrace.events"] == a.root["_a"]["realtrace.events"] == lines
    for x, y in zip(a.spans, b.spans, strict=True):  # the same trace, audio included
        assert (x["spanId"], x.get("_a", {}).get("braintrust.metrics")) == (
            y["spanId"],
            y.get("_a", {}).get("braintrust.metrics"),
        )


def test_the_invariant_checker_holds_on_the_golden_file_itself() -> None:
    from conftest import read_spans
    from invariants import problems

    golden = Path(__file__).parent / "golden" / "sample_logs.otlp.jsonl"
    spans = read_spans(golden)
    assert len(spans) > 90 and problems(spans) == []
    # and it fails on what §6 forbids: a model attribute on a tool span, a numbered turn
    tool = next(s for s in spans if s["_a"]["realtrace.kind"] == "tool")
    tool["_a"]["gen_ai.request.model"] = "gpt-realtime"
    turn = next(s for s in spans if s["_a"]["realtrace.kind"] == "turn")
    turn["name"] = "turn 2"
    found = problems(spans)
    assert any("model attributes on a tool span" in p for p in found)
    assert any("ordinal" in p for p in found)


def test_runs_of_deltas_build_each_item_and_stop_at_the_response_end(tmp_path: Path) -> None:
    """Text deltas take the replay's fast path (their four fields, and the previous delta's
    response and item): interleaved items, a copy of a delta, a delta after the response
    ended and one for an item made anew must read as the long way reads them."""

    def delta(s: float, kind: str, item: str, text: str, eid: str) -> dict[str, Any]:
        kinds = {
            "audio": "response.output_audio_transcript.delta",
            "text": "response.output_text.delta",
        }
        return at(s, type=kinds[kind], response_id="r1", item_id=item, delta=text, event_id=eid)

    def added(s: float, item: str) -> dict[str, Any]:
        msg = {"id": item, "type": "message", "role": "assistant"}
        return at(s, type="response.output_item.added", response_id="r1", item=msg)

    t = convert(
        tmp_path,
        [
            at(1.0, type="session.created", session={"id": "sess_d"}),
            at(1.1, type="response.created", response={"id": "r1"}),
            added(1.2, "a"),
            delta(1.3, "audio", "a", "Hel", "e1"),
            delta(1.4, "audio", "a", "lo", "e2"),
            delta(1.4, "audio", "a", "lo", "e2"),  # the same event logged twice
            added(1.45, "b"),
            delta(1.5, "text", "b", "x", "e3"),
            delta(1.6, "audio", "a", " world", "e4"),
            at(1.7, type="response.done", response={"id": "r1", "status": "completed"}),
            delta(1.8, "audio", "a", "!!", "e5"),  # after the end: not delivered
        ],
    )
    (resp,) = t.kind("response")
    out = t.json_attr(resp, "braintrust.output_json")
    assert out["content"] == [
        {"type": "audio", "transcript": "Hello world"},
        {"type": "text", "text": "x"},
    ]
    assert meta(t, t.root)["duplicate_events"] == 1
    assert t.root["_a"]["realtrace.events"] == 10  # 11 lines, one copy
    # from the response's start (response.created, 1.1 s) to its first delta (1.3 s)
    assert resp["_a"]["gen_ai.response.time_to_first_chunk"] == pytest.approx(0.2)
