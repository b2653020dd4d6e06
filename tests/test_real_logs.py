"""Real Realtime logs recorded outside the project (../shared/real-logs/): the facts their README
says a correct trace shows. The logs stay in ../shared (CI has it beside the checkout)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import REAL_LOGS, Trace, traces

from pipeline.config import RunConfig
from pipeline.run import run_convert

pytestmark = pytest.mark.skipif(
    not REAL_LOGS.is_dir(), reason="../shared/real-logs is not beside this checkout"
)


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Trace]:
    """All real logs in one run: it must exit 0 with no line rejected."""
    out = tmp_path_factory.mktemp("real") / "traces.jsonl"
    result = run_convert(RunConfig.to_file(inputs=(str(REAL_LOGS),), output=out))
    assert result.exit_code == 0
    assert result.stats.rejected_lines == 0 and result.stats.sessions == 8
    return traces(out)  # also checks every shape invariant


def by_file(runs: dict[str, Trace], stem: str) -> Trace:
    """The session of a log that names none (keyed by its content, §7): the trace holding the
    first response id the file logs."""
    (path,) = REAL_LOGS.glob(f"{stem}*.jsonl")
    rid = re.search(r"resp_[A-Za-z0-9]+", path.read_text())
    assert rid is not None
    (t,) = [
        t for k, t in runs.items() if k.startswith("log:") and rid.group() in json.dumps(t.spans)
    ]
    return t


def meta(t: Trace, span: dict[str, Any]) -> dict[str, Any]:
    return t.json_attr(span, "braintrust.metadata")


def metrics(t: Trace, span: dict[str, Any]) -> dict[str, Any]:
    return t.json_attr(span, "braintrust.metrics") if "braintrust.metrics" in span["_a"] else {}


def output_text(t: Trace, span: dict[str, Any]) -> str:
    """What a response delivered (its Realtime-shaped output: `{status, content, tool_calls}`)."""
    out = t.json_attr(span, "braintrust.output_json")
    return "".join(p.get("transcript") or p.get("text") or "" for p in out["content"])


def state(t: Trace, span: dict[str, Any]) -> str:
    return meta(t, span)["status"]


def test_banyan_log1_webrtc_tool_call_and_barge_ins(real_run: dict[str, Trace]) -> None:
    t = real_run["sess_BaPsbBBHFu1fj56wDcEm4"]
    m = meta(t, t.root)
    assert m["model"] == "gpt-4o-realtime-preview-2024-12-17" and m["voice"] == "coral"
    assert m["tools"] == ["transferToSupervisor"]
    turns, responses = t.kind("turn"), t.kind("response")
    assert len(turns) == 12 and len(responses) == 12
    # turn 1: the simulated user text (server echo only) and the greeting
    first_inputs = [c for c in t.children(turns[0]) if c["_a"]["realtrace.kind"] == "user_input"]
    assert [json.loads(c["_a"]["braintrust.input_json"]) for c in first_inputs] == ["Hello!"]
    spoken = [json.loads(u["_a"]["braintrust.input_json"]) for u in t.kind("user_input")[1:]]
    assert len(spoken) == 11 and spoken[0] == "Go with that.\n" and spoken[-1] == "Heh.\n"
    statuses = [r["_a"]["realtime.response.status"] for r in responses]
    assert statuses.count("completed") == 4 and statuses.count("cancelled") == 8  # the provider's
    # trace model §6: interrupted only where delivered audio was cut (5 truncations: the first,
    # completed, response among them); cancelled before anything was delivered: cancelled
    states = [state(t, r) for r in responses]
    assert (states.count("interrupted"), states.count("cancelled")) == (5, 4)
    assert states.count("completed") == 3
    tokens = [
        (r["_a"].get("gen_ai.usage.input_tokens"), r["_a"].get("gen_ai.usage.output_tokens"))
        for r in responses
    ]
    for pair in [(853, 157), (954, 86), (1056, 160), (1257, 222), (1360, 126), (1414, 17)]:
        assert pair in tokens
    assert tokens.count((0, 0)) == 4
    last = responses[-1]
    assert last["_a"]["gen_ai.response.id"] == "resp_BaPtbPrPNx7k1k6Gl19Lx"
    assert (last["_a"]["gen_ai.usage.input_tokens"], last["_a"]["gen_ai.usage.output_tokens"]) == (
        1513,
        324,
    )
    assert last["_a"]["gen_ai.usage.cache_read.input_tokens"] == 1408
    assert last["_a"]["gen_ai.response.finish_reasons"] == ["tool_call"]
    calls = t.json_attr(last, "braintrust.output_json")["tool_calls"]
    assert [(c["id"], c["function"]["name"]) for c in calls] == [
        ("call_kmnUtkOoDYWLgJHP", "transferToSupervisor")
    ]
    # the app hung up before the tool ran: no tool span (§6), the call left waiting
    assert t.kind("tool") == []
    assert t.root["_a"]["realtrace.incomplete"] is True
    # 5 barge-ins truncate the assistant's audio; no errors; audio from VAD offsets
    truncated = [meta(t, r).get("truncated_at_ms") for r in responses]
    assert sorted(x for x in truncated if x is not None) == [0, 20, 1680, 2460, 4000]
    rm = metrics(t, t.root)
    assert rm["audio_input_ms"] == 12740 and rm["errors"] == 0
    assert rm["interruptions"] == 5 and rm["audio_output_ms"] > 0  # from output_audio_buffer
    assert rm["cancelled_responses"] == 4 and rm["false_starts"] == 0
    assert "interrupted" in t.root["_a"]["braintrust.tags"]
    assert m["total_tokens"] == 11014
    assert not any(s.get("status", {}).get("code") == 2 for s in t.spans)


def test_banyan_log2_greeting_and_barge_in(real_run: dict[str, Trace]) -> None:
    t = real_run["sess_BaU73ydXrcyhUDhOROj1g"]
    turns, responses = t.kind("turn"), t.kind("response")
    assert len(turns) == 2
    assert [r["_a"]["gen_ai.response.id"] for r in responses] == [
        "resp_BaU74vyaswyzPWjZoJ6rY",
        "resp_BaU77uJHI9v4UKjkUkgyG",
    ]
    assert output_text(t, responses[0]).startswith("Hi there! Thank you for calling")
    assert responses[0]["_a"]["gen_ai.usage.cache_read.input_tokens"] == 832
    assert meta(t, responses[0])["truncated_at_ms"] == 1860
    assert turns[0]["_a"]["realtime.turn.interrupted"] is True
    assert turns[1]["_a"]["realtime.turn.interrupted"] is False
    (spoken,) = [u for u in t.kind("user_input") if u["_a"]["realtime.input.source"] == "audio"]
    assert json.loads(spoken["_a"]["braintrust.input_json"]) == "Bye.\n"
    assert metrics(t, spoken)["audio_ms"] == 620
    assert meta(t, t.root)["total_tokens"] == 2016
    assert "realtrace.incomplete" not in t.root["_a"]
    # WebRTC logs no audio deltas: output audio comes from the playback buffer events
    assert metrics(t, t.root)["audio_output_ms"] > 0
    assert metrics(t, turns[1])["voice_to_voice_latency"] > 0


def test_liusida_node_console_dump_with_lossy_fields(real_run: dict[str, Trace]) -> None:
    t = by_file(real_run, "liusida_dictionary")
    (resp,) = t.kind("response")
    assert len(t.kind("turn")) == 1
    assert resp["_a"]["gen_ai.response.id"] == "resp_C1PSbsyhar4EpjNZg9fkB"
    assert resp["name"] == "chat" and "gen_ai.request.model" not in resp["_a"]  # no model logged
    assert "gpt-realtime" not in json.dumps(t.root["_a"])
    assert (resp["_a"]["gen_ai.usage.input_tokens"], resp["_a"]["gen_ai.usage.output_tokens"]) == (
        72,
        79,
    )
    m = metrics(t, resp)
    assert m["tokens"] == 151 and "prompt_cached_tokens" not in m  # "[Object]" is not a number
    text = output_text(t, resp)
    assert json.loads(text)["word"] == "pending"
    assert m["time_to_first_token"] > 0 and resp["_a"]["gen_ai.output.type"] == "text"
    assert meta(t, resp)["response_metadata"] == {
        "request_id": "a68f767f-0d18-4494-9012-f113cf16d43a"
    }
    assert t.root["_a"]["braintrust.tags"] == ["realtime"]


def test_bravedigger_ga_fragments_two_turns_without_response_done(
    real_run: dict[str, Trace],
) -> None:
    t = real_run["sess_Ct1OVZ9vNW62W3cUpSCqj"]
    assert len(t.kind("turn")) == 2
    inputs = t.kind("user_input")
    assert [metrics(t, u)["audio_ms"] for u in inputs] == [2572, 2764]
    for u in inputs:  # no transcript: an audio part, never a placeholder string
        (part,) = json.loads(u["_a"]["braintrust.input_json"])
        assert part["type"] == "input_audio" and "data" not in part["input_audio"]
    r1, r2 = t.kind("response")
    assert [r["_a"]["gen_ai.response.id"] for r in (r1, r2)] == [
        "resp_Ct1OZ5ukpGEZNeUWx1iOH",
        "resp_Ct1OkhbgNQBuFX2HeE0P9",
    ]
    assert output_text(t, r1).startswith("Sure! I'd be happy to tell you a short bedtime story")
    assert len(output_text(t, r1)) > len("Sure")  # content_part.done, not the one delta
    for r in (r1, r2):
        assert r["_a"]["realtrace.incomplete"] is True
        assert "gen_ai.usage.input_tokens" not in r["_a"]
        assert "gen_ai.response.finish_reasons" not in r["_a"]  # unknown stays unknown
    assert t.root["_a"]["realtrace.incomplete"] is True
    assert "audio_output_ms" not in metrics(t, t.root)  # nothing tells


def test_bravedigger_response_tail_without_response_created(real_run: dict[str, Trace]) -> None:
    t = by_file(real_run, "bravedigger_sip_gateway_ga_response_tail")
    (resp,) = t.kind("response")
    assert resp["_a"]["gen_ai.response.id"] == "resp_CsZyL5IuqSgPEut0cI82K"
    assert resp["name"] == "chat"
    m = metrics(t, resp)
    assert (m["prompt_tokens"], m["completion_tokens"], m["tokens"]) == (132, 188, 320)
    assert resp["_a"]["gen_ai.usage.cache_read.input_tokens"] == m["prompt_cached_tokens"] == 64
    assert output_text(t, resp).startswith("Claro, dime qué es")
    assert resp["_a"]["gen_ai.response.finish_reasons"] == ["stop"]


def test_a_directory_of_all_real_logs_converts_from_the_cli(tmp_path: Path) -> None:
    """The CLI over every real log: exit 0, nothing on stderr that looks like a traceback."""
    import subprocess
    import sys

    out = tmp_path / "t.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "convert", "-i", str(REAL_LOGS), "-o", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "8 converted" in proc.stdout


def test_swooby_client_cancel_with_real_timestamps(real_run: dict[str, Trace]) -> None:
    t = by_file(real_run, "swooby_alfredai")
    (resp,) = t.kind("response")
    assert resp["_a"]["gen_ai.response.id"] == "resp_AsfX2yF5teyOCOyVSTCow"
    # its start is not in the log (no request, no response.created, no delta): it starts at
    # the earliest event tied to it, the client's cancel (§7), says its start was not
    # observed, measures no TTFT, and it is not an error
    assert int(resp["startTimeUnixNano"]) == 1737563925287000000
    assert resp["_a"]["realtrace.start_observed"] is False
    assert "time_to_first_token" not in metrics(t, resp)
    assert "status" not in resp and "status" not in t.root
    m = meta(t, resp)
    assert (m["status"], m["status_reason"], m["cancelled_by"]) == (
        "cancelled",
        "client_cancelled",
        "client",
    )
    assert "braintrust.input_json" not in resp["_a"]  # nothing logged before it: unknown
    assert output_text(t, resp).startswith("Once upon a time in a bustling little town")
    assert t.json_attr(resp, "braintrust.output_json")["status"] == "cancelled"
    mt = metrics(t, resp)
    assert (mt["prompt_tokens"], mt["completion_tokens"], mt["tokens"]) == (167, 233, 400)
    assert (mt["prompt_audio_tokens"], mt["completion_audio_tokens"]) == (37, 183)
    assert "prompt_text_tokens" not in mt and m["prompt_text_tokens"] == 130  # not canonical
    assert "gen_ai.request.model" not in resp["_a"] and "model" not in m
    # the client's cancel (no response id) is an event of the response it cancelled, not of
    # the root (before §7 it was put on the root)
    (cancel,) = resp["events"][:1]
    assert cancel["name"] == "realtime.response.cancel" and not t.root.get("events")
    assert metrics(t, t.root)["cancelled_responses"] == 1
