"""The Ray engine on a real local Ray cluster (started here, stopped after): the same spans
as the local engine, one state shared by both engines, and a killed worker costs nothing
that the next run does not send."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import ROOT, SAMPLES
from receivers import Action, GrpcReceiver

from pipeline.cli import main

ray = pytest.importorskip("ray")


@pytest.fixture
def cluster(ray_cluster: str) -> str:
    """The session's local Ray cluster (conftest), its address."""
    return ray_cluster


@pytest.fixture(scope="module")
def rotated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """150 generated sessions re-cut into 7 files at arbitrary lines: sessions straddle files."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from gen_logs import write_bulk

    src = tmp_path_factory.mktemp("gen")
    write_bulk(src, sessions=150, size=None, seed=7, per_file=25, audio_payloads=False)
    lines = [ln for p in sorted(src.glob("*.jsonl")) for ln in p.read_text().splitlines(True)]
    out = tmp_path_factory.mktemp("rotated")
    cut = len(lines) // 7 + 1
    for i in range(7):
        (out / f"rot-{i}.jsonl").write_text("".join(lines[i * cut : (i + 1) * cut]))
    return out


def convert(
    tmp: Path, endpoint: str, engine: str, state: Path, *inputs: Path, html: Path | None = None
) -> Result:
    args = ["convert", "-o", str(tmp / "t.jsonl"), "--state", str(state), "-q"]
    args += ["--endpoint", endpoint, "--protocol", "grpc", "--engine", engine, "--workers", "2"]
    args += ["--html", str(html)] if html is not None else []
    for i in inputs:
        args += ["-i", str(i)]
    return CliRunner().invoke(main, args, env={"BRAINTRUST_API_KEY": ""}, catch_exceptions=False)


def page_data(page: Path) -> dict[str, object]:
    """The report data a page shows (its JSON block)."""
    block = page.read_text().split('<script type="application/json" id="data">')[1]
    data: dict[str, object] = json.loads(block.split("</script>")[0])
    return data


def test_ray_delivers_the_local_engines_spans_and_both_share_the_state(
    cluster: str, rotated: Path, tmp_path: Path
) -> None:
    rec = GrpcReceiver()
    try:
        local, on_ray = tmp_path / "local.db", tmp_path / "ray.db"
        pages = {e: tmp_path / f"{e}.html" for e in ("local", "ray")}
        r = convert(tmp_path, rec.endpoint, "local", local, SAMPLES, rotated, html=pages["local"])
        assert r.exit_code == 0, r.output
        by_local, rec.spans = dict(rec.spans), {}
        assert len(by_local) > 98 and len(rec.span_ids) == len(by_local)
        r = convert(tmp_path, rec.endpoint, "ray", on_ray, SAMPLES, rotated, html=pages["ray"])
        assert r.exit_code == 0, r.output
        assert rec.spans == by_local  # same ids, same bytes: attributes, times, parents
        # --html on the cluster: each session's report part made by the Ray task, the same page
        shown = {e: page_data(p) for e, p in pages.items()}
        assert shown["ray"] == shown["local"] and len(shown["ray"]["sessions"]["key"]) == 159
        assert len(rec.span_ids) == 2 * len(by_local)  # each engine sent each span once
        # the state is the engines' common ground: a second run of either sends nothing
        sent = len(rec.span_ids)  # (a Ray run on the local run's state: the Ctrl-C test)
        assert convert(tmp_path, rec.endpoint, "local", on_ray, SAMPLES, rotated).exit_code == 4
        assert len(rec.span_ids) == sent
    finally:
        rec.stop()


def test_ray_file_destination_writes_collector_readable_parts(cluster: str, tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl"
    args = ["convert", "-i", str(SAMPLES), "-o", str(out), "--engine", "ray", "-q"]
    r = CliRunner().invoke(main, args, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    local = tmp_path / "local.jsonl"
    r = CliRunner().invoke(main, ["convert", "-i", str(SAMPLES), "-o", str(local), "-q"])
    assert r.exit_code == 0, r.output
    from conftest import read_spans

    parts = sorted((tmp_path / "t.jsonl.d").glob("part-*.jsonl"))
    assert parts and not out.exists()
    ray_spans = {s["spanId"]: s for p in parts for s in read_spans(p)}
    assert ray_spans == {s["spanId"]: s for s in read_spans(local)}


def _ray_workers(name: str) -> list[int]:
    """Pids of Ray worker processes running a task of `name` (their process title says so)."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if cmd.startswith("ray::") and name in cmd:
                pids.append(int(d.name))
    return pids


