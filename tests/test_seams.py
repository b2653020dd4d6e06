"""The joints the code is built around: an engine is one module and one registry line, a
destination carries its own behaviour, conventions are a set, every error carries its exit
code, and `replay` resolves its settings as `convert` does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import SAMPLES, read_spans

from pipeline import errors
from pipeline.cli import main
from pipeline.config import RunConfig
from pipeline.engine import ENGINES, EngineSpec
from pipeline.resolve import resolve_run
from pipeline.run import run_convert
from pipeline.send.destination import FileDestination, OtlpDestination


def test_a_new_engine_is_one_module_and_one_registry_line(
    tmp_path: Path, sample_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(ENGINES, "single", EngineSpec("single_engine"))
    out = tmp_path / "t.jsonl"
    result = run_convert(RunConfig.to_file((str(SAMPLES),), out, engine="single"))
    assert result.exit_code == 0 and result.stats.sessions == 9
    assert out.read_bytes() == sample_run.read_bytes()  # the local engine's very output
    with pytest.raises(errors.ConfigError, match="--engine nope: use one of local, ray, single"):
        run_convert(RunConfig.to_file((str(SAMPLES),), out, engine="nope"))


def test_a_new_input_format_is_one_module_and_one_registry_line(
    tmp_path: Path, sample_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A columnar format (here CSV of envelope records, as `read/avro.py` would be): a
    `read` giving `Columns` batches, one line in `FORMATS`; directory walks find its files
    and the run's spans are the JSON lines' very spans."""
    import json

    import polars as pl

    from pipeline.read import formats
    from pipeline.read.columns import Columns

    def read_csv(path: str, slice_bytes: int, max_line: int) -> Iterator[Columns]:
        yield Columns(pl.read_csv(path, infer_schema=False))

    csv = formats.InputFormat("csv", (".events.csv",), read_csv)
    monkeypatch.setattr(formats, "FORMATS", (csv, *formats.FORMATS))
    logs = tmp_path / "logs"
    for log in sorted(SAMPLES.rglob("*.jsonl")):
        rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        logs.joinpath(log.relative_to(SAMPLES)).parent.mkdir(parents=True, exist_ok=True)
        if all("event" in r for r in rows):  # envelope records; the others stay JSON lines
            frame = pl.DataFrame(
                {
                    "timestamp": [str(r["timestamp"]) for r in rows],
                    "session_id": [r.get("session_id") for r in rows],
                    "direction": [r.get("direction") for r in rows],
                    "event": [json.dumps(r["event"]) for r in rows],
                    "metadata": [
                        json.dumps(r["metadata"]) if "metadata" in r else None for r in rows
                    ],
                }
            )
            frame.write_csv(logs.joinpath(log.relative_to(SAMPLES)).with_suffix(".events.csv"))
        else:
            logs.joinpath(log.relative_to(SAMPLES)).write_bytes(log.read_bytes())
    out = tmp_path / "t.jsonl"
    result = run_convert(RunConfig.to_file((str(logs),), out))
    assert result.exit_code == 0 and len(list(logs.rglob("*.events.csv"))) == 6
    assert result.stats.sessions == 7  # the samples of these 7 logs (no .gz, no Parquet here)
    spans = {s["spanId"]: s for s in read_spans(out)}
    same = {s["spanId"]: s for s in read_spans(sample_run) if s["spanId"] in spans}
    assert spans == same and len(spans) == 78


