#!/usr/bin/env python3
"""Benchmark realtrace against the Polars parse floor and the naive OTel SDK script, in one run.

Each contender runs as its own subprocess on the same generated input; wall
time and peak RSS (ru_maxrss of that child) are measured, and ratios are taken
within the run (machines are noisy: compare ratios, not seconds).

    python scripts/bench.py --size 1GB            # generates the input once, under --work
    python scripts/bench.py --input /data/logs    # an existing log directory
    python scripts/bench.py --size 2MB --smoke    # seconds; what the test suite runs
    python scripts/bench.py --size 2MB --skip naive --report-sessions 10000   # the HTML report
                                               # (and a 45-minute call's page)

Contenders:
  scan             a Python loop over the lines (the line-scan floor)
  parse            orjson.loads of every line (the parse floor; json.loads without orjson)
  floor            polars.read_ndjson of the same files to a frame (full schema inference), nothing else
  naive            the obvious script: json.loads per line, OTel SDK tracer with explicit start/end
                   times per span, BatchSpanProcessor, OTLP gRPC exporter to the loopback receiver
  realtrace-file   realtrace convert → OTLP JSON lines file
  realtrace-grpc   realtrace convert → the loopback gRPC receiver, uncompressed (as the naive
                   script sends: the like-for-like comparison)
  realtrace-grpc-gzip  the same with realtrace's default gzip (what compressing costs here)
  realtrace-audio  realtrace convert --audio dir: → the file, and every turn's WAV (payloads decoded)
  baseline-file, baseline-grpc  with --baseline CHECKOUT: that checkout's realtrace, the same way

    python scripts/bench.py --input logs/ --rounds 5 --baseline ../before   # before/after, medians
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from concurrent import futures
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

FLOOR = """
import glob, sys, polars as pl
files = sorted(glob.glob(sys.argv[1] + "/**/*.jsonl", recursive=True))
try:
    df = pl.read_ndjson(files, infer_schema_length=None)
except Exception:  # heterogeneous events can defeat inference; fall back to raw lines
    df = pl.read_lines(files)
print(df.height)
"""

SCAN = """
import glob, sys
n = 0
for f in sorted(glob.glob(sys.argv[1] + "/**/*.jsonl", recursive=True)):
    with open(f, "rb") as fh:
        for _ in fh:
            n += 1
print(n)
"""

PARSE = """
import glob, sys
try:
    import orjson
    loads = orjson.loads
except ImportError:  # the floor is then the stdlib's (slower): the results say which
    import json
    loads = json.loads
n = 0
for f in sorted(glob.glob(sys.argv[1] + "/**/*.jsonl", recursive=True)):
    with open(f, "rb") as fh:
        for line in fh:
            loads(line)
            n += 1
print(n, loads.__module__)
"""

NAIVE = """
import glob, json, sys
from datetime import datetime
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

provider = TracerProvider(resource=Resource.create({"service.name": "naive"}))
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=sys.argv[2], insecure=True), max_queue_size=1_000_000))
tracer = provider.get_tracer("naive")

def ns(ts):
    if isinstance(ts, (int, float)):
        return int(ts)
    return int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1e9)

sessions = {}
for path in sorted(glob.glob(sys.argv[1] + "/**/*.jsonl", recursive=True)):
    with open(path) as fh:
        for line in fh:
            rec = json.loads(line)
            sessions.setdefault(rec.get("session_id"), []).append((ns(rec["timestamp"]), rec["event"]))
