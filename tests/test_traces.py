"""End-to-end: sample_logs/ → OTLP JSON file; assertions on the decoded span trees."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import SAMPLES, Trace, read_spans, traces
from gen_logs import T0, build_session

from pipeline.config import RunConfig
from pipeline.core.attributes import MappingOptions
from pipeline.encode import request_from_json
from pipeline.run import run_convert

# (scenario, seed, ga, hour offset) exactly as write_samples() builds them
PLAN = {
    "voice": (11, True, 0),
    "tools": (12, True, 1),
    "barge_in": (13, False, 2),
    "text": (14, False, 3),
    "errors": (15, True, 4),
    "cut_off": (16, False, 5),
    "webrtc": (17, True, 6),
    "app": (18, True, 7),
    "phone": (19, True, 8),
}


def source(name: str) -> Any:
    seed, ga, hour = PLAN[name]
    return build_session(name, seed, ga, T0 + hour * 3_600_000_000_000)


def trace_of(path: Path, name: str) -> tuple[Trace, Any]:
    s = source(name)
    return traces(path)[s.session_id], s


def ts_of(s: Any, etype: str, **match: Any) -> list[int]:
    return [
        ts
        for ts, _, ev in s.events
        if ev["type"] == etype and all(ev.get(k) == v for k, v in match.items())
    ]


def test_every_sample_session_becomes_one_trace(sample_run: Path) -> None:
    got = traces(sample_run)
    assert set(got) == {source(n).session_id for n in PLAN}
    for t in got.values():
        ids = {s["traceId"] for s in t.spans}
        assert len(ids) == 1
        for s in t.spans:
            if s.get("parentSpanId"):
                assert s["parentSpanId"] in t.by_id, "dangling parent"
        assert t.root["_a"]["realtrace.kind"] == "session"
        assert t.root["name"] == "realtime_session"


def test_voice_session_tree_and_times(sample_run: Path) -> None:
    t, s = trace_of(sample_run, "voice")
    turns = t.kind("turn")
    assert [[c["_a"]["realtrace.kind"] for c in t.children(turn)] for turn in turns] == [
        ["response"],
        ["user_input", "response"],
        ["user_input", "response"],
        ["user_input", "response"],
    ]
    assert all(t.parent(turn) is t.root for turn in turns)
    assert int(t.root["startTimeUnixNano"]) == s.events[0][0]
    assert int(t.root["endTimeUnixNano"]) == s.events[-1][0]
    asked = ts_of(s, "response.create") + ts_of(s, "input_audio_buffer.committed")
    for resp in t.kind("response"):
        rid = resp["_a"]["gen_ai.response.id"]
        created = [
            ts
            for ts, _, ev in s.events
            if ev["type"] == "response.created" and ev["response"]["id"] == rid
        ]
        done = [
            ts
            for ts, _, ev in s.events
            if ev["type"] == "response.done" and ev["response"]["id"] == rid
        ]
        # trace model §6: from the client's request, else the commit the server answers
        start = max(t for t in asked if t <= created[0])
        assert int(resp["startTimeUnixNano"]) == start
        assert resp["_a"]["realtime.response.created_unix_nano"] == created[0]
        assert int(resp["endTimeUnixNano"]) == done[0]
        first_delta = min(
            ts
            for ts, _, ev in s.events
            if ev["type"].endswith(".delta") and ev.get("response_id") == rid
        )
        ttft = t.json_attr(resp, "braintrust.metrics")["time_to_first_token"]
        assert ttft == pytest.approx((first_delta - start) / 1e9, abs=1e-9)
        assert resp["name"] == "chat gpt-realtime"
        assert resp["_a"]["gen_ai.operation.name"] == "chat"
        assert json.loads(resp["_a"]["braintrust.span_attributes"])["type"] == "llm"
    # the input stream's clock: the append logged at T carries the audio that ends at T
    appends = [
        (ts, len(base64.b64decode(ev["audio"])))
        for ts, _, ev in s.events
        if ev["type"] == "input_audio_buffer.append"
    ]

    def wall(offset_ms: float) -> int:
        sent = 0
        for ts, size in appends:
            sent += size
            if sent * 1000 / 48_000 >= offset_ms:  # pcm16 at 24 kHz
                return ts - round((sent * 1000 / 48_000 - offset_ms) * 1e6)
        raise AssertionError(f"no audio at {offset_ms} ms")

    for ui in t.kind("user_input"):
        item = ui["_a"]["realtime.item_id"]
        # the span starts when the speech did on the audio clock; the VAD's events keep
        # their own (later) times as span events
        started = ts_of(s, "input_audio_buffer.speech_started", item_id=item)[0]
        assert int(ui["startTimeUnixNano"]) == wall(ui["_a"]["realtime.audio_start_ms"]) < started
        assert ui["_a"]["realtrace.speech.end_unix_nano"] == wall(ui["_a"]["realtime.audio_end_ms"])
        assert ("input_audio_buffer.speech_started", started) in [
            (e["name"], int(e["timeUnixNano"])) for e in ui["events"]
        ]
        assert ui["_a"]["realtime.audio_end_ms"] > ui["_a"]["realtime.audio_start_ms"]
        transcript = [
            ev["transcript"]
            for _, _, ev in s.events
            if ev["type"].endswith("transcription.completed") and ev["item_id"] == item
        ]
        # Braintrust's voice integrations log what the user said as the span's input
        assert json.loads(ui["_a"]["braintrust.input_json"]) == transcript[0]
        assert "braintrust.output_json" not in ui["_a"]


def test_token_usage_equals_response_done(sample_run: Path) -> None:
    total_in = 0
    for name in PLAN:
        t, s = trace_of(sample_run, name)
        usage = {
            ev["response"]["id"]: ev["response"]["usage"]
            for _, _, ev in s.events
            if ev["type"] == "response.done"
        }
        for resp in t.kind("response"):
            u = usage.get(resp["_a"]["gen_ai.response.id"])
            if u is None:
                assert "gen_ai.usage.input_tokens" not in resp["_a"]
                continue
            assert resp["_a"]["gen_ai.usage.input_tokens"] == u["input_tokens"]
            assert resp["_a"]["gen_ai.usage.output_tokens"] == u["output_tokens"]
            assert (
                resp["_a"]["gen_ai.usage.cache_read.input_tokens"]
                == u["input_token_details"]["cached_tokens"]
            )
            m = t.json_attr(resp, "braintrust.metrics")
            assert (m["prompt_tokens"], m["completion_tokens"], m["tokens"]) == (
                u["input_tokens"],
                u["output_tokens"],
                u["total_tokens"],
            )
        # Braintrust sums token metrics over a trace: the root must not repeat them
        root_m = t.json_attr(t.root, "braintrust.metrics")
        assert not {"prompt_tokens", "completion_tokens", "tokens"} & set(root_m)
        root_meta = t.json_attr(t.root, "braintrust.metadata")
        if not any(usage.values()):
            assert "input_tokens" not in root_meta
            continue
        # the root's totals: every billed call, transcriptions included (one figure, §7)
        billed = list(usage.values()) + [
            ev["usage"]
            for _, _, ev in s.events
            if ev["type"] == "conversation.item.input_audio_transcription.completed"
            and isinstance(ev.get("usage"), dict)
            and "total_tokens" in ev["usage"]
        ]
        assert root_meta["input_tokens"] == sum(u["input_tokens"] for u in billed)
        assert root_meta["output_tokens"] == sum(u["output_tokens"] for u in billed)
        assert root_meta["total_tokens"] == sum(u["total_tokens"] for u in billed)
        total_in += root_meta["input_tokens"]
    assert total_in > 0


def test_tool_calls_are_tool_spans_with_arguments_and_output(sample_run: Path) -> None:
    t, s = trace_of(sample_run, "tools")
    tools = t.kind("tool")
    assert [x["name"] for x in tools] == ["execute_tool get_weather", "execute_tool book_table"]
    for tool in tools:
        a = tool["_a"]
        assert t.parent(tool)["_a"]["realtrace.kind"] == "turn"
        assert a["gen_ai.operation.name"] == "execute_tool"
        call = a["gen_ai.tool.call.id"]
        assert (
            int(tool["startTimeUnixNano"])
            == ts_of(s, "response.function_call_arguments.done", call_id=call)[0]
        )
        out_ts = [
            ts
            for ts, d, ev in s.events
            if d == "client"
            and ev["type"] == "conversation.item.create"
            and ev["item"].get("call_id") == call
        ]
        assert int(tool["endTimeUnixNano"]) == out_ts[0]
        assert json.loads(tool["_a"]["braintrust.span_attributes"])["type"] == "tool"
    assert t.json_attr(tools[0], "braintrust.input_json") == {"city": "Paris"}
    assert t.json_attr(tools[0], "braintrust.output_json") == {"temp_c": 14, "conditions": "cloudy"}
    # the response after the tool output belongs to the same turn and saw the tool result
    turn1 = t.kind("turn")[0]
    kinds = [c["_a"]["realtrace.kind"] for c in t.children(turn1)]
    assert kinds == ["user_input", "response", "tool", "response"]
    follow_up = t.children(turn1)[3]
    prompt = t.json_attr(follow_up, "braintrust.input_json")
    assert prompt[0]["role"] == "system"
    assert prompt[-1] == {
        "role": "tool",
        "tool_call_id": tools[0]["_a"]["gen_ai.tool.call.id"],
        "content": '{"temp_c": 14, "conditions": "cloudy"}',
    }
    assert t.kind("response")[0]["_a"]["gen_ai.response.finish_reasons"] == ["tool_call"]


def test_cut_off_session_is_exported_and_flagged(sample_run: Path) -> None:
    t, s = trace_of(sample_run, "cut_off")
    assert t.root["_a"]["realtrace.incomplete"] is True
    resp = t.kind("response")[0]
    assert resp["_a"]["realtrace.incomplete"] is True
    assert int(resp["endTimeUnixNano"]) == s.events[-1][0]
    assert t.kind("turn")[0]["_a"]["realtrace.incomplete"] is True
    out = t.json_attr(resp, "braintrust.output_json")
    assert out["status"] == "in_progress"  # no terminal event was logged
    assert out["content"][0]["transcript"].startswith("Once upon a time")  # from the deltas
    assert "realtrace.incomplete" not in t.kind("user_input")[0]["_a"]


def test_errors_become_exception_events_and_error_status(sample_run: Path) -> None:
    t, s = trace_of(sample_run, "errors")
    errored = [x for x in t.spans if x.get("status", {}).get("code") == 2]
    assert len(errored) == 3
    # the `error` event names the client event it answers: it lands on that span
    bad = next(ev for _, d, ev in s.events if ev["type"] == "error")
    first_input = t.kind("user_input")[0]
    assert first_input["status"]["message"] == bad["error"]["message"]
    # the error came after the (zero-length) input span and its turn: its event goes on the
    # root, the one span that contains it; the input keeps the ERROR status
    assert "events" not in first_input and "events" not in t.parent(first_input)
    exc = t.root["events"][0]
    ea = {a["key"]: a["value"]["stringValue"] for a in exc["attributes"]}
    assert ea["realtrace.span_key"] == f"input:{first_input['_a']['realtime.item_id']}"
    assert exc["name"] == "exception"
    assert ea["exception.type"] == "invalid_request_error"
    assert ea["realtime.error.code"] == "invalid_value"
    assert (
        int(exc["timeUnixNano"]) == ts_of(s, "error")[0] // 1000 * 1000
    )  # this sample logs microseconds
    failed = t.kind("response")[0]
    assert failed["status"]["code"] == 2 and "server had an error" in failed["status"]["message"]
    assert t.json_attr(t.root, "braintrust.metrics")["errors"] == 3


def test_barge_in_cancelled_response_is_not_an_error(sample_run: Path) -> None:
    t, _ = trace_of(sample_run, "barge_in")
    first = t.kind("response")[0]
    assert "status" not in first or first["status"].get("code", 0) != 2
    meta = t.json_attr(first, "braintrust.metadata")
    # its delivered audio was cut: interrupted (the provider said cancelled, turn_detected)
    assert meta["status"] == "interrupted" and meta["provider_status"] == "cancelled"
    assert meta["status_reason"] == "turn_detected"
    assert meta["truncated_at_ms"] == 1500
    # the truncation came after response.done: recorded where it fits, the response keeps it
    # in metadata, and the turn says it was interrupted
    turn = t.parent(first)
    assert turn["_a"]["realtime.turn.interrupted"] is True
    events = [e for s in (first, turn, t.root) for e in s.get("events", [])]
    assert [e["name"] for e in events] == ["realtime.truncated"]
    assert first["_a"]["gen_ai.response.finish_reasons"] == ["stop"]
    assert first["_a"]["realtime.response.status"] == "cancelled"
    assert first["name"] == "chat gpt-4o-realtime-preview-2024-12-17"


def test_text_session_from_parquet(sample_run: Path) -> None:
    t, _ = trace_of(sample_run, "text")
    inputs = t.kind("user_input")
    assert [json.loads(i["_a"]["braintrust.input_json"]) for i in inputs] == [
        "What time is it in Tokyo right now?",
        "Thanks, that's all for today.",
    ]
    meta = t.json_attr(t.root, "braintrust.metadata")
    assert meta["user_id"] == "u_1042"
    assert [m["role"] for m in meta["conversation_history"]] == [
        "user",
        "assistant",
        "user",
        "assistant",
    ]
    assert t.root["_a"]["braintrust.tags"] == ["realtime", "gpt-4o-realtime-preview-2024-12-17"]


def test_audio_durations_from_payload_lengths(sample_run: Path) -> None:
    t, s = trace_of(sample_run, "voice")
    import base64

    appended = sum(
        len(base64.b64decode(ev["audio"]))
        for _, _, ev in s.events
        if ev["type"] == "input_audio_buffer.append"
    )
    out_bytes = sum(
        len(base64.b64decode(ev["delta"]))
        for _, _, ev in s.events
        if ev["type"] == "response.output_audio.delta"
    )
    m = t.json_attr(t.root, "braintrust.metrics")
    assert m["audio_input_ms"] == pytest.approx(appended / 48, abs=0.01)
    assert m["audio_output_ms"] == pytest.approx(out_bytes / 48, abs=0.01)
    raw = sample_run.read_text()
    some_audio = next(
        ev["delta"] for _, _, ev in s.events if ev["type"] == "response.output_audio.delta"
    )
    assert some_audio[:64] not in raw, "audio payloads must never be exported"


def test_ids_are_deterministic(tmp_path: Path, sample_run: Path) -> None:
    """The same session gets the same ids whatever else is converted with it, from which
    file and in which run: a re-run replaces spans instead of duplicating them."""
    out2 = tmp_path / "again.jsonl"
    run_convert(RunConfig.to_file(inputs=(str(SAMPLES),), output=out2))
    ids1 = sorted(
        (s["traceId"], s["spanId"], s.get("parentSpanId", "")) for s in read_spans(sample_run)
    )
    ids2 = sorted((s["traceId"], s["spanId"], s.get("parentSpanId", "")) for s in read_spans(out2))
    assert ids1 == ids2 and len(ids1) == len({i[1] for i in ids1})
    t, _ = trace_of(sample_run, "voice")
    moved = tmp_path / "elsewhere" / "renamed.jsonl"  # the session alone, in another file
    moved.parent.mkdir()
    moved.write_bytes((SAMPLES / "2025-11-24" / "voice_ga.jsonl").read_bytes())
    alone = tmp_path / "alone.jsonl"
    run_convert(RunConfig.to_file(inputs=(str(moved),), output=alone))
    assert {(x["traceId"], x["spanId"]) for x in read_spans(alone)} == {
        (x["traceId"], x["spanId"]) for x in t.spans
    }
    # pinned: a change of id derivation would re-send every delivered session as new traces
    assert (t.root["traceId"], t.root["spanId"]) == (
        "9ec65b1774c28597141dc28bc878950b",
        "c9d44f785e46456b",
    )


def test_output_follows_otlp_json_encoding(sample_run: Path) -> None:
    for line in sample_run.read_text().splitlines():
        doc = json.loads(line)
        req = request_from_json(line)  # round-trips through the protobuf message
        assert req.resource_spans[0].scope_spans[0].scope.name == "realtrace"
        for span in doc["resourceSpans"][0]["scopeSpans"][0]["spans"]:
            assert re.fullmatch(r"[0-9a-f]{32}", span["traceId"])
            assert re.fullmatch(r"[0-9a-f]{16}", span["spanId"])
            assert (
                isinstance(span["startTimeUnixNano"], str) and span["startTimeUnixNano"].isdigit()
            )
            # model calls are CLIENT (GenAI conventions); the rest INTERNAL
            kind = 3 if span["name"].startswith(("chat", "transcription")) else 1
            assert span["kind"] == kind
            assert int(span["endTimeUnixNano"]) >= int(span["startTimeUnixNano"])
            for a in span["attributes"]:
                if "intValue" in a["value"]:
                    assert isinstance(a["value"]["intValue"], str)
            if span.get("status"):
                assert span["status"]["code"] == 2


def test_braintrust_json_attributes_are_valid_json(sample_run: Path) -> None:
    from invariants import problems  # valid JSON, Braintrust span types, the shape

    spans = read_spans(sample_run)
    assert problems(spans) == []
    for s in spans:  # model attributes on model spans only (trace model §6)
        model_span = s["_a"]["realtrace.kind"] in ("response", "transcription")
        assert ("gen_ai.provider.name" in s["_a"]) == model_span


def test_max_history_caps_response_input(tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl"
    run_convert(
        RunConfig.to_file(
            inputs=(str(SAMPLES / "2025-11-24" / "voice_ga.jsonl"),),
            output=out,
            mapping=MappingOptions(max_history=2),
        )
    )
    (t,) = traces(out).values()
    last = t.kind("response")[-1]
    prompt = t.json_attr(last, "braintrust.input_json")
    assert prompt[1]["content"].startswith("[realtrace: ") and "omitted" in prompt[1]["content"]
    assert len(prompt) == 4
    assert (
        len(t.json_attr(t.root, "braintrust.metadata")["conversation_history"]) == 7
    )  # greeting + 3 user/assistant pairs


def test_fast_json_encoder_matches_protobuf_generic_mapping(sample_run: Path) -> None:
    from google.protobuf.json_format import MessageToDict

    from pipeline.encode import json_line, request_to_json

    def request_to_json_generic(request: Any) -> str:
        """protobuf's generic JSON mapping, ids as hex: the oracle for the fast writer."""
        doc = MessageToDict(request, use_integers_for_enums=True)
        for rs in doc.get("resourceSpans", []):
            for ss in rs.get("scopeSpans", []):
                for span in ss.get("spans", []):
                    for f in ("traceId", "spanId", "parentSpanId"):
                        if f in span:
                            span[f] = base64.b64decode(span[f]).hex()
        return json_line(doc)

    for line in sample_run.read_text().splitlines():
        req = request_from_json(line)
        assert json.loads(request_to_json(req)) == json.loads(request_to_json_generic(req))


