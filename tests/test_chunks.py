"""Bounded memory: spilled, chunked runs produce exactly the output of an in-memory run."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import SAMPLES, read_spans

from pipeline.config import RunConfig
from pipeline.read.chunks import EventStore
from pipeline.run import run_convert


def canonical(path: Path) -> list[str]:
    spans = read_spans(path)
    for s in spans:
        s.pop("_a")
    return sorted(json.dumps(s, sort_keys=True) for s in spans)


def test_rotated_session_across_files_survives_spilling_and_chunking(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    lines = (SAMPLES / "2025-11-24" / "voice_ga.jsonl").read_text().splitlines()
    third = len(lines) // 3
    # rotated out of order: the tail is in the first file name
    (logs / "a-part3.jsonl").write_text("\n".join(lines[2 * third :]) + "\n")
    (logs / "b-part1.jsonl").write_text("\n".join(lines[:third]) + "\n")
    (logs / "c-other.jsonl").write_text((SAMPLES / "2025-11-24" / "cut_off_beta.jsonl").read_text())
    (logs / "d-part2.jsonl").write_text("\n".join(lines[third : 2 * third]) + "\n")
    whole = tmp_path / "whole.jsonl"
    run_convert(
        RunConfig.to_file(
            inputs=(
                str(SAMPLES / "2025-11-24" / "voice_ga.jsonl"),
                str(SAMPLES / "2025-11-24" / "cut_off_beta.jsonl"),
            ),
            output=whole,
        )
    )
    chunked = tmp_path / "chunked.jsonl"
    spill = tmp_path / "spill"
    spill.mkdir()
    r = run_convert(
        RunConfig.to_file(
            inputs=(str(logs),), output=chunked, memory_budget=1, chunk_bytes=1, spill_dir=spill
        )
    )
    assert r.stats.sessions == 2
    assert canonical(chunked) == canonical(whole)
    assert list(spill.iterdir()) == []  # spill files are removed after the run


def test_components_group_files_sharing_a_session() -> None:
    import polars as pl

    store = EventStore(memory_budget=0)
    try:
        for fid, keys in enumerate([["a"], ["b"], ["a", "c"], ["c"], ["d"]]):
            store.add(
                fid,
                pl.DataFrame(
                    {
                        "session_key": keys,
                        "ts_ns": [1] * len(keys),
                        "file": [fid] * len(keys),
                        "line": list(range(len(keys))),
                    }
                ),
            )
        assert store.components() == [[0, 2, 3], [1], [4]]
        chunks = list(store.chunks(chunk_bytes=1))
        assert [sorted(set(c["session_key"])) for c in chunks] == [["a", "c"], ["b"], ["d"]]
        assert store.spilled == 5
    finally:
        store.close()


def test_convert_frame_is_the_engine_agnostic_core(tmp_path: Path, sample_run: Path) -> None:
    """A frame of several sessions in, encoded spans out: what a worker or Ray task calls."""
    from pipeline.core.convert import convert_frame
    from pipeline.encode import spans_from_bytes
    from pipeline.inspection import load_sessions
    from pipeline.read.files import find_inputs

    frame, _, _ = load_sessions(find_inputs([str(SAMPLES)])[0])
    sessions = list(convert_frame(frame))
    assert len(sessions) == 9
    got = sorted(sp.span_id.hex() for s in sessions for sp in spans_from_bytes(s.spans))
    assert got == sorted(s["spanId"] for s in read_spans(sample_run))


def test_bulk_parquet_generation_converts(tmp_path: Path) -> None:
    from gen_logs import write_bulk

    n, _ = write_bulk(tmp_path / "pq", sessions=4, size=None, seed=3, per_file=2, fmt="parquet")
    out = tmp_path / "t.jsonl"
    r = run_convert(RunConfig.to_file(inputs=(str(tmp_path / "pq"),), output=out))
    assert n == 4 and r.stats.sessions == 4 and r.stats.rejected_lines == 0


def test_worker_processes_give_the_same_output_and_state(tmp_path: Path, sample_run: Path) -> None:
    """Workers write the events they read to the run's directory and convert tasks read them
    back: the same spans, the same counts, and nothing left on disk."""
    out = tmp_path / "w.jsonl"
    state = tmp_path / "state.db"
    spill = tmp_path / "spill"
    spill.mkdir()
    cfg = RunConfig.to_file(
        inputs=(str(SAMPLES),), output=out, workers=2, chunk_bytes=1, state=state, spill_dir=spill
    )
    first = run_convert(cfg)
    assert first.exit_code == 0 and first.stats.sessions == 9
    assert canonical(out) == canonical(sample_run)
    single = run_convert(
        RunConfig.to_file(inputs=(str(SAMPLES),), output=tmp_path / "1.jsonl", state=None)
    )
    counts = ("files", "lines_read", "blank_lines", "events", "rejected_lines", "spans")
    assert [getattr(first.stats, c) for c in counts] == [getattr(single.stats, c) for c in counts]
    assert first.stats.events > 0 and list(spill.iterdir()) == []
    again = run_convert(cfg)  # hashes computed in the workers reached the state
    assert again.exit_code == 4 and again.stats.sessions_skipped == 9


def test_auto_workers_by_events_and_one_per_file_at_most(tmp_path: Path) -> None:
    """Processes pay off by events, not bytes; files are the unit of reading: one big file
    gets one process (a second would wait)."""
    import os

    from pipeline.engine.local import auto_workers

    def lines(name: str, n: int, width: int = 20) -> str:
        path = tmp_path / name
        path.write_bytes((b"x" * (width - 1) + b"\n") * n)
        return str(path)

    assert auto_workers([lines("small.jsonl", 1_000)]) == 1
    assert auto_workers([lines("big.jsonl", 300_000)]) == 1  # one file: one reader
    two = [lines("a.jsonl", 80_000), lines("b.jsonl", 80_000)]
    assert auto_workers(two) == min(os.cpu_count() or 1, 4, 2)
    # the same bytes in long lines (audio payloads) hold few events: not worth a process
    few = [lines("c.jsonl", 4_000, width=400), lines("d.jsonl", 4_000, width=400)]
    assert auto_workers(few) == 1


def test_spawned_workers_do_not_run_the_console_script_again(tmp_path: Path) -> None:
    """Run as a script (as the `realtrace` console script is), the parent's workers must not
    execute it again on start: that imported the whole CLI in each (+0.3 s a run)."""
    import subprocess
    import sys

    (tmp_path / "probe.py").write_text(
        "import sys\n\n\ndef loaded():\n"
        "    return sorted(m for m in ('click', 'grpc', 'requests') if m in sys.modules)\n"
    )
    script = tmp_path / "script.py"
    script.write_text(
        "import pipeline.cli  # what the console script imports first\n"
        "import probe\n"
        "from pipeline.engine.local import Workers\n"
        "if __name__ == '__main__':\n"
        "    with Workers(2) as w:\n"
        "        print(list(w.map(probe.loaded, [()])))\n"
    )
    run = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[[]]"
