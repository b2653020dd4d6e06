"""A minimal engine, as a third party would add one (a Dask or Spark engine has the same
shape): every planned file read in this process, all sessions converted as one frame,
delivered through the run's destination. It uses only what engines are given."""

from __future__ import annotations

import polars as pl

from pipeline.core.convert import convert_frame
from pipeline.engine.common import Run
from pipeline.engine.local import load_keyed
from pipeline.send.deliver import send_run


class SingleEngine:
    def run(self, run: Run) -> None:
        cfg, ids = run.cfg, run.ids
        frames = []
        for path in run.plan.first_pass(run.files):
            loaded = load_keyed(path, ids[path], cfg.read_options)
            run.stats.count_loaded(loaded, loaded.events.height)
            run.rejects += loaded.rejects
            run.file_sessions[ids[path]] = loaded.events["session_key"].unique().to_list()
            frames.append(loaded.events)
        events = pl.concat(frames)
        selector = run.files_read(set(events["session_key"].unique().to_list()))
        converted = []
        for sess in convert_frame(events, cfg.mapping, selector, cfg.destination.encoder):
            run.stats.fold(sess)
            if sess.skipped is None and not sess.failed:
                converted.append(sess)
        delivery = send_run(
            converted,
            cfg.destination.writer(),
            cfg.limits,
            cfg.service,
            run.stop,
            append=run.state is not None,
            on_session=run.session_done,
        )
        run.delivered(delivery)


ENGINE = SingleEngine()