def test_session_cut_off_while_a_tool_runs(tmp_path: Path) -> None:
    import gzip

    lines = (
        gzip.decompress((SAMPLES / "2025-11-24" / "tools_ga.jsonl.gz").read_bytes())
        .decode()
        .splitlines()
    )
    cut = next(i for i, line in enumerate(lines) if '"function_call_output"' in line)
    (tmp_path / "cut.jsonl").write_text("\n".join(lines[:cut]) + "\n")
    out = tmp_path / "t.jsonl"
    run_convert(RunConfig.to_file(inputs=(str(tmp_path / "cut.jsonl"),), output=out))
    (t,) = traces(out).values()
    # no output, no observed execution: no tool span (trace model §6); the call stays in the
    # response's output
    assert t.kind("tool") == []
    (resp,) = t.kind("response")
    (call,) = t.json_attr(resp, "braintrust.output_json")["tool_calls"]
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}


def test_webrtc_playback_content_part_transcripts_out_of_band_and_session_error(
    sample_run: Path,
) -> None:
    t, s = trace_of(sample_run, "webrtc")
    responses = [r for r in t.kind("response") if t.parent(r) is not t.root]
    # no audio deltas: output audio from output_audio_buffer.started → stopped
    started = dict(
        (ev["response_id"], ts)
        for ts, _, ev in s.events
        if ev["type"] == "output_audio_buffer.started"
    )
    stopped = dict(
        (ev["response_id"], ts)
        for ts, _, ev in s.events
        if ev["type"] == "output_audio_buffer.stopped"
    )
    for r in responses:
        rid = r["_a"]["gen_ai.response.id"]
        assert t.json_attr(r, "braintrust.metrics")["audio_output_ms"] == pytest.approx(
            (stopped[rid] - started[rid]) / 1e6, abs=0.001
        )
        # one transcript delta logged; the full text comes from content_part.done
        parts = [
            ev["part"]["transcript"]
            for _, _, ev in s.events
            if ev["type"] == "response.content_part.done" and ev["response_id"] == rid
        ]
        assert t.json_attr(r, "braintrust.output_json")["content"][0]["transcript"] == parts[0]
        assert len(parts[0].split()) > 1
    assert t.json_attr(t.root, "braintrust.metrics")["audio_output_ms"] > 0
    # the out-of-band classification: under the root, flagged, with its metadata, not in a turn
    (oob,) = [r for r in t.kind("response") if t.parent(r) is t.root]
    assert oob["_a"]["realtime.response.out_of_band"] is True
    assert t.json_attr(oob, "braintrust.metadata")["response_metadata"] == {"purpose": "intent"}
    history = t.json_attr(t.root, "braintrust.metadata")["conversation_history"]
    assert "time_query" not in json.dumps(history)
    assert len(t.kind("turn")) == 3
    # the error with no event id after the turn ended: on the root, not on the finished turn
    (exc,) = t.root["events"]
    assert exc["name"] == "exception"
    assert not any(e["name"] == "exception" for s in t.spans[1:] for e in s.get("events", []))
    assert "status" not in t.root  # the session went on normally after it


