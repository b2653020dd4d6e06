"""Engines: where the pure core runs (in this process and a process pool, or on a Ray cluster).

An engine reads a run's planned files, converts their sessions with
`core.convert.convert_frame` and delivers them through the run's destination,
reporting each session's outcome to the `Run` (engine/common.py) it is given; the
run plans before and folds after. Adding one (Dask, Spark) is a module with an
`ENGINE` object satisfying `Engine`, and one line in `ENGINES` below.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # the protocol names the run's type; the registry imports no engine
    from pipeline.engine.common import Run


class Engine(Protocol):
    def run(self, run: Run) -> None:
        """Read, convert and deliver the run's files; every session's outcome goes to
        `run.session_done`, the counts to `run.stats`."""


@dataclass(frozen=True, slots=True)
class EngineSpec:
    """An engine as the registry knows it, before its module (maybe heavy) is imported."""

    module: str
    # its tasks deliver at once, from many processes: file destinations are written as
    # one part file per task, dead letters likewise
    parallel_writers: bool = False
    # what to install when its module's dependencies are missing
    extra: str | None = None


ENGINES: dict[str, EngineSpec] = {
    "local": EngineSpec("pipeline.engine.local"),
    "ray": EngineSpec("pipeline.engine.ray", parallel_writers=True, extra="ray"),
}


def load_engine(name: str) -> Engine:
    """The engine registered as `name` (its module imported now)."""
    engine: Engine = importlib.import_module(ENGINES[name].module).ENGINE
    return engine
