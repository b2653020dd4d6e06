"""The public API: what an Airflow or Dagster task (or a Spark job's driver) calls instead of
the command line. Settings resolve exactly as for `realtrace convert` and `realtrace
replay` (keyword arguments are the flags, `env` the environment; the settings' own defaults
apply), nothing is printed, and every failure is a `RealtraceError` carrying its exit code.

    from pipeline import RealtraceError, convert

    result = convert(["logs/2025-11-24/"], output="traces.jsonl")
    if result.exit_code not in (0, 4):
        raise RuntimeError(f"realtrace: {result.stats.errors}")
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from pipeline.config import ReplayConfig, RunConfig
from pipeline.errors import ConfigError, ExitCode, FileError, RealtraceError, io_message
from pipeline.report import RunStats
from pipeline.resolve import resolve_replay, resolve_run
from pipeline.run import RunResult, run_convert

__all__ = ["ReplayResult", "convert", "replay"]


@contextlib.contextmanager
def _realtrace_errors() -> Iterator[None]:
    """Every failure as a RealtraceError: a missing input is the caller's to fix (a
    ConfigError), another I/O failure a FileError saying which file and what to do."""
    try:
        yield
    except RealtraceError:
        raise
    except FileNotFoundError as exc:
        raise ConfigError(f"{exc}: name files, directories or globs that exist") from exc
    except OSError as exc:
        raise FileError(io_message(exc)) from exc


def convert(
    inputs: Iterable[str | os.PathLike[str]] | RunConfig,
    *,
    env: Mapping[str, str] | None = None,
    stop: threading.Event | None = None,
    **flags: Any,
) -> RunResult:
    """Convert logs and deliver their traces, as `realtrace convert` does.

    `inputs`: files, directories, globs or object-store URLs, or a `RunConfig` built
    beforehand. `flags`: the command's options by their Python names (`output`, `state_path`,
    `no_state`, `since`, `export={"endpoint": …}`, `audio`, …). `env`: the variables to read
    (`OTEL_EXPORTER_OTLP_*`, `BRAINTRUST_*`); default `os.environ`. `stop`: set it to stop
    the run as a signal would. Returns the counts and the exit code the command would end
    with; raises `RealtraceError` (a `ConfigError` for settings to fix, …)."""
    with _realtrace_errors():
        if isinstance(inputs, RunConfig):
            cfg = inputs
        else:
            names = tuple(os.fspath(p) for p in inputs)
            if "output" in flags and flags["output"] is not None:
                flags["output"] = Path(flags["output"])
            cfg = resolve_run(os.environ if env is None else env, inputs=names, **flags)
        return run_convert(cfg, stop=stop)


class ReplayResult:
    """What a replay did: its counts and the exit code `realtrace replay` would end with."""

    __slots__ = ("exit_code", "stats")

    def __init__(self, stats: RunStats, exit_code: ExitCode) -> None:
        self.stats = stats
        self.exit_code = exit_code


def replay(
    file: str | os.PathLike[str] | ReplayConfig,
    *,
    env: Mapping[str, str] | None = None,
    stop: threading.Event | None = None,
    **flags: Any,
) -> ReplayResult:
    """Send an OTLP JSON lines file (a dead letter, a rejected-spans file, an output) again,
    as `realtrace replay` does; `flags`: `dead_letter`, `export={…}`, batch limits."""
    with _realtrace_errors():
        if isinstance(file, ReplayConfig):
            cfg = file
        else:
            cfg = resolve_replay(os.environ if env is None else env, file=Path(file), **flags)
        from pipeline.resend import replay as run_replay

        stats, code = run_replay(cfg, stop)
        return ReplayResult(stats, code)