def test_app_instrumented_session_shows_as_the_braintrust_guide_pictures_it(
    sample_run: Path,
) -> None:
    t, _ = trace_of(sample_run, "app")
    apps = {s["name"]: s for s in t.kind("app")}
    rag = apps["rag_retrieval"]
    turn1 = t.kind("turn")[0]
    assert t.parent(rag) is turn1
    assert len(t.json_attr(rag, "braintrust.output_json")) == 3  # its documents
    assert t.json_attr(rag, "braintrust.metadata")["retrieval_method"] == "hybrid"
    first_response = t.kind("response")[0]
    assert (
        int(rag["endTimeUnixNano"]) <= first_response["_a"]["realtime.response.created_unix_nano"]
    )
    api = apps["weather_api"]
    assert t.parent(api)["name"] == "execute_tool get_weather"
    crm = apps["crm_lookup"]
    assert crm["status"]["code"] == 2 and t.parent(crm)["_a"]["realtrace.kind"] == "turn"
    meta = t.json_attr(t.root, "braintrust.metadata")
    assert meta["user_id"] == "u_2077" and meta["plan"] == "pro"
    assert "instrumented" in t.root["_a"]["braintrust.tags"]


@pytest.mark.parametrize("conventions", [("braintrust",), ("genai",), ("braintrust", "genai")])
def test_messages_once_per_span_in_the_chosen_shape(
    tmp_path: Path, conventions: tuple[str, ...]
) -> None:
    out = tmp_path / "t.jsonl"
    run_convert(
        RunConfig.to_file(
            inputs=(str(SAMPLES),), output=out, mapping=MappingOptions(conventions=conventions)
        )
    )
    t, _ = trace_of(out, "tools")
    bt, genai = "braintrust" in conventions, "genai" in conventions
    for resp in t.kind("response"):
        a = resp["_a"]
        assert ("braintrust.input_json" in a) is bt and ("braintrust.output_json" in a) is bt
        assert ("gen_ai.input.messages" in a) is genai and ("gen_ai.output.messages" in a) is genai
        assert a["gen_ai.operation.name"] == "chat" and "gen_ai.usage.input_tokens" in a
        if genai:
            out_msgs = json.loads(a["gen_ai.output.messages"])
            assert out_msgs and all(m["parts"] for m in out_msgs)
            assert {m["finish_reason"] for m in out_msgs} <= {"stop", "tool_call"}
            assert json.loads(a["gen_ai.system_instructions"])[0]["type"] == "text"
            roles = [m["role"] for m in json.loads(a["gen_ai.input.messages"])]
            assert "system" not in roles and roles[0] == "user"
    for tool in t.kind("tool"):
        a = tool["_a"]
        assert ("braintrust.input_json" in a) is bt and ("gen_ai.tool.call.arguments" in a) is genai
        assert ("braintrust.output_json" in a) is bt and ("gen_ai.tool.call.result" in a) is genai
    root = t.root["_a"]
    assert ("braintrust.input_json" in root) is bt and ("gen_ai.input.messages" in root) is genai
    if genai:
        parts = [p for m in json.loads(root["gen_ai.input.messages"]) for p in m["parts"]]
        assert parts and all(p.get("content") or p["type"] != "text" for p in parts)


