"""The public API as a library call (no CLI): what an Airflow or Dagster task runs."""

from __future__ import annotations

import inspect
import json
import threading
from pathlib import Path

import pytest
from conftest import SAMPLES, read_spans
from receivers import HttpReceiver

import pipeline
from pipeline import ConfigError, RealtraceError, RunConfig, convert, replay
from pipeline import errors as errors_module


def test_convert_and_replay_as_a_task_would(tmp_path: Path) -> None:
    out = tmp_path / "traces.jsonl"
    result = convert([SAMPLES], output=out, no_state=True, env={})
    assert result.exit_code == 0 and result.stats.sessions == 9
    assert len(read_spans(out)) == result.stats.spans_delivered == 98
    # the same run from a RunConfig built beforehand: the same bytes
    again = tmp_path / "again.jsonl"
    assert convert(RunConfig.to_file((str(SAMPLES),), again)).exit_code == 0
    assert again.read_bytes() == out.read_bytes()
    # a dead letter replayed to a receiver, settings from the given environment
    rec = HttpReceiver()
    try:
        sent = replay(out, env={"OTEL_EXPORTER_OTLP_ENDPOINT": rec.endpoint})
    finally:
        rec.stop()
    assert sent.exit_code == 0 and sent.stats.spans_delivered == 98 == len(rec.span_ids)


def test_every_failure_is_a_realtrace_error_with_its_exit_code(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="input not found"):
        convert([tmp_path / "nothing-here"], output=tmp_path / "t.jsonl", env={})
    with pytest.raises(ConfigError, match="--concurrency 0"):
        convert([SAMPLES], output=tmp_path / "t.jsonl", export={"concurrency": 0}, env={})
    try:
        replay(
            tmp_path / "missing.jsonl", env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}
        )
    except RealtraceError as exc:
        assert exc.exit_code in (2, 7)
    else:
        raise AssertionError("replaying a missing file did not fail")
    # every exception class realtrace names is one of the family
    named = [
        c
        for _, c in inspect.getmembers(errors_module, inspect.isclass)
        if issubclass(c, BaseException) and c.__module__ == errors_module.__name__
    ]
    assert named and all(issubclass(c, RealtraceError) for c in named)


def test_a_stop_event_ends_a_library_run_like_a_signal(tmp_path: Path) -> None:
    stop = threading.Event()
    stop.set()  # asked to stop before it starts: nothing sent, nothing lost, said
    result = convert([SAMPLES], output=tmp_path / "t.jsonl", no_state=True, env={}, stop=stop)
    assert result.stats.spans_delivered == 0


def test_the_public_names_are_declared_and_lazy() -> None:
    assert set(pipeline.__all__) >= {"convert", "replay", "RunConfig", "RealtraceError"}
    for name in pipeline.__all__:
        assert getattr(pipeline, name) is not None
    code = (
        "import sys, pipeline.core.model; "
        "print(json.dumps(sorted(m for m in ('pipeline.run', 'pipeline.api') if m in sys.modules)))"
    )
    import subprocess
    import sys

    probe = subprocess.run(
        [sys.executable, "-c", "import json; " + code], capture_output=True, text=True, check=True
    )
    assert json.loads(probe.stdout) == []  # a stage module imports no run with the package


def test_the_version_is_the_packages() -> None:
    """`pipeline.__version__` (written into every span's scope) is pyproject.toml's."""
    import tomllib

    import pipeline

    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    assert pipeline.__version__ == project["project"]["version"]
