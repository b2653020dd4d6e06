"""CLI layer: exit codes, summary, rejects file, garbage input, --strict."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from conftest import SAMPLES, traces

from pipeline.cli import main


def test_convert_samples_prints_summary_and_writes_files(tmp_path: Path) -> None:
    out = tmp_path / "o" / "traces.jsonl"
    r = CliRunner().invoke(
        main,
        [
            "convert",
            "--input",
            str(SAMPLES),
            "--output",
            str(out),
            "--tag",
            "nightly",
            "--report",
            str(tmp_path / "rep.json"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "sessions:            9 converted (1 incomplete" in r.output
    assert (tmp_path / "o" / "traces.rejects.jsonl").read_text() == ""
    roots = [t.root for t in traces(out).values()]
    assert all(x["_a"]["braintrust.tags"][-1] == "nightly" for x in roots)
    report = json.loads((tmp_path / "rep.json").read_text())
    assert report["sessions"] == 9 and report["spans"] == sum(
        len(t.spans) for t in traces(out).values()
    )
    stages = report["stage_seconds"]  # where the time went, per stage
    assert set(stages) == {"read", "sessionize", "reconstruct", "attributes", "encode", "send"}
    assert all(v >= 0 for v in stages.values()) and sum(stages.values()) <= report["wall_seconds"]


def test_directory_of_garbage_does_not_crash(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.jsonl").write_text("garbage\n{]\n")
    rng = random.Random(7)
    (logs / "b.jsonl").write_bytes(rng.randbytes(4096) + "\u2028\x85".encode())
    (logs / "c.parquet").write_bytes(rng.randbytes(100))
    out = tmp_path / "t.jsonl"
    r = CliRunner().invoke(main, ["convert", "-i", str(logs), "-o", str(out)])
    assert r.exit_code == 7, r.output  # a file that cannot be read (c.parquet) is loud
    rejects = [json.loads(x) for x in (tmp_path / "t.rejects.jsonl").read_text().splitlines()]
    assert {Path(x["file"]).name for x in rejects} == {"a.jsonl", "b.jsonl", "c.parquet"}
    assert {x["line"] for x in rejects if x["file"].endswith("a.jsonl")} == {1, 2}


def test_mixed_good_and_bad_converts_the_rest_and_strict_fails(tmp_path: Path) -> None:
    good = (SAMPLES / "2025-11-24" / "cut_off_beta.jsonl").read_text()
    path = tmp_path / "mixed.jsonl"
    path.write_text("oops\n" + good + '{"ts": 1, "event": {"type": "brand.new.event"}}\n')
    r = CliRunner().invoke(main, ["convert", "-i", str(path), "-o", str(tmp_path / "t.jsonl")])
    assert r.exit_code == 0, r.output
    assert "1 rejected" in r.output and "unknown event types: 1" in r.output
    r = CliRunner().invoke(
        main,
        ["convert", "-i", str(path), "-o", str(tmp_path / "t.jsonl"), "--strict", "--no-state"],
    )
    assert r.exit_code == 5


def test_missing_input_is_a_config_error(tmp_path: Path) -> None:
    r = CliRunner().invoke(
        main, ["convert", "-i", str(tmp_path / "nope"), "-o", str(tmp_path / "t.jsonl")]
    )
    assert r.exit_code == 2 and "input not found" in r.output


def test_console_script_help() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "convert", "--help"], capture_output=True, text=True
    )
    assert r.returncode == 0 and "--input" in r.stdout and "Exit codes" in r.stdout


def test_json_log_lines_for_cron(tmp_path: Path) -> None:
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline.cli",
            "convert",
            "-i",
            str(SAMPLES),
            "-o",
            str(tmp_path / "t.jsonl"),
            "--progress",
            "log",
            "--log-format",
            "json",
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    logs = [json.loads(line) for line in r.stderr.splitlines()]
    assert [x["message"] for x in logs] == [
        "reading (9 files, 3.1 MB)",
        "converting and sending (9 sessions)",
    ]
    assert all(x["level"] == "info" for x in logs)