def test_inspect_survives_lossy_real_logs_and_counts_tokens(tmp_path: Path) -> None:
    from click.testing import CliRunner
    from conftest import REAL_LOGS

    from pipeline.cli import main

    if not REAL_LOGS.is_dir():
        pytest.skip("../shared/real-logs is not beside this checkout")
    r = CliRunner().invoke(main, ["inspect", "-i", str(REAL_LOGS), "--json"])
    assert r.exit_code == 0, r.output
    rows = {row["session_key"]: row for row in map(json.loads, r.output.splitlines())}
    assert rows["sess_BaU73ydXrcyhUDhOROj1g"]["tokens"] == 2016
    (liusida,) = [v for v in rows.values() if v["start"].startswith("2025-08-06")]
    assert liusida["tokens"] == 151 and liusida["responses"] == 1


def test_one_message_per_item_and_response_span_semantics(sample_run: Path) -> None:
    t, _ = trace_of(sample_run, "tools")
    history = t.json_attr(t.root, "braintrust.metadata")["conversation_history"]
    tool_msgs = [m["tool_call_id"] for m in history if m["role"] == "tool"]
    # the client's conversation.item.create and the server's echo are one message
    assert len(tool_msgs) == len(set(tool_msgs)) == 2
    timed = []
    for resp in t.kind("response"):
        a = resp["_a"]
        assert resp["kind"] == 3  # CLIENT
        # the output actually produced: speech, or nothing for a response that only called a tool
        spoke = bool(t.json_attr(resp, "braintrust.output_json")["content"])
        assert a.get("gen_ai.output.type") == ("speech" if spoke else None)
        assert a["gen_ai.request.stream"] is True
        metrics = t.json_attr(resp, "braintrust.metrics")
        # both names for one figure, or neither
        assert ("gen_ai.response.time_to_first_chunk" in a) == ("time_to_first_token" in metrics)
        if "time_to_first_token" in metrics:
            assert a["gen_ai.response.time_to_first_chunk"] == metrics["time_to_first_token"] > 0
            timed.append(resp)
    assert timed, "the tools session's responses stream output: some have a first token"
    e, _ = trace_of(sample_run, "errors")
    text_turn = e.kind("turn")[0]  # its user message failed: no transcript, no "[]" input
    assert "braintrust.input_json" not in text_turn["_a"]
    assert "[audio]" not in sample_run.read_text()


