#!/usr/bin/env python3
"""Where a run's time goes, stage by stage, and what a target leaves for each (the floor).

`bench.py` times whole runs against each other; this measures the work inside one, in one
process, as a worker does it (one Polars thread), stage by stage: process time, best of
`--repeat` passes over the same input, per event and per span. Then it sets the stages
against a target given as a multiple of the parse floor (orjson.loads of every line, as
`bench.py` measures it), on this machine's cores, after process start-up:

    python scripts/stages.py --input logs/                  # the budget of ≤ 5x the floor
    python scripts/stages.py --input logs/ --target 5 --cores 2 --repeat 7

A stage that would have to cost less than nothing, or a sum of stages over the budget,
is a floor: the target cannot be met by tuning what is measured here.
"""

from __future__ import annotations

import argparse
import glob
import os
import pickle
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ["POLARS_MAX_THREADS"] = "1"  # as in a worker process: the processes are the parallelism

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import PARSE  # noqa: E402  (bench.py beside this script: its parse contender)

from pipeline.core.convert import convert_frame  # noqa: E402
from pipeline.core.reconstruct import reconstruct  # noqa: E402
from pipeline.core.root import map_session, summarize  # noqa: E402
from pipeline.core.sessionize import SORT_KEYS, assign_sessions, split_sessions  # noqa: E402
from pipeline.encode import span_bytes, span_json  # noqa: E402
from pipeline.read.chunks import concat_parts, write_part  # noqa: E402
from pipeline.read.load import ReadOptions, load_file  # noqa: E402

CHUNKS = 8  # the local engine's convert tasks: 4 a worker on 2 workers


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """The least process time of `repeat` calls (machines drift: the least is the work),
    and the last call's result."""
    least, out = float("inf"), None
    for _ in range(repeat):
        t = time.process_time()
        out = fn()
        least = min(least, time.process_time() - t)
    return least, out


def start_up(module: str, repeat: int) -> float:
    """Wall seconds for a new interpreter to import `module`: what a run (the CLI) or a
    worker process (the engine) pays before its first event."""
    least = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", f"import {module}"],
            check=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        least = min(least, time.perf_counter() - t)
    return least


def parse_floor(root: str, repeat: int) -> tuple[float, int]:
    """bench.py's parse contender, run the same way (its own process, wall time): the
    yardstick the targets are multiples of. The least of `repeat` runs, and the lines."""
    least, lines = float("inf"), 0
    for _ in range(repeat):
        t = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", PARSE, root], check=True, capture_output=True, text=True
        ).stdout
        least = min(least, time.perf_counter() - t)
        lines = int(out.split()[0])
    return least, lines


def measure(files: list[str], repeat: int) -> tuple[dict[str, float], int, int]:
    """Each stage's least process time over the input, with the counts to scale it by.

    Reading is measured file by file, converting chunk by chunk (as the engine's tasks
    are), keeping one chunk's objects alive at a time: a measurement holding every
    session's objects at once would pay for the collector walking them all."""
    stages: dict[str, float] = {}
    opts = ReadOptions()
    stages["read"], loaded = best(
        lambda: [load_file(f, i, opts).events for i, f in enumerate(files)], repeat
    )
    stages["key"], keyed = best(
        lambda: [assign_sessions(ev) for i, (f, ev) in enumerate(zip(files, loaded, strict=True))],
        repeat,
    )
    with tempfile.TemporaryDirectory() as tmp:
        stages["part write"], stored = best(
            lambda: [write_part(ev, tmp, i) for i, ev in enumerate(keyed)], repeat
        )
        n = min(CHUNKS, len(stored))
        groups = [stored[i::n] for i in range(n)]
        stages["part read"], frames = best(
            lambda: [concat_parts([s.part for s in g]) for g in groups], repeat
        )
    convert = dict.fromkeys(CONVERT, float("inf"))
    for _ in range(repeat):
        spent = dict.fromkeys(CONVERT, 0.0)
        events = spans = 0
        for frame in frames:
            counts = _convert_chunk(frame, spent)
            events, spans = events + counts[0], spans + counts[1]
        convert = {k: min(v, spent[k]) for k, v in convert.items()}
    return stages | convert, events, spans


