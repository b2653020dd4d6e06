"""Cron and backfills: idempotent reruns, changed sessions, kill -9 safety, windows, reports, locking."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import ROOT, SAMPLES, read_spans, traces
from gen_logs import T0, build_session, records, write_jsonl
from receivers import Action, HttpReceiver

from pipeline.cli import main
from pipeline.state.store import StateStore


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    dest = tmp_path / "logs"
    shutil.copytree(SAMPLES, dest)
    return dest


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    rec = HttpReceiver()
    yield rec
    rec.stop()


def convert_args(tmp_path: Path, logs: Path, endpoint: str, *extra: str) -> list[str]:
    """`realtrace convert` of `logs` to an HTTP receiver, with this test's output and state."""
    out = str(tmp_path / "out" / "t.jsonl")
    state = str(tmp_path / "state.db")
    return [
        "convert",
        "-i",
        str(logs),
        "-o",
        out,
        "--endpoint",
        endpoint,
        "--protocol",
        "http/protobuf",
        "--state",
        state,
        *extra,
    ]


def convert(tmp_path: Path, logs: Path, endpoint: str, *extra: str) -> Result:
    return CliRunner().invoke(
        main, convert_args(tmp_path, logs, endpoint, *extra), catch_exceptions=False
    )


def expected_ids(logs: Path, tmp_path: Path) -> Counter[str]:
    out = tmp_path / "expected.jsonl"
    r = CliRunner().invoke(main, ["convert", "-i", str(logs), "-o", str(out), "--no-state"])
    assert r.exit_code == 0, r.output
    return Counter(s["spanId"] for s in read_spans(out))


def test_second_run_sends_nothing_new_file_sends_only_new(
    tmp_path: Path, logs: Path, receiver: HttpReceiver
) -> None:
    r1 = convert(tmp_path, logs, receiver.endpoint)
    assert r1.exit_code == 0, r1.output
    first = list(receiver.span_ids)
    assert Counter(first) == expected_ids(logs, tmp_path)
    r2 = convert(tmp_path, logs, receiver.endpoint)
    assert r2.exit_code == 4, r2.output  # nothing to do
    assert "9 skipped (already delivered)" in r2.output
    assert "(9 unchanged since delivered, not re-read)" in r2.output
    assert receiver.span_ids == first
    s = build_session("voice", 99, True, T0 + 10 * 3_600_000_000_000)
    write_jsonl(logs / "2025-11-26" / "new.jsonl", records(s, "envelope", "iso", None))
    r3 = convert(tmp_path, logs, receiver.endpoint)
    assert r3.exit_code == 0, r3.output
    new = receiver.span_ids[len(first) :]
    old_sessions = traces(tmp_path / "expected.jsonl")  # written before the new file existed
    assert not set(new) & set(first)
    assert len(new) == len(set(new)) and len(new) > 0
    assert "9 skipped" in r3.output and "1 converted" in r3.output
    assert s.session_id not in old_sessions and len(receiver.trace_ids) == 10


def test_changed_session_is_resent_whole_with_same_ids(
    tmp_path: Path, logs: Path, receiver: HttpReceiver
) -> None:
    assert convert(tmp_path, logs, receiver.endpoint).exit_code == 0
    first = list(receiver.span_ids)
    voice = logs / "2025-11-24" / "voice_ga.jsonl"
    last = json.loads(voice.read_text().splitlines()[-1])
    late = {
        **last,
        "timestamp": "2025-11-24T16:00:59Z",
        "event": {"type": "rate_limits.updated", "event_id": "event_late", "rate_limits": []},
    }
    # a late rotated file carries one more event of the voice session
    (logs / "2025-11-24" / "voice_ga.1.jsonl").write_text(json.dumps(late) + "\n")
    r = convert(tmp_path, logs, receiver.endpoint)
    assert r.exit_code == 0, r.output
    resent = receiver.span_ids[len(first) :]
    assert set(resent) <= set(first)  # identical span ids
    assert (
        len(resent) == len(set(resent)) == 15
    )  # the whole voice session: root, 4 turns, 3 inputs, 3 transcriptions, 4 responses
    assert "1 converted (0 incomplete, 1 changed since delivered), 8 skipped" in r.output
    # --skip-changed keeps the first delivery
    (logs / "2025-11-24" / "voice_ga.2.jsonl").write_text(
        json.dumps({**late, "timestamp": "2025-11-24T16:01:30Z"}) + "\n"
    )
    n = len(receiver.span_ids)
    r = convert(tmp_path, logs, receiver.endpoint, "--skip-changed")
    assert r.exit_code == 4 and len(receiver.span_ids) == n


def test_since_until_select_by_session_start(tmp_path: Path, logs: Path) -> None:
    out = tmp_path / "w.jsonl"
    r = CliRunner().invoke(
        main,
        [
            "convert",
            "-i",
            str(logs),
            "-o",
            str(out),
            "--no-state",
            "--since",
            "2025-11-24T17:00:00Z",
            "--until",
            "2025-11-24T19:00:00",
        ],
    )
    assert r.exit_code == 0, r.output
    starts = sorted(int(t.root["startTimeUnixNano"]) for t in traces(out).values())
    assert len(starts) == 2
    assert all(T0 + 3_600_000_000_000 <= s < T0 + 3 * 3_600_000_000_000 for s in starts)
    assert "7 outside --since/--until/--sessions-from" in r.output
    keys = tmp_path / "keys.txt"
    keys.write_text("# two sessions\n" + "\n".join(sorted(traces(out))) + "\n")
    out2 = tmp_path / "k.jsonl"
    r = CliRunner().invoke(
        main,
        ["convert", "-i", str(logs), "-o", str(out2), "--no-state", "--sessions-from", str(keys)],
    )
    assert set(traces(out2)) == set(traces(out))


