"""App-written records (docs/trace-model.md, "App records"): fields, parents, fallbacks, rejects,
JSONL and Parquet, envelope and flat."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from conftest import Trace, traces

from pipeline.config import RunConfig
from pipeline.run import run_convert

T = "2025-11-24T10:00:0{}Z"


def env(ts: str, event: dict[str, Any], direction: str | None = None) -> dict[str, Any]:
    rec: dict[str, Any] = {"timestamp": ts, "session_id": "s1", "event": event}
    if direction:
        rec["direction"] = direction
    return rec


def flat(ts: str, **fields: Any) -> dict[str, Any]:
    return {"timestamp": ts, "session_id": "s1", **fields}


REALTIME = [
    env(T.format("0.000"), {"type": "session.created", "session": {"id": "s1", "model": "m1"}}),
    env(T.format("1.000"), {"type": "input_audio_buffer.speech_started", "item_id": "i1"}),
    env(T.format("2.000"), {"type": "input_audio_buffer.speech_stopped", "item_id": "i1"}),
    env(T.format("2.010"), {"type": "input_audio_buffer.committed", "item_id": "i1"}),
    env(T.format("2.300"), {"type": "response.created", "response": {"id": "r1"}}),
    env(
        T.format("2.400"),
        {
            "type": "response.function_call_arguments.done",
            "response_id": "r1",
            "item_id": "fc1",
            "call_id": "c1",
            "name": "get_weather",
            "arguments": '{"city": "Paris"}',
        },
    ),
    env(
        T.format("2.500"),
        {"type": "response.done", "response": {"id": "r1", "status": "completed"}},
    ),
    env(
        T.format("3.000"),
        {
            "type": "conversation.item.create",
            "item": {"type": "function_call_output", "call_id": "c1", "output": "{}"},
        },
    ),
    env(T.format("3.100"), {"type": "response.created", "response": {"id": "r2"}}),
    env(
        T.format("4.000"),
        {"type": "response.done", "response": {"id": "r2", "status": "completed"}},
    ),
]


def convert(
    tmp_path: Path, records: list[dict[str, Any]], parquet: bool = False
) -> tuple[Trace, Any, list[dict[str, Any]]]:
    inp = tmp_path / "in"
    inp.mkdir(parents=True)
    rows = sorted(REALTIME + records, key=lambda r: r["timestamp"])
    if parquet:
        frame = pl.DataFrame(
            {
                "timestamp": [r["timestamp"] for r in rows],
                "session_id": [r["session_id"] for r in rows],
                "direction": [r.get("direction") for r in rows],
                "event": [
                    json.dumps(
                        r.get("event")
                        or {k: v for k, v in r.items() if k not in ("timestamp", "session_id")}
                    )
                    for r in rows
                ],
            }
        )
        frame.write_parquet(inp / "log.parquet")
    else:
        (inp / "log.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "t.jsonl"
    result = run_convert(RunConfig.to_file(inputs=(str(inp),), output=out, state=None))
    assert result.exit_code == 0
    rejects = [json.loads(line) for line in (tmp_path / "t.rejects.jsonl").read_text().splitlines()]
    return traces(out)["s1"], result, rejects


def app(t: Trace, name: str) -> dict[str, Any]:
    return next(s for s in t.kind("app") if s["name"] == name)


@pytest.mark.parametrize("parquet", [False, True], ids=["jsonl", "parquet"])
def test_the_guide_picture_retrieval_under_the_turn_api_call_under_its_tool(
    tmp_path: Path, parquet: bool
) -> None:
    t, result, rejects = convert(
        tmp_path,
        [
            env(
                T.format("2.200"),
                {"type": "app.session", "metadata": {"user_id": "u_7"}, "tags": ["pilot"]},
                "app",
            ),
            env(
                T.format("2.250"),
                {
                    "name": "rag_retrieval",
                    "duration_ms": 200,
                    "input": "weather in paris",
                    "output": [{"id": "doc1"}, {"id": "doc2"}],
                    "metadata": {"method": "bm25", "documents_considered": 40},
                    "metrics": {"documents": 2},
                    "span_type": "task",
                },
                "app",
            ),
            flat(
                T.format("2.900"),
                type="app.weather_api",
                call_id="c1",
                start_time=T.format("2.450"),
                end_time=T.format("2.890"),
                output={"temp_c": 14},
            ),
        ],
        parquet,
    )
    assert rejects == [] and result.stats.rejected_lines == 0
    turn = t.kind("turn")[0]
    rag = app(t, "rag_retrieval")
    assert t.parent(rag) is turn
    assert (
        int(rag["endTimeUnixNano"]) - int(rag["startTimeUnixNano"]) == 200_000_000
    )  # ts is the end
    assert t.json_attr(rag, "braintrust.input_json") == "weather in paris"
    assert t.json_attr(rag, "braintrust.output_json") == [{"id": "doc1"}, {"id": "doc2"}]
    assert t.json_attr(rag, "braintrust.metadata") == {"method": "bm25", "documents_considered": 40}
    assert t.json_attr(rag, "braintrust.metrics") == {"documents": 2}
    assert json.loads(rag["_a"]["braintrust.span_attributes"])["type"] == "task"
    api = app(t, "weather_api")
    assert t.parent(api)["_a"]["realtrace.kind"] == "tool"
    assert json.loads(api["_a"]["braintrust.span_attributes"])["type"] == "function"
    root_meta = t.json_attr(t.root, "braintrust.metadata")
    assert root_meta["user_id"] == "u_7"
    assert t.root["_a"]["braintrust.tags"] == ["realtime", "m1", "pilot"]
    assert not [s for s in t.spans if s["name"] in ("session", "app.session")]  # no span of its own


def test_parents_by_response_and_item_and_fallbacks(tmp_path: Path) -> None:
    t, _, rejects = convert(
        tmp_path,
        [
            flat(T.format("2.350"), type="app.moderation", response_id="r1", duration_ms=40),
            flat(T.format("2.000"), type="app.vad_check", item_id="i1", duration_ms=500),
            # names a response that does not exist: the turn open at its start
            flat(T.format("3.500"), type="app.lookup", response_id="nope"),
            # does not fit inside the tool it names (ends after the tool): one level up
            flat(T.format("3.600"), type="app.slow_call", call_id="c1", duration_ms=1000),
            # before any turn: the root
            flat(T.format("0.500"), type="app.warmup"),
        ],
    )
    assert rejects == []
    kind = {s["name"]: t.parent(s)["_a"]["realtrace.kind"] for s in t.kind("app")}
    assert kind == {
        "moderation": "response",
        "vad_check": "user_input",
        "lookup": "turn",
        "slow_call": "turn",
        "warmup": "session",
    }
    warm = app(t, "warmup")
    assert warm["startTimeUnixNano"] == warm["endTimeUnixNano"]  # neither times nor duration


def test_app_error_marks_only_its_span(tmp_path: Path) -> None:
    t, _, _ = convert(
        tmp_path,
        [
            flat(
                T.format("3.050"),
                type="app.crm",
                error={"type": "Timeout", "message": "CRM timed out"},
            )
        ],
    )
    crm = app(t, "crm")
    assert crm["status"] == {"message": "CRM timed out", "code": 2}
    (ev,) = crm["events"]
    assert ev["name"] == "exception"
    assert [s["name"] for s in t.spans if s.get("status", {}).get("code") == 2] == ["crm"]
    assert t.json_attr(t.root, "braintrust.metrics")["errors"] == 1


def test_bad_app_records_are_rejects_and_leave_realtime_spans_alone(tmp_path: Path) -> None:
    clean, _, _ = convert(tmp_path / "clean", [])
    bad = [
        flat(T.format("2.100"), type="app.a", metrics={"n": "three"}),
        flat(
            T.format("2.100"),
            type="app.b",
            start_time=T.format("2.200"),
            end_time=T.format("2.100"),
        ),
        flat(T.format("2.100"), type="app.c", start_time="yesterday"),
        flat(T.format("2.100"), type="app.d", duration_ms=-5),
        flat(T.format("2.100"), type="app.e", metadata=["not", "an", "object"]),
        flat(T.format("2.100"), type="app.f", span_type="banana"),
        flat(T.format("2.100"), type="app.session", tags="not-a-list"),
    ]
    t, result, rejects = convert(tmp_path / "bad", bad)
    assert sorted(r["reason"] for r in rejects) == sorted(
        [
            "app record: metrics must be numbers",
            "app record: end_time before start_time",
            "app record: start_time is not a time",
            "app record: duration_ms must be a non-negative number",
            "app record: metadata must be an object",
            "app record: span_type must be one of function, task, tool, llm, score",
            "app record: tags must be a list of strings",
        ]
    )
    assert all(r["file"].endswith("log.jsonl") and r["line"] > 1 for r in rejects)
    assert result.stats.rejects_by_reason == {"app record": 7}
    assert t.kind("app") == []

    def realtime(tr: Trace) -> list[Any]:  # all but the count of records read
        return [
            (s["spanId"], s["name"], {k: v for k, v in s["_a"].items() if k != "realtrace.events"})
            for s in tr.spans
        ]

    assert realtime(t) == realtime(clean)


def test_app_spans_are_counted_in_summary_report_and_inspect(tmp_path: Path) -> None:
    from click.testing import CliRunner
    from conftest import SAMPLES

    from pipeline.cli import main

    report = tmp_path / "report.json"
    out = tmp_path / "t.jsonl"
    r = CliRunner().invoke(
        main, ["convert", "-i", str(SAMPLES), "-o", str(out), "--no-state", "--report", str(report)]
    )
    assert r.exit_code == 0, r.output
    assert "app spans:           3" in r.output
    assert json.loads(report.read_text())["app_spans"] == 3
    rows = [
        json.loads(x)
        for x in CliRunner()
        .invoke(main, ["inspect", "-i", str(SAMPLES), "--json"])
        .output.splitlines()
    ]
    assert sorted(row["app_spans"] for row in rows) == [0] * 8 + [3]
    assert [row["start"] for row in rows] == sorted(row["start"] for row in rows)
    table = CliRunner().invoke(main, ["inspect", "-i", str(SAMPLES)]).output
    assert " app " in table.splitlines()[0]


def test_the_generator_can_add_app_records_to_bulk_sessions(tmp_path: Path) -> None:
    import subprocess
    import sys

    from conftest import SAMPLES

    subprocess.run(
        [sys.executable, "scripts/gen_logs.py", "--out", str(tmp_path / "g"), "--sessions", "30",
         "--app-records"],
        check=True, capture_output=True, cwd=SAMPLES.parent,
    )  # fmt: skip
    result = run_convert(
        RunConfig.to_file(inputs=(str(tmp_path / "g"),), output=tmp_path / "t.jsonl")
    )
    assert result.exit_code == 0 and result.stats.app_spans > 0
    assert result.stats.rejected_lines == 0