spans = 0
for sid, events in sessions.items():
    events.sort(key=lambda e: e[0])
    root = tracer.start_span("realtime_session", start_time=events[0][0], attributes={"session.id": str(sid)})
    ctx = trace.set_span_in_context(root)
    open_resp, open_input, open_tool = {}, {}, {}
    for ts, ev in events:
        t = ev.get("type", "")
        if t == "input_audio_buffer.speech_started":
            open_input[ev.get("item_id")] = tracer.start_span("user_input", context=ctx, start_time=ts)
        elif t == "conversation.item.input_audio_transcription.completed" and ev.get("item_id") in open_input:
            s = open_input.pop(ev["item_id"]); s.set_attribute("transcript", ev.get("transcript", "")); s.end(end_time=ts); spans += 1
        elif t == "response.created":
            open_resp[ev["response"]["id"]] = tracer.start_span("response", context=ctx, start_time=ts)
        elif t == "response.done" and ev["response"]["id"] in open_resp:
            s = open_resp.pop(ev["response"]["id"])
            u = ev["response"].get("usage") or {}
            s.set_attribute("gen_ai.usage.input_tokens", u.get("input_tokens", 0))
            s.set_attribute("gen_ai.usage.output_tokens", u.get("output_tokens", 0))
            s.set_attribute("output", json.dumps(ev["response"].get("output")))
            s.end(end_time=ts); spans += 1
        elif t == "response.function_call_arguments.done":
            open_tool[ev["call_id"]] = tracer.start_span(ev.get("name", "tool"), context=ctx, start_time=ts)
        elif t == "conversation.item.create" and ev.get("item", {}).get("call_id") in open_tool:
            s = open_tool.pop(ev["item"]["call_id"]); s.end(end_time=ts); spans += 1
    for s in [*open_resp.values(), *open_input.values(), *open_tool.values()]:
        s.end(end_time=events[-1][0]); spans += 1
    root.end(end_time=events[-1][0]); spans += 1