CONVERT = (
    "sort, split",
    "reconstruct",
    "attributes",
    "encode (protobuf)",
    "encode (JSON, files)",
    "results to the run",
)


def _convert_chunk(frame: Any, spent: dict[str, float]) -> tuple[int, int]:
    """One chunk through the core's stages, each one's process time added to `spent`."""
    clock = time.process_time
    t = clock()
    sessions = list(split_sessions(frame.sort(SORT_KEYS)))
    t1 = clock()
    trees = [reconstruct(se) for se in sessions]
    t2 = clock()
    records = [map_session(tree, summary=summarize(tree)) for tree in trees]
    t3 = clock()
    encoded = [[span_bytes(r) for r in recs] for recs in records]
    t4 = clock()
    for recs in records:
        for r in recs:
            span_json(r)
    t5 = clock()
    spent["sort, split"] += t1 - t
    spent["reconstruct"] += t2 - t1
    spent["attributes"] += t3 - t2
    spent["encode (protobuf)"] += t4 - t3
    spent["encode (JSON, files)"] += t5 - t4
    # what crosses from a worker to the run: each session's result, pickled and unpickled;
    # the chunk is converted again the product's way (untimed) for exactly those objects
    results = list(convert_frame(frame))
    t6 = clock()
    pickle.loads(pickle.dumps(results, protocol=pickle.HIGHEST_PROTOCOL))
    spent["results to the run"] += clock() - t6
    events = sum(len(se.ts) + se.audio_events for se in sessions)
    return events, sum(len(e) for e in encoded)


NOT_WORK = ("encode (JSON, files)",)  # the file path's twin of the protobuf encoding
READING = ("read", "key", "part write", "part read")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--input", required=True, help="directory of JSONL logs (recursive)")
    ap.add_argument("--repeat", type=int, default=5, help="passes per stage; the least counts")
    ap.add_argument("--target", type=float, default=5.0, help="the target, × the parse floor")
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 1, help="cores a run uses")
    args = ap.parse_args(argv)
    files = sorted(glob.glob(os.path.join(args.input, "**", "*.jsonl"), recursive=True))
    if not files:
        raise SystemExit(f"--input {args.input}: no .jsonl files there")
    repeat = max(1, args.repeat)
    floor, lines = parse_floor(args.input, repeat)
    stages, events, spans = measure(files, repeat)
    run_start = start_up("pipeline.cli.app", 3)
    worker_start = start_up("pipeline.engine.local", 3)

    print(f"input: {len(files)} files, {lines} lines, {events} events, {spans} spans")
    print(f"parse floor (bench.py's, wall): {floor:.3f} s")
    print(f"{'stage':<22} {'CPU s':>7} {'µs/event':>9} {'µs/span':>8}")
    for name, s in stages.items():
        print(f"{name:<22} {s:>7.3f} {s / events * 1e6:>9.2f} {s / max(spans, 1) * 1e6:>8.2f}")
    work = sum(s for name, s in stages.items() if name not in NOT_WORK)
    print(f"{'work (protobuf path)':<22} {work:>7.3f} {work / events * 1e6:>9.2f}")
    print(f"start-up (wall): the run {run_start:.3f} s, a worker {worker_start:.3f} s")

    # The target's wall time, less the serial start-up (the run imports, then its workers
    # import before their first file), on every core: what the work may cost in all.
    target_wall = args.target * floor
    budget = (target_wall - run_start - worker_start) * args.cores
    print(f"target {args.target:g}x the parse floor: {target_wall:.3f} s wall")
    if budget <= 0:
        print("start-up alone exceeds the target: no budget is left for the work")
        return 0
    reading = sum(stages[k] for k in READING)
    print(
        f"after start-up, {budget:.3f} CPU-s on {args.cores} cores "
        f"({budget / events * 1e6:.2f} µs an event); the work takes {work / budget:.2f}x that: "
        f"reading into the store {reading:.3f} CPU-s, converting and handing over "
        f"{work - reading:.3f} CPU-s"
    )
    if work > budget:
        print(f"over by {work - budget:.3f} CPU-s: the work must shrink {1 - budget / work:.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
