"""Settings: the frozen objects a run is configured by, every default written once
(on their fields) and every value validated in one place (their `validate`).

`resolve` fills them from flags and the environment, keeping where each value came from.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.core.attributes import MappingOptions
from pipeline.errors import ConfigError
from pipeline.read.chunks import DEFAULT_CHUNK_BYTES, DEFAULT_MEMORY_BUDGET
from pipeline.read.extract import DEFAULT_TIMESTAMP_FIELDS
from pipeline.read.load import ReadOptions
from pipeline.read.raw import MAX_LINE_BYTES
from pipeline.send.attachments import AttachmentConfig
from pipeline.send.destination import (
    Destination,
    FileDestination,
)
from pipeline.send.settings import BatchLimits, url_secrets

DEFAULT_OUTPUT = Path("realtrace-traces.jsonl")


@dataclass(frozen=True, slots=True)
class RunConfig:
    """Everything one `realtrace convert` run needs."""

    inputs: tuple[str, ...]
    destination: Destination  # where spans go (file or OTLP), decided once by `resolve`
    output: Path = DEFAULT_OUTPUT  # the output file, and the base name of the run's other files
    rejects: Path | None = None
    timestamp_fields: tuple[str, ...] = DEFAULT_TIMESTAMP_FIELDS
    max_line_bytes: int = MAX_LINE_BYTES  # longer lines are rejected unread
    mapping: MappingOptions = field(default_factory=MappingOptions)
    service_name: str = "realtrace"
    resource_attributes: tuple[tuple[str, str], ...] = ()  # OTEL_RESOURCE_ATTRIBUTES
    strict: bool = False
    state: Path | None = None
    full: bool = False
    skip_changed: bool = False
    since_ns: int | None = None
    until_ns: int | None = None
    # --settle: sessions with events in the last settle_ns that have not ended are held
    # back (still being logged); now_ns: the run's "now" (None: the clock, when it starts)
    settle_ns: int = 10 * 60 * 1_000_000_000
    now_ns: int | None = None
    sessions_from: Path | None = None
    report: Path | None = None
    html: Path | None = None  # the voice-quality report of the sessions converted
    audio_dir: Path | None = None  # --audio dir:PATH
    attachments: AttachmentConfig | None = None  # --audio upload: Braintrust's API
    limits: BatchLimits = field(default_factory=BatchLimits)
    memory_budget: int = DEFAULT_MEMORY_BUDGET
    chunk_bytes: int = DEFAULT_CHUNK_BYTES
    spill_dir: Path | None = None
    workers: int = 0  # 0: automatic (see engine.local.auto_workers)
    engine: str = "local"  # a name in engine.ENGINES (what it can do: `engine.check`)
    ray_address: str | None = None  # a running Ray cluster; None starts a local one
    # Where each setting came from ("flag --output", "env OTEL_EXPORTER_OTLP_ENDPOINT",
    # "default"), for `convert --print-config`.
    sources: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    @classmethod
    def to_file(cls, inputs: tuple[str, ...], output: Path, **settings: Any) -> RunConfig:
        """A run writing OTLP JSON lines to `output` (the library's simplest call)."""
        return cls(inputs, FileDestination(output), output, **settings)

    @property
    def service(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        """The resource of every span: the service name and the other attributes."""
        return self.service_name, self.resource_attributes

    @property
    def read_options(self) -> ReadOptions:
        now = self.now_ns if self.now_ns is not None else time.time_ns()
        return ReadOptions(
            self.timestamp_fields,
            self.max_line_bytes,
            keep_audio=self.mapping.audio.keeps_payloads,
            hold_partial_after_ns=now - self.settle_ns if self.settle_ns else None,
        )

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every credential of the run (the destination's, Braintrust's API key and URLs'):
        kept out of every log line, error, report and file."""
        out = list(self.destination.secrets)
        if self.attachments is not None:
            bt = self.attachments
            out.append(bt.api_key)
            for url in (bt.app_url, bt.api_url or ""):
                out += url_secrets(url)
        return tuple(x for x in out if x)

    @property
    def rejects_path(self) -> Path:
        return self.rejects or self.output.with_name(self.output.stem + ".rejects.jsonl")

    @property
    def own_files(self) -> tuple[Path, ...]:
        """What the run itself writes: never read as input (`-i .` beside the output)."""
        dest = self.destination
        paths = [dest.location, *dest.side_files, self.rejects_path]
        if self.report is not None:
            paths.append(self.report)
        if self.html is not None:
            paths.append(self.html)
        if self.state is not None:
            paths.append(
                self.state.parent if self.state.parent.name == ".realtrace" else self.state
            )
        return tuple(p for p in paths if isinstance(p, Path))

    def validate(self) -> None:
        if not self.inputs:
            raise ConfigError("no input: pass --input PATH (file, directory or glob)")
        if self.mapping.max_history < 0:
            raise ConfigError(f"--max-history {self.mapping.max_history}: must be 0 or more")
        if self.workers < 0:
            raise ConfigError(f"--workers {self.workers}: must be 0 (auto) or more")
        if (
            self.since_ns is not None
            and self.until_ns is not None
            and self.since_ns > self.until_ns
        ):
            raise ConfigError("--since is after --until: nothing could be selected; swap them")
        if self.max_line_bytes < 1024:
            raise ConfigError(f"--max-line-bytes {self.max_line_bytes}: must be at least 1024")
        if self.settle_ns < 0:
            raise ConfigError("--settle: must be 0 (no wait) or more")
        self.limits.validate()
        self.destination.validate()
        for flag, path in (
            ("--report", self.report),
            ("--rejects", self.rejects),
            ("--html", self.html),
        ):
            if path is not None and path.is_dir():
                raise ConfigError(f"{flag} {path} is a directory: name a file inside it")


@dataclass(frozen=True, slots=True)
class ReplayConfig:
    """Everything one `realtrace replay` needs: the file, where it goes, the batch limits."""

    file: Path
    destination: Destination  # any that sends (not the file: `resolve_replay` says so)
    limits: BatchLimits = field(default_factory=BatchLimits)
    sources: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def validate(self) -> None:
        self.limits.validate()
        self.destination.validate()
        files = sorted(self.file.glob("*.jsonl")) if self.file.is_dir() else [self.file]
        if self.destination.dead_letter is None:
            raise ConfigError("replay needs a destination that sends: --endpoint or --exporter")
        again = self.destination.dead_letter.resolve()
        if again == self.file.resolve() or again in {f.resolve() for f in files}:
            raise ConfigError(
                f"--dead-letter {self.destination.dead_letter} is the file being replayed: "
                "name another file (replay would overwrite its own input)"
            )


def default_state_path(output: Path, env: Mapping[str, str]) -> Path:
    """`.realtrace/state.db` beside the output, or under $XDG_STATE_HOME when it is set."""
    xdg = env.get("XDG_STATE_HOME")
    if xdg:
        return Path(xdg) / "realtrace" / "state.db"
    return output.resolve().parent / ".realtrace" / "state.db"