def test_report_agrees_with_receiver_and_rejects(
    tmp_path: Path, logs: Path, receiver: HttpReceiver
) -> None:
    bad = logs / "2025-11-24" / "errors_ga.jsonl"
    bad.write_text("not json\n" + bad.read_text() + '{"event": {"type": "error"}}\n')
    report = tmp_path / "report.json"
    r = convert(tmp_path, logs, receiver.endpoint, "--report", str(report))
    assert r.exit_code == 0, r.output
    rep = json.loads(report.read_text())
    rejects = (tmp_path / "out" / "t.rejects.jsonl").read_text().splitlines()
    assert rep["rejected_lines"] == len(rejects) == 2
    assert rep["rejects_by_reason"] == {
        "malformed JSON (not a JSON object)": 1,
        "no timestamp field": 1,
    }
    assert rep["spans_delivered"] == len(receiver.span_ids) == rep["spans"]
    assert rep["sessions_delivered"] == len(receiver.trace_ids) == rep["sessions"] == 9
    assert rep["lines_read"] == rep["events"] + rep["rejected_lines"] + rep["blank_lines"]
    assert rep["throughput"]["spans_per_s"] > 0


def test_a_second_concurrent_run_exits_clearly(tmp_path: Path, logs: Path) -> None:
    with StateStore(tmp_path / "state.db", "x"):
        r = convert(tmp_path, logs, "http://127.0.0.1:9")
    assert r.exit_code == 6
    assert "another realtrace run is using" in r.output


@pytest.mark.parametrize("kill_after_requests", [0, 3, 12])
def test_sigkill_at_any_point_then_rerun_delivers_everything(
    tmp_path: Path, logs: Path, kill_after_requests: int
) -> None:
    """0: killed while starting/reading; 3 and 12: killed mid-export (17 requests in all)."""
    slow = HttpReceiver(script=lambda n: Action(delay=0.25))
    try:
        extra = ["--max-batch-spans", "3", "--concurrency", "1", "--quiet"]
        args = [
            sys.executable,
            "-m",
            "pipeline.cli",
            *convert_args(tmp_path, logs, slow.endpoint, *extra),
        ]
        proc = subprocess.Popen(
            args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 60
        if kill_after_requests == 0:  # once the run holds its state, before any answer
            lock = tmp_path / "state.db.lock"
            while not lock.exists() and time.monotonic() < deadline:
                time.sleep(0.005)
            assert lock.exists(), "the run never opened its state"
        while len(slow.times) < kill_after_requests and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        sent_before = len(slow.span_ids)
        if kill_after_requests == 0:
            assert sent_before == 0  # it died before a single span was acknowledged
        slow.script = lambda n: Action()
        r = convert(tmp_path, logs, slow.endpoint)
        assert r.exit_code in (0, 4), r.output
        assert set(slow.span_ids) == set(expected_ids(logs, tmp_path))
        with StateStore(tmp_path / "state.db", "x") as st:
            rows = st.summary()
        assert [(x["status"], x["sessions"]) for x in rows] == [("delivered", 9)]
        if kill_after_requests:
            assert 0 < sent_before < 50  # it really died mid-export
    finally:
        slow.stop()


def test_inspect_lists_sessions(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["inspect", "-i", str(SAMPLES), "--json"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(rows) == 9
    assert sum(x["incomplete"] for x in rows) == 1
    assert {x["errors"] for x in rows} == {0, 1, 3}
    table = CliRunner().invoke(main, ["inspect", "-i", str(SAMPLES)])
    assert table.exit_code == 0 and "9 sessions" in table.output


def test_state_show_and_forget(tmp_path: Path, logs: Path, receiver: HttpReceiver) -> None:
    assert convert(tmp_path, logs, receiver.endpoint).exit_code == 0
    r = CliRunner().invoke(main, ["state", "show", "--state", str(tmp_path / "state.db"), "--json"])
    doc = json.loads(r.output)
    assert (
        doc["destinations"][0]["sessions"] == 9 and doc["destinations"][0]["status"] == "delivered"
    )
    r = CliRunner().invoke(
        main, ["state", "forget", "--state", str(tmp_path / "state.db"), "--all"]
    )
    assert "forgot 9" in r.output
    n = len(receiver.span_ids)
    assert convert(tmp_path, logs, receiver.endpoint).exit_code == 0
    assert len(receiver.span_ids) == 2 * n


def test_state_forget_one_session_resends_only_it(
    tmp_path: Path, logs: Path, receiver: HttpReceiver
) -> None:
    assert convert(tmp_path, logs, receiver.endpoint).exit_code == 0
    key = "sess_dda1494c73cf256d0001"
    r = CliRunner().invoke(
        main, ["state", "forget", "--state", str(tmp_path / "state.db"), "--session", key]
    )
    assert r.exit_code == 0 and "forgot 1 session records" in r.output
    before = set(receiver.trace_ids), len(receiver.span_ids)
    receiver.trace_ids.clear()
    assert convert(tmp_path, logs, receiver.endpoint).exit_code == 0
    from pipeline.core.ids import trace_id

    assert receiver.trace_ids == {trace_id(key).hex()}  # that session, and no other
    assert len(receiver.span_ids) > before[1]
    r = CliRunner().invoke(main, ["state", "forget", "--state", str(tmp_path / "state.db")])
    assert r.exit_code == 2 and "--session KEY" in r.output  # neither --session nor --all
