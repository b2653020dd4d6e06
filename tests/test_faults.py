"""Nothing lost, nothing stuck: the invariants a nightly run keeps against real faults.

Every span not delivered is in the dead letter; a dead letter loses only what was
delivered since; spans a backend always refuses are told apart, kept with its message
and not sent again; every wait has a deadline; what cannot be read is a reject.
Real loopback receivers (tests/receivers.py), real files, real processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from conftest import ROOT, SAMPLES, read_spans
from receivers import OK, Action, DripReceiver, GrpcReceiver, HttpReceiver

from pipeline.cli import main

DAY1 = ("voice_ga.jsonl", "barge_in_beta.jsonl", "errors_ga.jsonl")
DAY2 = ("webrtc_ga.jsonl", "cut_off_beta.jsonl")


@pytest.fixture
def days(tmp_path: Path) -> tuple[Path, Path]:
    """Two nights of logs: three sessions, then two others."""
    out = []
    for name, files in (("day1", DAY1), ("day2", DAY2)):
        d = tmp_path / name
        d.mkdir()
        for f in files:
            (d / f).write_bytes((SAMPLES / "2025-11-24" / f).read_bytes())
        out.append(d)
    return out[0], out[1]


@pytest.fixture
def stop_later() -> Iterator[list[Any]]:
    made: list[Any] = []
    yield made
    for r in made:
        r.stop()


def convert(tmp: Path, inputs: Path, endpoint: str, *extra: str) -> Result:
    args = ["convert", "-i", str(inputs), "-o", str(tmp / "out" / "t.jsonl"), "-q"]
    args += ["--endpoint", endpoint, "--protocol", "http/protobuf", "--max-batch-spans", "5"]
    args += ["--report", str(tmp / "report.json"), *extra]
    return CliRunner().invoke(main, args, env={"BRAINTRUST_API_KEY": ""})


def ids(path: Path) -> set[str]:
    return {s["spanId"] for s in read_spans(path)} if path.exists() else set()


def test_a_dead_letter_survives_a_night_over_other_logs_and_leaves_when_delivered(
    tmp_path: Path, days: tuple[Path, Path], stop_later: list[Any]
) -> None:
    day1, day2 = days
    dead = tmp_path / "out" / "t.dead-letter.jsonl"
    broken = {"now": True}  # one endpoint, refusing the first night (a dead letter is its own)
    up = HttpReceiver(
        script=lambda n: Action(http_status=400, message="bad") if broken["now"] else OK
    )
    stop_later.append(up)
    night1 = convert(tmp_path, day1, up.endpoint)
    assert night1.exit_code == 3
    undelivered = ids(dead)
    assert len(undelivered) > 20
    broken["now"] = False
    night2 = convert(tmp_path, day2, up.endpoint)  # other logs: day 1's sessions not sent
    assert night2.exit_code == 0, night2.output
    assert ids(dead) == undelivered  # still there, whole
    night3 = convert(tmp_path, day1, up.endpoint)  # the failed sessions, sent again
    assert night3.exit_code == 0, night3.output
    assert undelivered <= set(up.span_ids)
    assert not dead.exists()  # everything in it was delivered: gone


def test_a_stop_leaves_every_span_not_delivered_in_the_dead_letter(
    tmp_path: Path, stop_later: list[Any]
) -> None:
    """Credentials refused after some batches, no state: what was converted and not
    delivered is in the dead letter, none of it twice, none of it delivered."""
    rec = HttpReceiver(script=lambda n: Action(http_status=401) if n > 3 else Action())
    stop_later.append(rec)
    r = convert(tmp_path, SAMPLES, rec.endpoint, "--no-state", "--concurrency", "1")
    assert r.exit_code == 2, r.output
    rep = json.loads((tmp_path / "report.json").read_text())
    dead = [s["spanId"] for s in read_spans(tmp_path / "out" / "t.dead-letter.jsonl")]
    assert len(dead) == len(set(dead)) == rep["spans_dead_lettered"]
    assert rep["spans_delivered"] + rep["spans_dead_lettered"] == rep["spans"]
    assert not set(dead) & set(rec.span_ids)


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_spans_a_backend_refuses_are_found_kept_and_not_sent_every_night(
    tmp_path: Path, stop_later: list[Any], protocol: str
) -> None:
    def refuse(span: Any) -> bool:
        return span.name.startswith("execute_tool")  # this backend never takes tool spans

    rec: Any = (GrpcReceiver if protocol == "grpc" else HttpReceiver)()
    rec.refuse = refuse
    stop_later.append(rec)
    args = ["--protocol", protocol, "--max-batch-spans", "20"]
    first = convert(tmp_path, SAMPLES, rec.endpoint, *args)
    assert first.exit_code == 3, first.output
    rep = json.loads((tmp_path / "report.json").read_text())
    rejected_file = tmp_path / "out" / "t.rejected.jsonl"
    kept = read_spans(rejected_file)
    # OTLP forbids sending a request answered with partial success again: each span was
    # received exactly once (accepted or refused), and the requests with refusals are kept
    # whole, with the backend's message and count
    receptions = Counter(rec.span_ids + rec.refused)
    assert set(receptions.values()) == {1} and len(receptions) == rep["spans"] == 98
    assert rep["requests"] == len(rec.times) and rep["retries"] == 0
    assert set(rec.refused) <= {s["spanId"] for s in kept}
    assert rep["spans_rejected_by_backend"] == len(rec.refused) == 4
    text = rejected_file.read_text()
    assert "spans refused: refused" in text  # the count and the backend's message
    sessions = {s["traceId"] for s in kept}
    assert rep["sessions_rejected"] == len(sessions) and rep["sessions_delivered"] == 9 - len(
        sessions
    )
    refused = [s for s in kept if s["spanId"] in set(rec.refused)]
    received = len(rec.span_ids)
    second = convert(tmp_path, SAMPLES, rec.endpoint, *args)
    assert second.exit_code == 4, second.output  # nothing new: the refused session stays put
    assert len(rec.span_ids) == received
    # replay is the way to send them again; its own refusals go to its own file
    again = CliRunner().invoke(
        main, ["replay", str(rejected_file), "--endpoint", rec.endpoint, "--protocol", protocol]
    )
    assert again.exit_code == 3, again.output
    assert ids(tmp_path / "out" / "t.rejected.rejected.jsonl") == {s["spanId"] for s in kept}
    assert {s["spanId"] for s in refused} == set(rec.refused[:4])


def test_a_dripping_server_ends_at_the_deadline_and_nothing_is_lost(
    tmp_path: Path, stop_later: list[Any]
) -> None:
    """A server sending a byte a second: each request ends at --timeout, for the whole
    request, and every span is in the dead letter (it once held a run for good)."""
    drip = DripReceiver(answer_first=True)  # the first contact goes through
    stop_later.append(drip)
    t0 = time.monotonic()
    r = convert(
        tmp_path, SAMPLES, drip.endpoint, "--timeout", "1", "--max-retry-time", "2", "--no-state"
    )
    took = time.monotonic() - t0
    assert r.exit_code == 3, r.output
    assert took < 15, took
    assert "no complete answer within 1 s" in r.output
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["spans_dead_lettered"] == rep["spans"] == 98


def test_a_server_dripping_at_first_contact_ends_the_run_there(
    tmp_path: Path, stop_later: list[Any]
) -> None:
    from conftest import FakeClock

    from pipeline.config import RunConfig
    from pipeline.errors import UnreachableError
    from pipeline.run import run_convert
    from pipeline.send.destination import OtlpDestination
    from pipeline.send.settings import ExportConfig

    drip = DripReceiver()
    stop_later.append(drip)
    clock = FakeClock()  # the waits between attempts; each attempt's deadline is real
    files = (tmp_path / "dead.jsonl", tmp_path / "rejected.jsonl")
    export = ExportConfig(drip.endpoint, "http/protobuf", timeout=1)
    dest = OtlpDestination(export, *files, clock=clock)
    with pytest.raises(UnreachableError, match="no complete answer within 1 s"):
        run_convert(RunConfig((str(SAMPLES),), dest, tmp_path / "t.jsonl"))
    assert clock.waits == [0.5, 1.0, 2.0]
    # the server counts a request once its thread has read it whole: under a loaded suite
    # that can come after the client gave up on its answer (it failed once that way)
    deadline = time.monotonic() + 10
    while drip.requests < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert drip.requests == 4


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_to_the_group_while_a_server_drips_stops_within_two_seconds(
    tmp_path: Path, stop_later: list[Any], sig: signal.Signals
) -> None:
    drip = DripReceiver(answer_first=True)  # the run is past its first contact
    stop_later.append(drip)
    report = tmp_path / "r.json"
    argv = [sys.executable, "-m", "pipeline.cli", "convert", "-i", str(SAMPLES)]
    argv += ["-o", str(tmp_path / "t.jsonl"), "--endpoint", drip.endpoint, "--no-state"]
    argv += ["--protocol", "http/protobuf", "--report", str(report)]
    argv += ["--workers", "2"]  # worker processes in the group too
    proc = subprocess.Popen(
        argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 30
        while drip.requests < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)  # a request of spans is under way, dripping
        sent = time.monotonic()
        os.killpg(proc.pid, sig)  # the whole group, as systemd and `timeout` signal it
        out, err = proc.communicate(timeout=10)
        took = time.monotonic() - sent
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert took < 2, took
    assert proc.returncode == 128 + sig, err
    assert b"Traceback" not in err and b"leaked" not in err and b"files read:" in out
    rep = json.loads(report.read_text())  # the report is written
    assert rep["spans_dead_lettered"] == rep["spans"] - rep["spans_delivered"]


def test_an_html_page_with_200_is_not_a_delivery(tmp_path: Path, stop_later: list[Any]) -> None:
    page = "<html><body>Welcome to nginx!</body></html>"
    rec = HttpReceiver(script=lambda n: Action(html=page))
    stop_later.append(rec)
    r = convert(tmp_path, SAMPLES, rec.endpoint)
    assert r.exit_code == 3, r.output
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["spans_delivered"] == 0 and rep["sessions_delivered"] == 0
    assert "text/html, not an OTLP response" in r.output and "Welcome to nginx" in r.output


def test_listing_ends_on_symlink_cycles_and_skips_fifos(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.jsonl").write_bytes((SAMPLES / "2025-11-24" / "voice_ga.jsonl").read_bytes())
    (logs / "loop1").symlink_to(".")
    (logs / "loop2").symlink_to(".")
    (logs / "sub").mkdir()
    (logs / "sub" / "up").symlink_to("..")
    os.mkfifo(logs / "x.jsonl")
    out = tmp_path / "t.jsonl"
    t0 = time.monotonic()
    r = CliRunner().invoke(main, ["convert", "-i", str(logs), "-o", str(out), "--no-state"])
    assert time.monotonic() - t0 < 10
    assert r.exit_code == 0, r.output
    assert "1 converted" in r.output  # a.jsonl once, however many ways lead to it
    rejects = (tmp_path / "t.rejects.jsonl").read_text()
    assert "x.jsonl" in rejects and "not a regular file" in rejects
    r = CliRunner().invoke(main, ["convert", "-i", str(logs / "x.jsonl"), "-o", str(out)])
    assert r.exit_code == 2 and "not a regular file" in r.output  # the FIFO alone: nothing


def test_timestamps_beyond_what_otlp_carries_are_rejects(tmp_path: Path) -> None:
    event = {"type": "session.created", "session": {"id": "s"}}
    lines = [
        {"timestamp": ts, "session_id": "s", "event": event}
        for ts in ("9999-12-31T00:00:00Z", "0001-01-01T00:00:00Z", "2600-01-01T00:00:00Z")
    ]
    lines += [{"timestamp": n, "session_id": "s", "event": event} for n in (99999999999, -5)]
    lines.append({"timestamp": "2025-11-24T16:00:00Z", "session_id": "ok", "event": event})
    log = tmp_path / "t.jsonl"
    log.write_text("".join(json.dumps(x) + "\n" for x in lines))
    out = tmp_path / "o.jsonl"
    r = CliRunner().invoke(main, ["convert", "-i", str(log), "-o", str(out), "--no-state"])
    assert r.exit_code == 0, r.output
    rejects = [json.loads(x) for x in (tmp_path / "o.rejects.jsonl").read_text().splitlines()]
    assert [x["line"] for x in rejects] == [1, 2, 3, 4, 5]
    assert all(x["reason"].startswith("timestamp out of range") for x in rejects)
    (span,) = read_spans(out)
    assert int(span["startTimeUnixNano"]) == 1_764_000_000 * 10**9


def test_the_run_never_reads_its_own_output(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.jsonl").write_bytes((SAMPLES / "2025-11-24" / "voice_ga.jsonl").read_bytes())
    for _ in range(3):  # output, rejects, report and state all beside the logs
        r = CliRunner().invoke(
            main,
            [
                "convert",
                "-i",
                str(logs),
                "-o",
                str(logs / "t.jsonl"),
                "--full",
                "--report",
                str(logs / "r.json"),
            ],
        )
        assert r.exit_code == 0, r.output
        assert "files read:          1 " in r.output
    assert (logs / "t.rejects.jsonl").read_text() == ""


_MEASURE = """import os, subprocess, sys
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
_, status, usage = os.wait4(p.pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)"""


def _peak_rss_mb(argv: list[str]) -> tuple[int, float]:
    """Run a child to its end; its exit code and peak resident memory (MB), from wait4.
    Started from a small Python process: a child forked from this (large) test process
    would count the parent's pages it held before its exec."""
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, *argv], cwd=ROOT, capture_output=True, text=True
    )
    code, kb = out.stdout.split()
    return int(code), int(kb) / 1024