def test_a_killed_ray_worker_costs_nothing_the_rerun_does_not_send(
    cluster: str, rotated: Path, tmp_path: Path
) -> None:
    rec = GrpcReceiver(script=lambda n: Action(delay=0.15))  # slow enough to kill mid-delivery
    killed: list[int] = []

    def kill_one() -> None:
        deadline = time.monotonic() + 60
        while not rec.span_ids and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in _ray_workers("deliver_sessions") or _ray_workers("Reduce"):
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            return

    state = tmp_path / "s.db"
    try:
        killer = threading.Thread(target=kill_one)
        killer.start()
        first = convert(tmp_path, rec.endpoint, "ray", state, rotated)
        killer.join()
        assert killed, "no Ray worker was delivering"
        assert first.exit_code in (0, 3), first.output
        rec.script = lambda n: Action()
        second = convert(tmp_path, rec.endpoint, "local", state, rotated)
        assert second.exit_code in (0, 4), second.output
        expected = tmp_path / "expected.jsonl"
        CliRunner().invoke(main, ["convert", "-i", str(rotated), "-o", str(expected), "--no-state"])
        from conftest import read_spans

        assert set(rec.spans) == {s["spanId"] for s in read_spans(expected)}  # none lost
    finally:
        rec.stop()


def test_a_stop_ends_a_ray_run_and_keeps_what_was_acknowledged(
    cluster: str, rotated: Path, tmp_path: Path
) -> None:
    """A stop (what SIGINT/SIGTERM set; the CLI's handling of the signals themselves is
    tested on the local engine) while Ray delivers: the run ends within seconds with its
    counts, and the next run sends the rest: nothing is lost."""
    from conftest import read_spans

    from pipeline.config import RunConfig
    from pipeline.run import run_convert
    from pipeline.send.destination import OtlpDestination
    from pipeline.send.settings import BatchLimits, ExportConfig

    rec = GrpcReceiver(script=lambda n: Action(delay=0.1))
    stop = threading.Event()
    export = ExportConfig(rec.endpoint, "grpc")
    dest = OtlpDestination(export, tmp_path / "dead.jsonl", tmp_path / "rejected.jsonl")
    settings = {"state": tmp_path / "s.db", "limits": BatchLimits(max_spans=5), "settle_ns": 0}
    try:

        def stop_after_five() -> None:
            deadline = time.monotonic() + 60
            while len(rec.times) < 5 and time.monotonic() < deadline:
                time.sleep(0.02)
            stop.set()

        threading.Thread(target=stop_after_five, daemon=True).start()
        cfg = RunConfig((str(rotated),), dest.partition(), tmp_path / "t.jsonl", **settings)
        t0 = time.monotonic()
        first = run_convert(replace(cfg, engine="ray", ray_address=cluster), stop=stop)
        took = time.monotonic() - t0
        assert stop.is_set() and took < 60, took
        assert first.stats.sessions_delivered < 150
        rec.script = lambda n: Action()
        again = run_convert(replace(cfg, destination=dest))  # local engine, same state
        assert again.exit_code in (0, 4), again.stats.errors
        expected = tmp_path / "expected.jsonl"
        args = ["convert", "-i", str(rotated), "-o", str(expected), "--no-state", "--settle", "0"]
        assert CliRunner().invoke(main, args).exit_code == 0
        assert set(rec.spans) == {s["spanId"] for s in read_spans(expected)}  # none lost
    finally:
        rec.stop()


def test_ray_dead_letters_are_parts_of_their_own_and_replay_takes_the_directory(
    cluster: str, tmp_path: Path
) -> None:
    """Each Ray delivery task writes its own dead-letter file (no file is shared between
    processes); `realtrace replay DIR` sends them all."""
    import grpc

    bad = GrpcReceiver(script=lambda n: Action(grpc_code=grpc.StatusCode.INVALID_ARGUMENT))
    good = GrpcReceiver()
    try:
        args = ["convert", "-i", str(SAMPLES), "-o", str(tmp_path / "t.jsonl"), "--no-state"]
        args += ["--endpoint", bad.endpoint, "--protocol", "grpc", "--engine", "ray", "-q"]
        r = CliRunner().invoke(main, args, env={"BRAINTRUST_API_KEY": ""})
        assert r.exit_code == 3, r.output
        parts = tmp_path / "t.dead-letter.jsonl.d"
        assert (
            sorted(parts.glob("part-*.jsonl")) and not (tmp_path / "t.dead-letter.jsonl").exists()
        )
        r = CliRunner().invoke(
            main,
            ["replay", str(parts), "--endpoint", good.endpoint, "--protocol", "grpc",
             "--dead-letter", str(tmp_path / "again.jsonl")],
        )  # fmt: skip
        assert r.exit_code == 0, r.output
        assert len(set(good.span_ids)) == 98
    finally:
        bad.stop()
        good.stop()
