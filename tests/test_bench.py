"""Smoke run of scripts/bench.py so the benchmark cannot rot (no timing assertions)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import ROOT


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