@pytest.mark.parametrize("shape", ["blank lines", "junk lines", "a 100 MB line", "a gzip bomb"])
def test_memory_is_bounded_by_bytes_whatever_the_lines(tmp_path: Path, shape: str) -> None:
    """Peak RSS under 300 MB (before: 1 M blank lines 0.33 GB, a 100 MB line 1.3 GB, a
    300 MB line from a 300 kB gzip 4 GB); the rejects file lists 1,000 lines a file."""
    import gzip

    log = tmp_path / "in.jsonl"
    if shape == "blank lines":
        log.write_bytes(b"\n" * 1_000_000)
    elif shape == "junk lines":
        log.write_bytes(b"x\n" * 1_000_000)
    elif shape == "a 100 MB line":
        with log.open("wb") as fh:
            fh.write(b'{"timestamp":"2025-11-24T16:00:00Z","pad":"')
            for _ in range(100):
                fh.write(b"a" * (1 << 20))
            fh.write(b'"}\n')
    else:
        log = tmp_path / "in.jsonl.gz"
        with gzip.open(log, "wb", compresslevel=9) as fh:
            fh.write(b'{"timestamp":"2025-11-24T16:00:00Z","pad":"')
            for _ in range(300):
                fh.write(b"a" * (1 << 20))
            fh.write(b'"}\n')
    out = tmp_path / "t.jsonl"
    argv = [sys.executable, "-m", "pipeline.cli", "convert", "-i", str(log), "-o", str(out)]
    code, peak = _peak_rss_mb([*argv, "--no-state", "-q"])
    assert code == 4  # nothing convertible: every line is a reject or blank
    assert peak < 300, f"{shape}: peak RSS {peak:.0f} MB"
    rejects = (tmp_path / "t.rejects.jsonl").read_text().splitlines()
    assert len(rejects) <= 1001
    if shape in ("a 100 MB line", "a gzip bomb"):
        (only,) = map(json.loads, rejects)
        assert only["reason"].startswith("line over --max-line-bytes: ")
        assert only["reason"].endswith("bytes, over 67,108,864: not read")