def test_a_session_whose_conversion_fails_is_a_reject_and_the_rest_converts() -> None:
    from pipeline.core.convert import convert_session
    from pipeline.core.model import SessionEvents

    broken = SessionEvents(  # lists that do not line up: the state machine cannot replay it
        key="k1", ts=[1, 2], types=["session.created"], events=[None, None], metadata=[],
        first_ns=1, last_ns=2, first_file=3, first_line=17,
    )  # fmt: skip
    out = convert_session(broken)
    assert out.failed and out.spans == []
    ((fid, line, reason),) = out.rejects
    assert (fid, line) == (3, 17) and reason.startswith("session conversion failed: k1: ValueError")
    fine = SessionEvents(
        key="k2", ts=[1], types=["session.created"], events=['{"session": {"id": "k2"}}'],
        metadata=[], first_ns=1, last_ns=1,
    )  # fmt: skip
    assert not convert_session(fine).failed


@pytest.mark.parametrize(
    ("fmt", "bytes_per_second"),
    [
        ("pcm16", 48_000),  # beta: 24 kHz, 16-bit mono
        ("g711_ulaw", 8_000),  # beta G.711: 8 kHz, one byte a sample
        ("g711_alaw", 8_000),
        ({"type": "audio/pcm", "rate": 24_000}, 48_000),  # GA
        ({"type": "audio/pcm", "rate": 16_000}, 32_000),  # a rate of its own
        ({"type": "audio/pcmu"}, 8_000),  # GA G.711
        ({"type": "audio/pcma"}, 8_000),
        ({"type": "audio/pcm", "rate": "fast"}, 48_000),  # nonsense: the default rate
        (None, None),  # no format logged (a phone call may be G.711): no duration from bytes
        ("opus", None),
    ],
)
def test_audio_durations_follow_the_session_audio_format(
    fmt: object, bytes_per_second: int | None
) -> None:
    from pipeline.core.events import audio_bytes_per_second

    assert audio_bytes_per_second(fmt) == bytes_per_second


def test_line_breakers_in_a_transcript_stay_escaped_in_the_file(tmp_path: Path) -> None:
    """U+2028, U+2029 and U+0085 in a transcript: every line splitter still sees one request
    per line (the file is written straight from orjson's bytes when they are ASCII)."""
    logs = tmp_path / "logs"
    logs.mkdir()
    text = "line\u2028next\u2029para\x85end é"
    lines = (SAMPLES / "2025-11-24" / "voice_ga.jsonl").read_text().splitlines()
    said = "Hello! Yes, I can hear you clearly. How can I help?"
    patched = [line.replace(said, text) for line in lines]
    assert patched != lines
    (logs / "a.jsonl").write_text("\n".join(patched) + "\n", encoding="utf-8")
    out = tmp_path / "t.jsonl"
    run_convert(RunConfig.to_file(inputs=(str(logs),), output=out, state=None))
    raw = out.read_text(encoding="utf-8")
    assert raw.splitlines() == raw.split("\n")[:-1]  # str.splitlines breaks on all three
    found = [json.loads(x) for x in raw.splitlines()]
    values = [v for s in read_spans(out) for v in s["_a"].values() if isinstance(v, str)]
    assert found and any(text in v for v in values)