provider.force_flush(600_000)
provider.shutdown()
print(spans)
"""


class Receiver:
    """A counting OTLP gRPC receiver on loopback (spans stored: count only)."""

    def __init__(self) -> None:
        import grpc
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

        rec = self
        self.spans = 0
        self.lock = threading.Lock()

        class Servicer(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request: Any, context: Any) -> Any:
                n = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
                with rec.lock:
                    rec.spans += n
                return trace_service_pb2.ExportTraceServiceResponse()

        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=4),
            options=[("grpc.max_receive_message_length", 64 << 20)],
        )
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Servicer(), self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.stop(0)


def measure_rss(
    name: str, cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> dict[str, Any]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=cwd
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed with exit code {proc.returncode}")
    return {
        "name": name,
        "wall_s": round(wall, 3),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "stdout": out.decode().strip(),
    }


def input_stats(root: Path) -> tuple[int, int, int]:
    files = sorted(root.rglob("*.jsonl"))
    size = sum(f.stat().st_size for f in files)
    lines = 0
    for f in files:
        with f.open("rb") as fh:
            lines += sum(chunk.count(b"\n") for chunk in iter(lambda fh=fh: fh.read(1 << 24), b""))
    return len(files), size, lines


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--size", default="100MB", help="generated input size (ignored with --input)")
    ap.add_argument("--input", type=Path, default=None, help="existing directory of JSONL logs")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "realtrace-bench")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument(
        "--dense",
        action="store_true",
        help="events-dense logs: audio deltas and appends left out, as many loggers do",
    )
    ap.add_argument(
        "--short-sessions",
        action="store_true",
        help="many short calls (~45 events with audio, ~30 with --dense; 200 sessions a file): "
        "the cost per event and per span, not per byte",
    )
    ap.add_argument(
        "--skip",
        action="append",
        default=[],
        help="contender to skip (scan, parse, floor, naive, realtrace-file, realtrace-grpc, realtrace-grpc-gzip, realtrace-audio, realtrace-parquet)",
    )
    ap.add_argument("--workers", type=int, default=None, help="pass --workers to realtrace")
    ap.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run every contender this many times, in turn (a machine's speed drifts over "
        "minutes: alternating runs see the same drift); each contender's figures are its "
        "median run's, ratios are taken between medians",
    )
    ap.add_argument(
        "--baseline",
        type=Path,
        default=None,
        metavar="CHECKOUT",
        help="also run another checkout's realtrace (`git worktree add DIR REV`) as "
        "baseline-file and baseline-grpc, in turn with this one's: before/after ratios",
    )
    ap.add_argument(
        "--profile",
        action="store_true",
        help="also print realtrace's time per stage (read, reconstruct, attributes, encode, send) for each run",
    )
    ap.add_argument(
        "--json",
        type=Path,
        default=None,
        help="write results as JSON here [default: <work>/bench-<size>.json]",
    )
    ap.add_argument(
        "--report-sessions",
        type=int,
        default=0,
        metavar="N",
        help="also measure the HTML report of N generated sessions: its size, the time "
        "`realtrace report` takes, and the time headless Chromium takes to open it (DOM ready, "
        "charts drawn), and of a 45-minute call; targets: 10,000 sessions under 10 MB, opened "
        "in under 3 s; the call opened in under 1 s",
    )
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="tiny run for the test suite: skips the naive script's large input",
    )
    return ap.parse_args(argv)


def _input(args: argparse.Namespace) -> Path:
    """The generated input (made once per size, seed and density), or the one given."""
    from gen_logs import _parse_size, write_bulk

    if args.input is not None:
        return Path(args.input)
    shape = ("-dense" if args.dense else "") + ("-short" if args.short_sessions else "")
    data = args.work / f"input-{args.size}-seed{args.seed}{shape}"
    if not (data / ".complete").exists():
        data.mkdir(parents=True, exist_ok=True)
        write_bulk(
            data,
            None,
            _parse_size(args.size),
            args.seed,
            per_file=200 if args.short_sessions else 50,
            audio_payloads=not args.dense,
            short=args.short_sessions,
        )
        (data / ".complete").write_text("ok")
    return data


def _realtrace(
    name: str,
    cmd: list[str],
    report: Path,
    spans_from: Receiver | None = None,
    checkout: Path = ROOT,
) -> dict[str, Any]:
    """One realtrace run of `checkout`'s code: wall time and peak RSS, spans (from its
    report or the receiver) and its own time per stage (the report's `stage_seconds`).
    It runs outside any checkout, with that checkout first on its path."""
    before = spans_from.spans if spans_from is not None else 0
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    result = measure_rss(name, cmd, env, cwd=report.parent)
    rep = json.loads(report.read_text())
    result["spans"] = spans_from.spans - before if spans_from is not None else rep["spans"]
    result["stage_seconds"] = rep.get("stage_seconds", {})
    return result


def _round(
    args: argparse.Namespace, data: Path, out_dir: Path, receiver: Receiver
) -> dict[str, dict[str, Any]]:
    py = sys.executable
    report = out_dir / "report.json"
    rt = [py, "-m", "pipeline.cli", "convert", "--no-state", "--quiet", "--report", str(report)]
    if args.workers:
        rt += ["--workers", str(args.workers)]
    grpc = ["--endpoint", receiver.endpoint, "--protocol", "grpc"]
    results: dict[str, dict[str, Any]] = {}
    for name, code in (("scan", SCAN), ("parse", PARSE), ("floor", FLOOR)):
        if name not in args.skip:
            results[name] = measure_rss(name, [py, "-c", code, str(data)])
    if "realtrace-file" not in args.skip:
        cmd = [*rt, "-i", str(data), "-o", str(out_dir / "t.jsonl")]
        results["realtrace-file"] = _realtrace("realtrace-file", cmd, report)
    if "realtrace-audio" not in args.skip:
        wav = out_dir / "wav"
        cmd = [*rt, "-i", str(data), "-o", str(out_dir / "a.jsonl"), "--audio", f"dir:{wav}"]
        results["realtrace-audio"] = _realtrace("realtrace-audio", cmd, report)
        results["realtrace-audio"]["wav_mb"] = round(
            sum(p.stat().st_size for p in wav.rglob("*.wav")) / 1e6, 1
        )
    if "realtrace-parquet" not in args.skip:
        cmd = [*rt, "-i", str(_lake(args, data)), "-o", str(out_dir / "p.jsonl")]
        results["realtrace-parquet"] = _realtrace("realtrace-parquet", cmd, report)
    for name, compression in (("realtrace-grpc", "none"), ("realtrace-grpc-gzip", "gzip")):
        if name not in args.skip:
            cmd = [*rt, "-i", str(data), "-o", str(out_dir / "g.jsonl"), *grpc]
            cmd += ["--compression", compression]
            results[name] = _realtrace(name, cmd, report, receiver)
    if args.baseline is not None:
        cmd = [*rt, "-i", str(data), "-o", str(out_dir / "b.jsonl")]
        results["baseline-file"] = _realtrace("baseline-file", cmd, report, None, args.baseline)
        cmd += [*grpc, "--compression", "none"]
        results["baseline-grpc"] = _realtrace("baseline-grpc", cmd, report, receiver, args.baseline)
    if "naive" not in args.skip:
        before = receiver.spans
        naive = [py, "-c", NAIVE, str(data), f"127.0.0.1:{receiver.port}"]
        results["naive"] = measure_rss("naive", naive)
        results["naive"]["spans"] = receiver.spans - before
    return results


def _contenders(
    args: argparse.Namespace, data: Path, out_dir: Path, receiver: Receiver
) -> dict[str, dict[str, Any]]:
    """Every contender, `--rounds` times in turn; each one's median run (with every wall)."""
    rounds = [_round(args, data, out_dir, receiver) for _ in range(max(1, args.rounds))]
    if len(rounds) == 1:
        return rounds[0]
    results = {}
    for name in rounds[0]:
        runs = sorted((r[name] for r in rounds), key=lambda r: r["wall_s"])
        results[name] = {**runs[len(runs) // 2], "walls_s": [r[name]["wall_s"] for r in rounds]}
    return results


def _report_bench(args: argparse.Namespace, out_dir: Path) -> dict[str, Any]:
    """The HTML report of `--report-sessions` generated sessions (events-dense: the page's
    size depends on spans, not audio): size, build time, and load time in Chromium."""
    from gen_logs import write_bulk

    n = args.report_sessions
    logs = args.work / f"report-input-{n}-seed{args.seed}"
    if not (logs / ".complete").exists():
        logs.mkdir(parents=True, exist_ok=True)
        write_bulk(logs, n, None, args.seed, audio_payloads=False, app_records=True)
        (logs / ".complete").write_text("ok")
    py = sys.executable
    traces, page = out_dir / "report-traces.jsonl", out_dir / "report.html"
    convert = [py, "-m", "pipeline.cli", "convert", "--no-state", "-q", "-i", str(logs)]
    subprocess.run([*convert, "-o", str(traces)], check=True)
    built = measure_rss(
        "report", [py, "-m", "pipeline.cli", "report", "-i", str(traces), "--html", str(page)]
    )
    result: dict[str, Any] = {
        "sessions": n,
        "spans": sum(line.count(b'"spanId"') for line in traces.open("rb")),
        "html_mb": round(page.stat().st_size / 1e6, 2),
        "report_s": built["wall_s"],
        # target: 10,000 sessions' report built in under 500 MB (issue 37; it took 1.3 GB)
        "report_peak_rss_mb": built["peak_rss_mb"],
    }
    result.update(_chromium_load(page))
    result.update(_long_call(args, out_dir))
    return result


def _long_call(args: argparse.Namespace, out_dir: Path) -> dict[str, Any]:
    """The report of one generated 45-minute call (~2,000 spans, one session view): the
    time headless Chromium takes to open it (target < 1 s, issue 39; it took 0.87 s to draw
    a 70,000-pixel page before the view became a time window)."""
    from gen_logs import write_long_call

    logs = write_long_call(args.work / f"long-call-45-seed{args.seed}", 45, args.seed, False)
    page = out_dir / "long-call.html"
    cmd = [sys.executable, "-m", "pipeline.cli", "report", "-q", "-i", str(logs)]
    subprocess.run([*cmd, "--html", str(page)], check=True)
    return {"long_call_load_s": _chromium_load(page).get("load_s")}


def _chromium_load(page: Path) -> dict[str, Any]:
    """Seconds from navigation to the page's ready mark (DOM ready, table and charts drawn)
    in headless Chromium, median of three fresh pages; absent without a browser."""
    import shutil

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {"load_s": None, "why": "playwright not installed"}
    if not Path(chromium).exists():
        return {"load_s": None, "why": "no chromium (apt-get install chromium)"}
    times = []
    with sync_playwright() as p:
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        browser = p.chromium.launch(executable_path=chromium, args=flags)
        for _ in range(3):
            tab = browser.new_page(viewport={"width": 1400, "height": 1000})
            t = time.perf_counter()
            tab.goto(page.as_uri(), timeout=60_000)
            tab.wait_for_selector("body[data-ready='1']", timeout=60_000)
            times.append(time.perf_counter() - t)
            tab.close()
        browser.close()
    return {"load_s": round(sorted(times)[1], 2)}


def _lake(args: argparse.Namespace, data: Path) -> Path:
    from gen_logs import jsonl_to_lake

    lake = args.work / f"{data.name}-lake"
    if not (lake / ".complete").exists():
        jsonl_to_lake(data, lake)
        (lake / ".complete").write_text("ok")
    return lake


RATIOS = (  # name, numerator, denominator (wall times)
    ("realtrace_grpc_over_floor", "realtrace-grpc", "floor"),
    ("realtrace_file_over_parse", "realtrace-file", "parse"),
    ("realtrace_grpc_over_parse", "realtrace-grpc", "parse"),
    ("realtrace_parquet_over_jsonl", "realtrace-parquet", "realtrace-file"),
    ("realtrace_file_over_floor", "realtrace-file", "floor"),
    ("realtrace_file_over_grpc", "realtrace-file", "realtrace-grpc"),
    ("naive_over_realtrace_grpc", "naive", "realtrace-grpc"),
    ("naive_over_realtrace_file", "naive", "realtrace-file"),
    ("realtrace_audio_over_file", "realtrace-audio", "realtrace-file"),
    ("realtrace_gzip_over_grpc", "realtrace-grpc-gzip", "realtrace-grpc"),
    ("baseline_over_realtrace_file", "baseline-file", "realtrace-file"),
    ("baseline_over_realtrace_grpc", "baseline-grpc", "realtrace-grpc"),
    ("baseline_grpc_over_parse", "baseline-grpc", "parse"),
    ("naive_over_baseline_grpc", "naive", "baseline-grpc"),
)


def _ratios(results: dict[str, dict[str, Any]]) -> dict[str, float]:
    return {
        name: round(results[a]["wall_s"] / results[b]["wall_s"], 2)
        for name, a, b in RATIOS
        if a in results and b in results
    }


def _print(results: dict[str, dict[str, Any]], ratios: dict[str, float], profile: bool) -> None:
    print(
        f"{'contender':<18} {'wall s':>8} {'events/s':>12} {'spans':>8} {'spans/s':>10} {'MB/s':>8} {'peak RSS MB':>12}"
    )
    for r in results.values():
        print(
            f"{r['name']:<18} {r['wall_s']:>8.2f} {r['events_per_s']:>12.0f} {r.get('spans', ''):>8} "
            f"{r.get('spans_per_s', ''):>10} {r['mb_per_s']:>8.1f} {r['peak_rss_mb']:>12.1f}"
        )
    for k, v in ratios.items():
        print(f"{k}: {v}")
    if profile:
        for r in results.values():
            stages = r.get("stage_seconds")
            if stages:
                parts = ", ".join(f"{k} {v:.2f}" for k, v in stages.items())
                print(f"stages of {r['name']} (s, summed over workers): {parts}")


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    args.work = args.work.resolve()  # realtrace runs elsewhere (see _realtrace)
    if args.baseline is not None:
        args.baseline = args.baseline.resolve()
        if not (args.baseline / "pipeline" / "__init__.py").is_file():
            raise SystemExit(
                f"--baseline {args.baseline}: no pipeline/ package there (a checkout?)"
            )
    data = _input(args).resolve()
    nfiles, nbytes, nlines = input_stats(data)
    work = args.work if args.work.exists() else None
    out_dir = Path(tempfile.mkdtemp(prefix="realtrace-bench-out-", dir=work))
    receiver = Receiver()
    try:
        results = _contenders(args, data, out_dir, receiver)
    finally:
        receiver.stop()
    report = _report_bench(args, out_dir) if args.report_sessions else None
    for r in results.values():
        r["events_per_s"] = round(nlines / r["wall_s"], 1)
        r["mb_per_s"] = round(nbytes / 1e6 / r["wall_s"], 1)
        if "spans" in r:
            r["spans_per_s"] = round(r["spans"] / r["wall_s"], 1)
        r.pop("stdout", None)
    ratios = _ratios(results)
    machine = {"cpus": os.cpu_count(), "python": platform.python_version()}
    doc = {
        "input": {"dir": str(data), "files": nfiles, "bytes": nbytes, "events": nlines},
        "machine": {**machine, "platform": platform.platform()},
        "results": results,
        "ratios": ratios,
        **({"report": report} if report else {}),
    }
    print(f"input: {nfiles} files, {nbytes / 1e6:.1f} MB, {nlines} events; {os.cpu_count()} CPUs")
    _print(results, ratios, args.profile)
    if report:
        print(
            f"report of {report['sessions']:,} sessions ({report['spans']:,} spans): "
            f"{report['html_mb']} MB (target < 10), built in {report['report_s']} s "
            f"in {report['report_peak_rss_mb']} MB (target < 500 for 10,000), "
            f"opened in Chromium in {report['load_s']} s (target < 3); a 45-minute call's "
            f"page opened in {report['long_call_load_s']} s (target < 1)"
        )
    target = args.json or args.work / f"bench-{args.size if args.input is None else 'input'}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"results: {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