@pytest.mark.parametrize(
    ("workers", "sig"),
    [("1", signal.SIGTERM), ("2", signal.SIGTERM), ("2", signal.SIGINT), ("2", signal.SIGHUP)],
)
def test_a_signal_to_the_process_group_while_big_files_are_read_stops_within_two_seconds(
    tmp_path: Path, workers: str, sig: signal.Signals
) -> None:
    """Reading checks for a stop between slices, and worker processes are ended. Each
    file is 20 kB of gzip holding 16 M blank lines: about 20 s of reading. The signal goes to
    the whole process group, workers included, as Ctrl-C in a terminal, `timeout` and
    systemd's KillMode=control-group send it: the workers leave it to the run, which stops
    as cleanly as when it alone is signalled."""
    import gzip

    logs = tmp_path / "logs"
    logs.mkdir()
    for f in range(2):
        with gzip.open(logs / f"big{f}.jsonl.gz", "wb", compresslevel=9) as fh:
            for _ in range(16):
                fh.write(b"\n" * 1_000_000)
    report = tmp_path / "r.json"
    argv = [sys.executable, "-m", "pipeline.cli", "convert", "-i", str(logs), "--no-state"]
    argv += ["-o", str(tmp_path / "t.jsonl"), "--report", str(report), "--workers", workers]
    proc = subprocess.Popen(
        argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # "reading (2 files)": reading has begun
        assert b"reading" in line, line
        time.sleep(1.0)  # the workers are up and reading
        sent = time.monotonic()
        os.killpg(proc.pid, sig)
        out, err = proc.communicate(timeout=20)
        took = time.monotonic() - sent
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 128 + sig, err
    assert took < 2, took
    assert json.loads(report.read_text())["spans_delivered"] == 0
    text = err.decode()
    for bad in ("Traceback", "BrokenProcessPool", "leaked semaphore", "Aborted", "a bug"):
        assert bad not in text, text
    assert b"files read:" in out  # the summary


def test_a_signal_during_replay_keeps_what_was_sent_and_files_the_rest(
    tmp_path: Path, sample_run: Path, stop_later: list[Any]
) -> None:
    slow = HttpReceiver(script=lambda n: Action(delay=0.3))
    stop_later.append(slow)
    report, again = tmp_path / "r.json", tmp_path / "again.jsonl"
    argv = [
        sys.executable,
        "-m",
        "pipeline.cli",
        "replay",
        str(sample_run),
        "--report",
        str(report),
    ]
    argv += [
        "--endpoint",
        slow.endpoint,
        "--protocol",
        "http/protobuf",
        "--dead-letter",
        str(again),
    ]
    argv += ["--max-batch-spans", "5", "--concurrency", "1"]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while len(slow.times) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 143, err
    rep = json.loads(report.read_text())
    assert 0 < rep["spans_delivered"] < 98 and b"retry file:" in out
    # every span of the file delivered or in the retry file; in both, at most the one
    # request under way when the signal came (its answer never came: sent again, same ids)
    retry = ids(again)
    assert retry | set(slow.span_ids) == ids(sample_run)
    assert len(retry & set(slow.span_ids)) <= 5


def test_logrotate_copies_are_read_and_a_truncated_zst_says_so(tmp_path: Path) -> None:
    import gzip
    import random

    import zstandard

    logs = tmp_path / "logs"
    logs.mkdir()
    src = SAMPLES / "2025-11-24"
    (logs / "app.jsonl").write_bytes((src / "voice_ga.jsonl").read_bytes())
    (logs / "app.jsonl.1").write_bytes((src / "barge_in_beta.jsonl").read_bytes())
    (logs / "app.jsonl.2.gz").write_bytes(gzip.compress((src / "errors_ga.jsonl").read_bytes()))
    (logs / "app.log-20251124").write_bytes((src / "webrtc_ga.jsonl").read_bytes())
    # a call logged with a field of noise a line: zstd cannot squeeze it into a few blocks, so
    # half the archive holds whole blocks (the samples' tones compress 650:1)
    rng = random.Random(3)
    lines = (src / "cut_off_beta.jsonl").read_text().splitlines() * 50
    noisy = "".join(
        json.dumps({**json.loads(x), "pad": rng.randbytes(300).hex()}) + "\n" for x in lines
    )
    whole = zstandard.ZstdCompressor().compress(noisy.encode())
    (logs / "cut.jsonl.zst").write_bytes(whole[: len(whole) // 2])
    out = tmp_path / "t.jsonl"
    r = CliRunner().invoke(main, ["convert", "-i", str(logs), "-o", str(out), "--no-state"])
    assert r.exit_code == 7, r.output  # the damaged archive is loud
    assert (
        "files read:          5 " in r.output and "5 converted" in r.output
    )  # zst: its whole blocks
    rejects = (tmp_path / "t.rejects.jsonl").read_text()
    assert "zstd file ended before its frame did (truncated)" in rejects


def test_secrets_never_show_in_any_form(tmp_path: Path, stop_later: list[Any]) -> None:
    import base64

    key = "sk-SECRETKEY1234567890abcdef"
    echo = f"bad key {key[:13]}... ({base64.b64encode(key.encode()).decode()})"
    rec = HttpReceiver(script=lambda n: Action(http_status=400, message=echo))
    stop_later.append(rec)
    args = ["convert", "-i", str(SAMPLES), "-o", str(tmp_path / "t.jsonl"), "--no-state"]
    args += ["--endpoint", rec.endpoint, "--protocol", "http/protobuf"]
    args += ["--header", f"x-api-key={key}"]
    args += ["--report", str(tmp_path / "r.json"), "--log-format", "json"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 3
    seen = r.output + "".join(p.read_text() for p in tmp_path.iterdir() if p.is_file())
    assert "bad key ***" in r.output
    assert key[:8] not in seen and base64.b64encode(key.encode()).decode() not in seen
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "https://u:hunter22pass@c.example/otel?token=abc123xyz"}
    for argv in (["config"], ["convert", "-i", str(SAMPLES), "--print-config"]):
        shown = CliRunner().invoke(main, argv, env=env).output
        assert "c.example" in shown and "hunter22pass" not in shown and "abc123xyz" not in shown


def test_what_realtrace_writes_is_private_and_orphaned_spill_dirs_go(
    tmp_path: Path, stop_later: list[Any]
) -> None:
    import stat

    from pipeline.config import RunConfig
    from pipeline.run import run_convert

    down = HttpReceiver(script=lambda n: Action(http_status=400))
    stop_later.append(down)
    r = convert(tmp_path, SAMPLES, down.endpoint)  # dead letter, rejects, report, state
    assert r.exit_code == 3
    made = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    made.append(tmp_path / "report.json")
    assert {p.name for p in made} >= {"t.dead-letter.jsonl", "t.rejects.jsonl", "state.db"}
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in made), [
        (p.name, oct(p.stat().st_mode)) for p in made
    ]
    spill = tmp_path / "spill"
    orphan = spill / "realtrace-spill-999999999-abc"  # a run killed with -9: no such process
    (orphan / "x").mkdir(parents=True)
    mine = spill / f"realtrace-spill-{os.getpid()}-abc"  # a live process's: kept
    mine.mkdir()
    cfg = RunConfig.to_file((str(SAMPLES),), tmp_path / "t.jsonl", memory_budget=0, spill_dir=spill)
    assert run_convert(cfg).exit_code == 0
    assert not orphan.exists() and mine.exists()


def test_a_signal_while_a_grpc_call_hangs_stops_within_two_seconds(
    tmp_path: Path, stop_later: list[Any]
) -> None:
    hung = GrpcReceiver(script=lambda n: Action(delay=20))
    stop_later.append(hung)
    argv = [sys.executable, "-m", "pipeline.cli", "convert", "-i", str(SAMPLES), "--no-state"]
    argv += ["-o", str(tmp_path / "t.jsonl"), "--endpoint", hung.endpoint, "--protocol", "grpc"]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not hung.times and time.monotonic() < deadline:
            time.sleep(0.02)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
        took = time.monotonic() - sent
    finally:
        proc.kill()
    assert proc.returncode == 143 and took < 2, took
    dead = ids(tmp_path / "t.dead-letter.jsonl")
    assert len(dead) == 98  # nothing was acknowledged: all of it is in the dead letter


def test_a_session_id_with_a_newline_does_not_make_its_file_read_every_night(
    tmp_path: Path,
) -> None:
    from pipeline.config import RunConfig
    from pipeline.run import run_convert

    event = {"type": "session.updated", "session": {"model": "gpt-realtime"}}
    line = {"timestamp": "2025-11-24T16:00:00Z", "session_id": "call\nleg-2", "event": event}
    log = tmp_path / "logs" / "a.jsonl"
    log.parent.mkdir()
    log.write_text(json.dumps(line) + "\n")
    cfg = RunConfig.to_file((str(log.parent),), tmp_path / "t.jsonl", state=tmp_path / "s.db")
    assert run_convert(cfg).exit_code == 0
    again = run_convert(cfg)
    assert again.exit_code == 4 and again.stats.files_skipped == 1 and again.stats.files == 0


def test_a_json_array_in_a_zst_file_bigger_than_a_block_is_one_file_reject(tmp_path: Path) -> None:
    """The zstd reader gives a whole read, not one block: the array is recognised."""
    import zstandard

    pads = [os.urandom(500).hex() for _ in range(300)]  # incompressible: many zstd blocks
    events = [{"timestamp": "2025-11-24T16:00:00Z", "type": "x", "pad": p} for p in pads]
    (tmp_path / "a.json.zst").write_bytes(
        zstandard.ZstdCompressor().compress(json.dumps(events).encode())
    )
    out = tmp_path / "t.jsonl"
    r = CliRunner().invoke(main, ["convert", "-i", str(tmp_path / "a.json.zst"), "-o", str(out)])
    (reject,) = map(json.loads, (tmp_path / "t.rejects.jsonl").read_text().splitlines())
    assert r.exit_code == 4 and "a JSON array, not JSON lines" in reject["reason"]
