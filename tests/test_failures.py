"""Every documented failure a user can cause or meet: one line on stderr naming the problem and
the fix, a documented exit code, never a traceback; files hold only whole lines, and the file
destination holds each session exactly once across faults."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import SAMPLES, read_spans

from pipeline.cli import main

S = str(SAMPLES)


def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    r = CliRunner(env=env).invoke(main, list(args))
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    return r.exit_code, r.stdout, r.stderr


def one_line(err: str) -> str:
    lines = [x for x in err.splitlines() if x.startswith("realtrace:")]
    assert "Traceback" not in err
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "outdir").mkdir()
    (tmp_path / "notsqlite.db").write_text("garbage, not a database\n")
    (tmp_path / "bad.otlp.jsonl").write_text('{"a": 1}\nnot json\n')
    return tmp_path


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["-o", "{d}/outdir"], 2, "is a directory"),
        (["-o", "/dev/full"], 7, "/dev/full: No space left on device"),
        (["--state", "{d}/notsqlite.db", "-o", "{d}/o.jsonl"], 2, "not a usable realtrace state"),
        (["--concurrency", "-1", "--endpoint", "http://127.0.0.1:9"], 2, "--concurrency -1"),
        (["--concurrency", "0", "--endpoint", "http://127.0.0.1:9"], 2, "--concurrency 0"),
        (["--timeout", "-1", "--endpoint", "https://127.0.0.1:9"], 2, "--timeout -1"),
        (["--timeout", "0", "--endpoint", "https://127.0.0.1:9"], 2, "--timeout 0"),
        (["--max-batch-spans", "0"], 2, "--max-batch-spans 0"),
        (["--max-batch-spans", "-3"], 2, "--max-batch-spans -3"),
        (["--max-batch-bytes", "10"], 2, "--max-batch-bytes 10"),
        (["--max-history", "-1"], 2, "--max-history -1"),
        (["--workers", "-2"], 2, "--workers -2"),
        (["--since", "2026-01-02", "--until", "2026-01-01"], 2, "--since is after --until"),
        (["--since", "next tuesday"], 2, "expected a date"),
        (["--braintrust-project", "voice"], 2, "BRAINTRUST_API_KEY"),
        (["-i", "{d}/nowhere"], 2, "not found"),
        (["--rejects", "{d}/outdir"], 2, "--rejects"),
        (["--report", "{d}/outdir"], 2, "--report"),
        (["--ray-address", "auto"], 2, "--ray-address needs --engine ray"),
        (["--engine", "ray", "--audio", "dir:{d}/wav"], 2, "--audio dir with --engine ray"),
        (["--max-retry-time", "-1", "--endpoint", "http://127.0.0.1:9"], 2, "--max-retry-time -1"),
        (["--endpoint", "http://:4318"], 2, "has no host"),
        (
            ["--endpoint", "http://collector.example:4318", "--header", "authorization=Bearer k"],
            2,
            "refusing to send credentials in clear text",
        ),
        (["--header", "novalue", "--endpoint", "http://127.0.0.1:9"], 2, "malformed header"),
    ],
)
def test_convert_failures_are_one_line_with_their_exit_code(
    files: Path, args: list[str], code: int, says: str
) -> None:
    argv = ["convert", "-i", S, "--no-state", "-o", str(files / "t.jsonl")]
    argv += [a.format(d=files) for a in args]
    if "--state" in args:
        argv.remove("--no-state")
    got, _, err = cli(*argv)
    assert got == code, err
    assert says in one_line(err)


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "thrift"}, "unknown protocol 'thrift'"),
        ({"OTEL_EXPORTER_OTLP_COMPRESSION": "brotli"}, "unknown compression 'brotli'"),
    ],
)
def test_bad_environment_values_are_named(files: Path, env: dict[str, str], says: str) -> None:
    argv = ["convert", "-i", S, "--no-state", "-o", str(files / "t.jsonl")]
    code, _, err = cli(*argv, "--endpoint", "http://127.0.0.1:9", env=env)
    assert code == 2 and says in one_line(err)


def test_bad_timeout_variable_is_named(files: Path) -> None:
    env = {"OTEL_EXPORTER_OTLP_TIMEOUT": "abc"}
    code, _, err = cli(
        "convert", "-i", S, "--no-state", "-o", str(files / "t.jsonl"),
        "--endpoint", "http://127.0.0.1:9", env=env,
    )  # fmt: skip
    assert code == 2 and "OTEL_EXPORTER_OTLP_TIMEOUT='abc'" in one_line(err)


def test_report_that_cannot_be_written_after_delivery(files: Path) -> None:
    out = files / "t.jsonl"
    code, stdout, err = cli("convert", "-i", S, "-o", str(out), "--report", "/proc/nope/r.json")
    assert code == 7 and "could not write the report" in one_line(err)
    assert "spans:               98 (98 delivered" in stdout  # the summary is still printed
    code, stdout, _ = cli("convert", "-i", S, "-o", str(out))
    assert code == 4 and "9 skipped (already delivered)" in stdout  # and delivery recorded


@pytest.mark.parametrize("command", ["show", "forget"])
def test_state_commands_on_a_corrupt_or_missing_state(files: Path, command: str) -> None:
    extra = ["--all"] if command == "forget" else []
    code, _, err = cli("state", command, "--state", str(files / "notsqlite.db"), *extra)
    assert code == 2 and "not a usable realtrace state" in one_line(err)
    code, _, err = cli("state", command, "--state", str(files / "none.db"), *extra)
    assert code == 2 and "no state at" in one_line(err)


def test_an_empty_state_file_is_announced(files: Path) -> None:
    (files / "empty.db").write_bytes(b"")
    code, _, err = cli(
        "convert", "-i", S, "-o", str(files / "t.jsonl"), "--state", str(files / "empty.db")
    )
    assert code == 0 and "is empty: starting a new state" in err


def test_replay_refuses_what_is_not_otlp_and_its_own_input(files: Path) -> None:
    code, _, err = cli("replay", str(files / "bad.otlp.jsonl"), "--endpoint", "http://127.0.0.1:9")
    assert code == 2 and "line 1 is not an OTLP request" in one_line(err)
    out = files / "t.jsonl"
    cli("convert", "-i", S, "--no-state", "-o", str(out))
    code, _, err = cli(
        "replay", str(out), "--endpoint", "http://127.0.0.1:9", "--dead-letter", str(out)
    )
    assert code == 2 and "is the file being replayed" in one_line(err)
    assert len(read_spans(out)) == 98  # untouched


def test_errors_reach_stderr_even_with_quiet(files: Path) -> None:
    from receivers import Action, HttpReceiver

    refusing = HttpReceiver(script=lambda n: Action(http_status=400, message="bad batch"))
    try:
        code, stdout, err = cli(
            "convert", "-i", S, "--no-state", "-q", "-o", str(files / "t.jsonl"),
            "--endpoint", refusing.endpoint, "--protocol", "http/protobuf",
        )  # fmt: skip
    finally:
        refusing.stop()
    assert code == 3 and stdout == ""
    assert "realtrace: error: not retryable" in err and "bad batch" in err


# -- real faults: a full disk (RLIMIT_FSIZE in a child), kill -9 ------------------------------


def _convert_in_child(out: Path, limit: int | None, state: Path) -> int:
    """`realtrace convert` in a child process whose files may not grow past `limit` bytes."""

    def cap() -> None:
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill

    argv = [sys.executable, "-m", "pipeline.cli", "convert", "-i", S, "-o", str(out)]
    argv += ["--state", str(state), "--max-batch-spans", "5", "-q"]
    argv += ["--report", str(out.with_name("report.json"))]
    proc = subprocess.run(argv, preexec_fn=cap, capture_output=True, text=True, check=False)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode


@pytest.mark.parametrize("limit", [40_000, 60_000, 80_000])  # the state, then the output fills
def test_a_full_disk_never_leaves_half_a_line_and_the_rerun_completes(
    tmp_path: Path, limit: int
) -> None:
    out, state = tmp_path / "t.jsonl", tmp_path / "state.db"
    assert _convert_in_child(out, limit, state) == 7  # the disk "fills" mid-run
    report = json.loads((tmp_path / "report.json").read_text())  # written all the same
    assert report["io_failed"] and "cannot write" in report["errors"][-1]
    text = out.read_text() if out.exists() else ""
    assert text == "" or text.endswith("\n")
    assert all(json.loads(x) for x in text.splitlines())
    assert _convert_in_child(out, None, state) == 0
    spans = read_spans(out)
    ids = [s["spanId"] for s in spans]
    assert len(ids) == len(set(ids)) == 98  # every span exactly once


def test_interrupted_write_then_rerun_writes_each_session_exactly_once(tmp_path: Path) -> None:
    """What kill -9 leaves: sessions written but never recorded, and half a line. The rerun
    cuts the file back to what the state recorded and writes the rest once."""
    out, state = tmp_path / "t.jsonl", tmp_path / "state.db"
    assert _convert_in_child(out, 60_000, state) == 7
    with out.open("ab") as fh:
        fh.write(b'{"resourceSpans":[{"resource":{"attrib')  # killed mid-line
    assert _convert_in_child(out, None, state) == 0
    lines = out.read_text().splitlines()
    assert all(json.loads(x) for x in lines)
    ids = [s["spanId"] for s in read_spans(out)]
    assert len(ids) == len(set(ids)) == 98
    assert _convert_in_child(out, None, state) == 4  # and a third run has nothing to do
    assert [s["spanId"] for s in read_spans(out)] == ids


# -- inputs accounted for -----------------------------------------------------------------

LINES = (SAMPLES / "2025-11-24" / "barge_in_beta.jsonl").read_bytes()


def test_a_bom_does_not_reject_the_first_line(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + LINES)
    code, out, _ = cli(
        "convert", "-i", str(tmp_path / "in"), "--no-state", "-o", str(tmp_path / "t.jsonl")
    )
    assert code == 0 and "0 rejected" in out
    keys = {s["_a"].get("realtrace.session_key") for s in read_spans(tmp_path / "t.jsonl")}
    assert not any(k and k.startswith("file:") for k in keys)


def test_a_truncated_gzip_keeps_its_readable_lines_and_is_read_again_once_it_changes(
    tmp_path: Path,
) -> None:
    import gzip

    (tmp_path / "in").mkdir()
    whole = gzip.compress(LINES * 40, mtime=0)  # big enough to cut in the middle of a member
    (tmp_path / "in" / "cut.jsonl.gz").write_bytes(whole[: len(whole) // 2])
    argv = ["convert", "-i", str(tmp_path / "in"), "-o", str(tmp_path / "t.jsonl")]
    argv += ["--state", str(tmp_path / "s.db"), "--strict"]
    code, out, _ = cli(*argv)  # a damaged input is an I/O failure (7), before --strict's 5
    assert code == 7 and "unreadable file: after line" in (tmp_path / "t.rejects.jsonl").read_text()
    assert "1 converted" in out  # the lines before the damage still convert
    code, out, _ = cli(*argv)  # remembered by its fingerprint: not read and failed every night
    assert code == 4 and "1 unchanged since delivered" in out
    (tmp_path / "in" / "cut.jsonl.gz").write_bytes(whole)  # the whole file, at last: read again
    code, out, _ = cli(*argv)
    assert code == 0 and "0 unchanged since delivered" in out and "1 changed" in out


def test_input_problems_are_warned_counted_and_no_input_at_all_is_exit_2(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    (logs / "empty").mkdir(parents=True)
    (logs / "a.jsonl").write_bytes(LINES)
    (logs / "alias.jsonl").symlink_to(logs / "a.jsonl")
    (logs / "gone.jsonl").symlink_to(tmp_path / "nowhere.jsonl")
    out = tmp_path / "t.jsonl"
    r = CliRunner().invoke(
        main,
        [
            "convert",
            "-i",
            str(logs),
            "-i",
            str(tmp_path / "none*.jsonl"),
            "-i",
            str(logs / "empty"),
            "--no-state",
            "-o",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "files read:          1 " in r.stdout  # the alias is the same file: read once
    rejects = [
        json.loads(x)["reason"] for x in (tmp_path / "t.rejects.jsonl").read_text().splitlines()
    ]
    assert sorted(rejects) == [
        "dangling symlink",
        "glob matched no file",
        "no log files in directory",
    ]
    for reason in rejects:
        assert reason in r.stderr
    code, _, err = cli("convert", "-i", str(logs / "empty"), "--no-state", "-o", str(out))
    assert code == 2 and "no input file found" in one_line(err)


def test_file_path_session_keys_do_not_depend_on_how_the_path_is_spelled(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    no_id = [json.loads(x) for x in LINES.splitlines()]
    for rec in no_id:
        rec.pop("session_id", None)
    (logs / "a.jsonl").write_text(
        "\n".join(
            json.dumps(r) for r in no_id if r["type"] not in ("session.created", "session.updated")
        )
    )
    keys = []
    for spelled in (str(logs), os.path.relpath(logs), str(logs) + "/../logs"):
        cli("convert", "-i", spelled, "--no-state", "-o", str(tmp_path / "t.jsonl"))
        keys.append({s["traceId"] for s in read_spans(tmp_path / "t.jsonl")})
    assert keys[0] == keys[1] == keys[2] and len(keys[0]) == 1


def test_a_json_array_or_a_parquet_without_events_is_one_file_reject(tmp_path: Path) -> None:
    import polars as pl

    (tmp_path / "in").mkdir()
    records = [json.loads(x) for x in LINES.splitlines()]
    (tmp_path / "in" / "array.json").write_text(json.dumps(records, indent=1))
    pl.DataFrame({"when": [1, 2], "what": ["a", "b"]}).write_parquet(tmp_path / "in" / "x.parquet")
    code, _, _ = cli(
        "convert", "-i", str(tmp_path / "in"), "--no-state", "-o", str(tmp_path / "t.jsonl")
    )
    assert code == 4
    rejects = [json.loads(x) for x in (tmp_path / "t.rejects.jsonl").read_text().splitlines()]
    assert [(Path(r["file"]).name, r["line"]) for r in rejects] == [
        ("array.json", 0),
        ("x.parquet", 0),
    ]
    assert "JSON array" in rejects[0]["reason"] and "found: when, what" in rejects[1]["reason"]


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_while_retrying_stops_fast_with_summary_and_report(
    tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    """The endpoint answers 503 for ever and the retry budget is 300 s: one signal ends the
    run within seconds, with the summary and the report, and nothing in the dead letter."""
    import time

    from receivers import Action, HttpReceiver

    rec = HttpReceiver(script=lambda n: Action(http_status=503))
    report = tmp_path / "r.json"
    argv = [
        sys.executable,
        "-m",
        "pipeline.cli",
        "convert",
        "-i",
        S,
        "-o",
        str(tmp_path / "t.jsonl"),
    ]
    argv += ["--endpoint", rec.endpoint, "--protocol", "http/protobuf", "--report", str(report)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while len(rec.times) < 2 and time.monotonic() < deadline:  # it is retrying now
            time.sleep(0.05)
        sent = time.monotonic()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=10)
        took = time.monotonic() - sent
    finally:
        proc.kill()
        rec.stop()
    assert proc.returncode == code, err
    assert took < 3, took
    assert "Traceback" not in err and "stopping" in err
    rep = json.loads(report.read_text())
    assert "spans:" in out and rep["spans_delivered"] == 0
    assert rep["sessions_delivered"] + rep["sessions_failed"] <= rep["sessions"]  # counted once
    # every span converted and not delivered is in the dead letter, none twice
    dead = [s["spanId"] for s in read_spans(tmp_path / "t.dead-letter.jsonl")]
    assert len(dead) == len(set(dead)) == rep["spans"] == rep["spans_dead_lettered"] > 0


def test_kill_9_of_a_workers_run_leaves_no_worker_behind(tmp_path: Path) -> None:
    """Worker processes die with their parent (PR_SET_PDEATHSIG), also on kill -9."""
    import time

    logs = tmp_path / "logs"
    subprocess.run(
        [sys.executable, "scripts/gen_logs.py", "--out", str(logs), "--sessions", "300"],
        check=True,
        capture_output=True,
        cwd=SAMPLES.parent,
    )
    argv = [sys.executable, "-m", "pipeline.cli", "convert", "-i", str(logs), "--workers", "2"]
    argv += ["--no-state", "-q", "-o", str(tmp_path / "t.jsonl")]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def children() -> list[int]:
        out = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == proc.pid:
                out.append(int(stat.parent.name))
        return out

    deadline = time.monotonic() + 30
    kids: list[int] = []
    while len(kids) < 2 and time.monotonic() < deadline and proc.poll() is None:
        kids = children()
        time.sleep(0.05)
    assert len(kids) >= 2, "the run never started its workers"
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{k}").exists() for k in kids):
        time.sleep(0.1)
    alive = []
    for k in kids:  # a zombie (reaped by init later) is dead too
        status = Path(f"/proc/{k}/status")
        if status.exists() and "State:\tZ" not in status.read_text():
            alive.append(k)
    assert alive == []


def test_dead_letter_on_a_full_disk_is_one_line(tmp_path: Path) -> None:
    from receivers import Action, HttpReceiver

    refusing = HttpReceiver(script=lambda n: Action(http_status=400, message="no"))
    try:
        code, _, err = cli(
            "convert", "-i", S, "--no-state", "-o", str(tmp_path / "t.jsonl"),
            "--endpoint", refusing.endpoint, "--protocol", "http/protobuf",
            "--dead-letter", "/dev/full",
        )  # fmt: skip
    finally:
        refusing.stop()
    assert code == 7 and "/dev/full: No space left on device" in one_line(err)


def test_state_show_does_not_wait_for_a_running_convert(tmp_path: Path) -> None:
    from pipeline.state.store import StateStore

    db = tmp_path / "s.db"
    cli("convert", "-i", S, "-o", str(tmp_path / "t.jsonl"), "--state", str(db))
    with StateStore(db, "file:x"):  # a run holds the lock
        code, out, _ = cli("state", "show", "--state", str(db))
        assert code == 0 and "9 sessions" in out
        code, _, err = cli("convert", "-i", S, "-o", str(tmp_path / "t.jsonl"), "--state", str(db))
        assert code == 6 and "another realtrace run is using" in one_line(err)


def test_inspect_says_why_it_found_nothing(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    records = [json.loads(x) for x in LINES.splitlines()]
    for r in records:
        r["when"] = r.pop("ts")  # a time key realtrace does not know
    (logs / "a.jsonl").write_text("\n".join(json.dumps(r) for r in records))
    (logs / "b.json").write_text(json.dumps(records))  # a JSON array
    code, out, err = cli("inspect", "-i", str(logs))
    assert code == 4 and "0 sessions" in out
    assert f"no timestamp field: {len(records)}" in err and "a JSON array" in err
    assert "--timestamp-field" in err
    code, out, _ = cli("inspect", "-i", str(logs), "--timestamp-field", "when")
    assert code == 0 and "1 session" in out
