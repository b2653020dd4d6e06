"""Engines: where the pure core runs (in this process and a process pool, or on a Ray cluster).

An engine reads a run's planned files, converts their sessions with
`core.convert.convert_frame` and delivers them through the run's destination,
reporting each session's outcome to the `Run` it is given (engine/common.py, with the
`Engine` protocol); the run plans before and folds after. Adding one (Dask, Spark) is
a module with an `ENGINE` object satisfying `Engine` (a scheduler over `engine/tasks.py`),
and one line in `ENGINES` below saying what it can do; nothing else tests an engine's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipeline.errors import ConfigError

if TYPE_CHECKING:
    from pipeline.config import RunConfig


@dataclass(frozen=True, slots=True)
class EngineSpec:
    """An engine as the registry knows it, before its module (maybe heavy) is imported."""

    module: str
    # its tasks deliver at once, from many processes: file destinations are written as
    # one part file per task, dead letters likewise
    parallel_writers: bool = False
    # each converted session's spans and clips reach this process (the `Run`), so the run
    # can write `--audio dir:`/`upload` clips; an engine that delivers from its workers
    # keeps them there (each session's part of `--html` reaches the run either way)
    spans_reach_the_run: bool = True
    # it runs on a cluster it can join (`--ray-address`), else starts its own
    joins_a_cluster: bool = False


ENGINES: dict[str, EngineSpec] = {
    "local": EngineSpec("pipeline.engine.local"),
    "ray": EngineSpec(
        "pipeline.engine.ray",
        parallel_writers=True,
        spans_reach_the_run=False,
        joins_a_cluster=True,
    ),
}


def check(cfg: RunConfig) -> None:
    """What the chosen engine cannot do with these settings, as the one line a user reads
    (after `RunConfig.validate`; an unknown name fails where the engine is loaded)."""
    spec = ENGINES.get(cfg.engine)
    if cfg.ray_address and not (spec and spec.joins_a_cluster):
        clusters = ", ".join(n for n, e in ENGINES.items() if e.joins_a_cluster)
        raise ConfigError(f"--ray-address needs --engine {clusters}")
    here = spec is None or spec.spans_reach_the_run
    if cfg.mapping.audio.ships_clips and not here:
        raise ConfigError(
            f"--audio {cfg.mapping.audio} with --engine {cfg.engine}: the clips stay on "
            "the workers; use --audio inline (the audio inside the spans) or the local engine"
        )
