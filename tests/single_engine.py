"""A minimal engine, as a third party would add one (a Dask or Spark engine has the same
shape): every planned file read in this process, all sessions converted as one frame,
delivered through the run's destination. It uses only the engine-neutral tasks and the
`Run` it is given: the run owns the accounting, the state and the audio."""

from __future__ import annotations

import polars as pl

from pipeline.core.convert import convert_frame
from pipeline.engine.common import Run
from pipeline.engine.tasks import read_task


class SingleEngine:
    def run(self, run: Run) -> None:
        cfg, ids = run.cfg, run.ids
        frames = []
        for path in run.plan.first_pass(run.files):
            events, loaded, keys = read_task(path, ids[path], cfg.read_options)
            run.file_read(ids[path], loaded, events.height, keys)
            frames.append(events)
        events = pl.concat(frames)
        selector = run.files_read(set(events["session_key"].unique().to_list()))
        results = convert_frame(events, cfg.mapping, selector, cfg.destination.encoder)
        run.send(run.converted(results))


ENGINE = SingleEngine()
