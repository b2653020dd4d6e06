"""realtrace: recorded OpenAI Realtime API event logs → OpenTelemetry traces.

Stages, one module each, data flowing one way: read/ (files → events) → plan
(what to read and send) → core/ (sessionize → reconstruct → attributes → encode;
`core.convert.convert_frame` is the engine-agnostic core) → send/ (batch → the
destination's sender chain) → state/, run by an engine/ (local or Ray) for `run`.

The public API (`api.py`), for a task in Airflow, Dagster or a job's driver:

    from pipeline import RealtraceError, convert
    result = convert(["logs/"], output="traces.jsonl")

Its names are imported when first used (PEP 562): a worker process importing a stage
module does not import the run, the engines and the senders with this package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.version import __version__

__all__ = [
    "ConfigError",
    "RealtraceError",
    "ReplayConfig",
    "ReplayResult",
    "RunConfig",
    "RunResult",
    "RunStats",
    "__version__",
    "convert",
    "replay",
]

_WHERE = {
    "ConfigError": "pipeline.errors",
    "RealtraceError": "pipeline.errors",
    "ReplayConfig": "pipeline.config",
    "RunConfig": "pipeline.config",
    "RunResult": "pipeline.run",
    "RunStats": "pipeline.report",
    "ReplayResult": "pipeline.api",
    "convert": "pipeline.api",
    "replay": "pipeline.api",
}

if TYPE_CHECKING:
    from pipeline.api import ReplayResult, convert, replay
    from pipeline.config import ReplayConfig, RunConfig
    from pipeline.errors import ConfigError, RealtraceError
    from pipeline.report import RunStats
    from pipeline.run import RunResult


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