def test_the_destination_is_decided_once_with_its_layout(tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl"
    file = resolve_run({}, inputs=("x",), output=str(out)).destination
    assert isinstance(file, FileDestination) and file.tracked_file == out
    ray = resolve_run({}, inputs=("x",), output=str(out), engine="ray").destination
    assert ray.location == tmp_path / "t.jsonl.d" and ray.tracked_file is None
    assert ray.state_id == file.state_id + ".d"
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317"}
    net = resolve_run(env, inputs=("x",), output=str(out), engine="ray").destination
    assert isinstance(net, OtlpDestination) and net.tracked_file is None
    assert net.dead_letter == tmp_path / "t.dead-letter.jsonl.d"
    part = net.writer()
    assert part.dead_letter.parent == tmp_path / "t.dead-letter.jsonl.d"
    assert net.state_id == "grpc:http://127.0.0.1:4317"


def test_conventions_are_a_set(tmp_path: Path) -> None:
    outs = {}
    for name in ("both", "genai,braintrust", "braintrust , genai"):
        out = tmp_path / f"{len(outs)}.jsonl"
        args = ["convert", "-i", str(SAMPLES), "-o", str(out), "--no-state", "-q"]
        r = CliRunner().invoke(main, [*args, "--attributes", name])
        assert r.exit_code == 0, r.output
        outs[name] = out.read_bytes()
    assert len(set(outs.values())) == 1
    span = next(s for s in read_spans(tmp_path / "0.jsonl") if s["_a"]["realtrace.kind"] == "tool")
    assert "braintrust.input_json" in span["_a"] and "gen_ai.tool.call.arguments" in span["_a"]
    r = CliRunner().invoke(main, ["convert", "-i", str(SAMPLES), "--attributes", "phoenix"])
    assert r.exit_code == 2 and "use a comma-separated set of braintrust, genai" in r.output


def test_a_new_convention_is_one_class_and_one_registry_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A convention of its own attribute names, registered in `CONVENTIONS`: `--attributes`
    takes it, its spans carry its messages alone, and the report finds the turns' clips in
    them (the page's players) with no change elsewhere."""
    import json

    from pipeline.core.conventions import CONVENTIONS, GenAI

    class Toy(GenAI):
        name, input_key, output_key = "toy", "toy.input", "toy.output"

    monkeypatch.setitem(CONVENTIONS, "toy", Toy())
    out, wav, page = tmp_path / "t.jsonl", tmp_path / "wav", tmp_path / "p.html"
    voice = SAMPLES / "2025-11-24" / "voice_ga.jsonl"
    r = CliRunner().invoke(
        main,
        ["convert", "-i", str(voice), "-o", str(out), "--no-state", "-q", "--attributes", "toy",
         "--audio", f"dir:{wav}", "--html", str(page)],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    keys = {k for s in read_spans(out) for k in s["_a"]}
    assert {"toy.input", "toy.output"} <= keys
    assert not keys & {"gen_ai.output.messages", "braintrust.output_json"}
    block = page.read_text().split('<script type="application/json" id="data">')[1]
    clips = json.loads(block.split("</script>")[0])["audio"]
    assert sum(len(turns) for turns in clips.values()) == len(list(wav.rglob("*.wav"))) == 7


def test_every_error_carries_its_exit_code() -> None:
    def family(cls: type) -> list[type]:
        return [cls, *(c for sub in cls.__subclasses__() for c in family(sub))]

    codes = {cls.__name__: cls.exit_code for cls in family(errors.RealtraceError)}
    assert codes["ConfigError"] == codes["StateError"] == codes["AuthError"] == 2
    assert codes["StateLockedError"] == 6 and codes["ExportError"] == 3
    assert all(isinstance(code, errors.ExitCode) for code in codes.values())


@pytest.mark.parametrize("command", ["convert", "replay"])
def test_batch_limits_of_zero_are_refused_by_every_command(tmp_path: Path, command: str) -> None:
    """`replay --max-batch-spans 0` once fell back to the default; both commands resolve
    their settings the same way now."""
    target = ["-i", str(SAMPLES)] if command == "convert" else [str(SAMPLES / "2025-11-24")]
    args = [command, *target, "--endpoint", "http://127.0.0.1:9", "--max-batch-spans", "0"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2, r.output
    assert "--max-batch-spans 0: must be at least 1" in r.output
