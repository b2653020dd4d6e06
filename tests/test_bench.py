"""Smoke run of scripts/bench.py so the benchmark cannot rot (no timing assertions)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, SAMPLES, read_spans


def test_bench_smoke(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    r = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "bench.py"),
            "--size",
            "2MB",
            "--work",
            str(tmp_path),
            "--json",
            str(out),
            "--profile",
            "--baseline",  # this checkout as its own baseline: the before/after plumbing
            str(ROOT),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads(out.read_text())
    assert set(doc["results"]) == {
        "scan",
        "parse",
        "floor",
        "naive",
        "realtrace-file",
        "realtrace-grpc",
        "realtrace-grpc-gzip",
        "realtrace-audio",
        "realtrace-parquet",
        "baseline-file",
        "baseline-grpc",
    }
    spans = {k: doc["results"][k]["spans"] for k in ("realtrace-grpc", "realtrace-parquet")}
    assert spans["realtrace-grpc"] == spans["realtrace-parquet"]
    assert spans["realtrace-grpc"] == doc["results"]["realtrace-file"]["spans"] > 0
    assert doc["results"]["realtrace-grpc-gzip"]["spans"] == spans["realtrace-grpc"]
    assert doc["results"]["baseline-grpc"]["spans"] == spans["realtrace-grpc"]
    assert doc["results"]["baseline-file"]["spans"] == spans["realtrace-grpc"]
    assert doc["results"]["naive"]["spans"] > 0
    assert set(doc["ratios"]) == {
        "realtrace_grpc_over_floor",
        "realtrace_file_over_floor",
        "naive_over_realtrace_grpc",
        "realtrace_parquet_over_jsonl",
        "realtrace_file_over_parse",
        "realtrace_grpc_over_parse",
        "realtrace_file_over_grpc",
        "naive_over_realtrace_file",
        "realtrace_audio_over_file",
        "realtrace_gzip_over_grpc",
        "baseline_over_realtrace_file",
        "baseline_over_realtrace_grpc",
        "baseline_grpc_over_parse",
        "naive_over_baseline_grpc",
    }
    assert doc["results"]["realtrace-audio"]["spans"] == doc["results"]["realtrace-file"]["spans"]
    assert doc["results"]["realtrace-audio"]["wav_mb"] > 0
    assert "contender" in r.stdout
    # --profile: realtrace's own time per stage, from its run report
    stages = doc["results"]["realtrace-file"]["stage_seconds"]
    assert {"read", "sessionize", "reconstruct", "attributes", "encode", "send"} <= set(stages)
    assert "stages of realtrace-file" in r.stdout


def test_bench_rounds_report_each_contenders_median_run(tmp_path: Path) -> None:
    """--rounds N runs every contender N times in turn; a contender's figures are its median
    run's, and every wall time is kept."""
    out = tmp_path / "bench.json"
    skip = ["floor", "naive", "realtrace-file", "realtrace-grpc", "realtrace-grpc-gzip"]
    skip += ["realtrace-audio", "realtrace-parquet"]
    cmd = [sys.executable, str(ROOT / "scripts" / "bench.py"), "--size", "1MB", "--rounds", "3"]
    cmd += ["--work", str(tmp_path), "--json", str(out), *(f"--skip={s}" for s in skip)]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    results = json.loads(out.read_text())["results"]
    assert set(results) == {"scan", "parse"}
    for res in results.values():
        walls = res["walls_s"]
        assert len(walls) == 3 and res["wall_s"] == sorted(walls)[1]


def test_stages_measures_every_stage_of_what_convert_converts(tmp_path: Path) -> None:
    """scripts/stages.py (the floor: each stage's cost, set against a target's budget)
    measures the product's own work: the lines it counts are the input's, the spans it
    encodes are the spans `realtrace convert` writes for the same files."""
    logs = tmp_path / "logs"
    logs.mkdir()
    for f in SAMPLES.rglob("*.jsonl"):
        shutil.copy(f, logs / f.name)
    lines = sum(len(f.read_bytes().splitlines()) for f in logs.iterdir())
    out = tmp_path / "t.jsonl"
    cli = [sys.executable, "-m", "pipeline.cli", "convert", "-i", str(logs), "-o", str(out)]
    subprocess.run([*cli, "--no-state", "--quiet"], cwd=ROOT, check=True, timeout=120)
    cmd = [sys.executable, str(ROOT / "scripts" / "stages.py"), "--input", str(logs)]
    r = subprocess.run([*cmd, "--repeat", "1"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    head, *rows = r.stdout.splitlines()
    counts = re.fullmatch(r"input: (\d+) files, (\d+) lines, (\d+) events, (\d+) spans", head)
    assert counts is not None, head
    assert counts.groups()[:2] == (str(len(list(logs.iterdir()))), str(lines))
    assert int(counts[4]) == len(read_spans(out)) > 0
    assert re.fullmatch(r"parse floor \(bench.py's, wall\): [\d.]+ s", rows[0]), rows[0]
    measured = {row[:22].strip(): float(row[22:].split()[0]) for row in rows[2:12]}
    assert list(measured) == [
        "read",
        "key",
        "part write",
        "part read",
        "sort, split",
        "reconstruct",
        "attributes",
        "encode (protobuf)",
        "encode (JSON, files)",
        "results to the run",
    ]
    assert all(v >= 0 for v in measured.values()) and measured["read"] > 0
    assert rows[12].startswith("work (protobuf path)")
    assert re.match(r"start-up \(wall\): the run [\d.]+ s, a worker [\d.]+ s", rows[13])
    # seven small files parse in milliseconds: start-up alone is over 5x that
    assert rows[-1] == "start-up alone exceeds the target: no budget is left for the work"
