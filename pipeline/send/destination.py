"""Destination: where a run's spans go, decided once (in `resolve`) and carrying its behaviour.

A destination knows the encoding its spans take, its identity in the state store,
the sender chain it is written through and the layout of its files when many
processes write at once (an engine's parallel writers: one part file each).
Nothing else in realtrace asks "file or network": a new destination (Kafka, a
directory of part files, …) is one more class here and one more case in
`resolve`.
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from pipeline import private
from pipeline.encode import request_bytes, resource, span_bytes, span_json
from pipeline.errors import (
    AuthError,
    ConfigError,
    NoEndpointError,
    NotOtlpError,
    PermanentExportError,
    RetryableExportError,
    TooLargeError,
    UnreachableError,
    WrongProtocolError,
)
from pipeline.records import Encoder, SpanRecord
from pipeline.redact import Redactor
from pipeline.send.chain import (
    Chain,
    DeadLetterSender,
    DiscardSender,
    FileSender,
    RejectedSender,
    SplitSender,
    TransportSender,
    UnsentSender,
)
from pipeline.send.retry import SYSTEM_CLOCK, Clock, RetrySender
from pipeline.send.settings import ExportConfig, masked_url, redact_url
from pipeline.send.sinks import JsonLinesFile

STDOUT = private.STDOUT  # `--output -`


def parts_of(path: Path) -> Path:
    """The directory of part files that stands for `path` when many processes write it."""
    return path.with_name(path.name + ".d")


def written_at(path: Path, partitioned: bool) -> Path:
    """Where a file of this destination is: the file, or the directory of its parts when
    parallel writers each write their own."""
    return parts_of(path) if partitioned else path


@dataclass(frozen=True, slots=True)
class FileDestination:
    """OTLP/JSON lines in a local file (the OpenTelemetry Collector's file-exporter format).

    `partitioned`: written by parallel writers (a Ray run), as `<output>.d/part-NNNNN.jsonl`.
    """

    output: Path
    partitioned: bool = False
    clock: Clock = field(default=SYSTEM_CLOCK, compare=False)  # nothing waits on a file
    export: None = None  # no OTLP settings (see OtlpDestination.export)
    is_braintrust = False

    @property
    def encoder(self) -> Encoder:
        return span_json

    @property
    def state_id(self) -> str:
        """Identity in the state store (never holds credentials)."""
        return f"file:{self.output.resolve()}" + (".d" if self.partitioned else "")

    @property
    def location(self) -> Path:
        """Where the spans are, for the user: the file, or the directory of its parts."""
        return written_at(self.output, self.partitioned)

    source_key = "output"  # the setting that chose it, in the run's sources

    def describe(self) -> str:
        """Where the spans go, as the summary says it."""
        return f"file {self.location}"

    @property
    def writes_stdout(self) -> bool:
        return self.output == STDOUT

    @property
    def tracked_file(self) -> Path | None:
        """The one file whose length the state commits with each delivery (a rerun cuts
        it back to there); parts are whole files, none is tracked."""
        return None if self.partitioned else self.output

    @property
    def dead_letter(self) -> Path | None:
        """Nothing fails to be written to a file without failing the run (exit 7)."""
        return None

    @property
    def dead_letter_paths(self) -> tuple[Path, ...]:
        return ()

    @property
    def side_files(self) -> tuple[Path, ...]:
        """Files beside the spans that this destination writes (never read as input)."""
        return (self.output, parts_of(self.output))

    @property
    def secrets(self) -> tuple[str, ...]:
        return ()

    @property
    def concurrency(self) -> int:
        return 1

    @property
    def written(self) -> list[Path]:
        """The files holding this destination's spans now."""
        if self.partitioned:
            return sorted(self.location.glob("part-*.jsonl"))
        return [self.output] if self.output.exists() else []

    def partition(self) -> FileDestination:
        return replace(self, partitioned=True)

    def writer(self) -> FileDestination:
        """The destination one of many parallel writers writes: the next free part file."""
        return FileDestination(_next_part(self.location)) if self.partitioned else self

    def validate(self) -> None:
        if self.output.is_dir():
            raise ConfigError(f"--output {self.output} is a directory: name a file inside it")

    def check(self, stop: threading.Event) -> None:
        """First contact: nothing to reach for a file (a full disk says so when written)."""

    @contextlib.contextmanager
    def open_chain(
        self, stop: threading.Event, redactor: Redactor, append: bool
    ) -> Iterator[Chain]:
        """`append`: add to the file (a state tracks what it holds) instead of replacing it."""
        with JsonLinesFile(self.output, append=append) as out:
            out.touch()
            sender = FileSender(out)
            yield Chain(sender, 1, sender)  # stopping early, the file still takes what is held


def no_bytes(_: SpanRecord) -> bytes:
    """`NoDestination`'s encoder: its spans are read by nothing."""
    return b""


@dataclass(frozen=True, slots=True)
class NoDestination:
    """Nowhere: spans are converted, never encoded, written nor sent. For a run that
    converts only for its report (`realtrace report` on logs: each session's report part
    comes from its typed records), and nothing it does is remembered (no state)."""

    clock: Clock = field(default=SYSTEM_CLOCK, compare=False)
    export: None = None
    is_braintrust = False
    source_key = "report"
    state_id = "none"
    location = "nowhere"
    writes_stdout = False
    tracked_file = None
    dead_letter = None
    dead_letter_paths: tuple[Path, ...] = ()
    side_files: tuple[Path, ...] = ()
    secrets: tuple[str, ...] = ()
    concurrency = 1

    @property
    def encoder(self) -> Encoder:
        return no_bytes

    def describe(self) -> str:
        return "nowhere (the report only)"

    @property
    def written(self) -> list[Path]:
        return []

    def partition(self) -> NoDestination:
        return self

    def writer(self) -> NoDestination:
        return self

    def validate(self) -> None:
        """Nothing to check."""

    def check(self, stop: threading.Event) -> None:
        """Nothing to reach."""

    @contextlib.contextmanager
    def open_chain(
        self, stop: threading.Event, redactor: Redactor, append: bool
    ) -> Iterator[Chain]:
        sender = DiscardSender()
        yield Chain(sender, 1, sender)


class DeadLettered:
    """What a destination that can fail to deliver shares: its dead letter, a file, or the
    directory of its parts when parallel writers write it; no file tracked by the state."""

    __slots__ = ()
    dead_letter_file: Path
    partitioned: bool

    @property
    def tracked_file(self) -> Path | None:
        return None

    @property
    def dead_letter(self) -> Path:
        """Where spans that failed after retries are: the file, or the directory of its parts."""
        return written_at(self.dead_letter_file, self.partitioned)

    @property
    def dead_letter_paths(self) -> tuple[Path, ...]:
        """Every place a dead letter of this destination may be: the file and its parts."""
        return (self.dead_letter_file, parts_of(self.dead_letter_file))


@dataclass(frozen=True, slots=True)
class OtlpDestination(DeadLettered):
    """An OTLP endpoint (gRPC or HTTP), with the dead letter for what fails after retries.

    `partitioned`: parallel writers each write their own dead-letter part, in
    `<dead_letter>.d/` (processes do not share one file); `realtrace replay` takes it.
    """

    export: ExportConfig
    dead_letter_file: Path
    rejected_file: Path  # spans the backend refused (OTLP partial success), with its message
    partitioned: bool = False
    clock: Clock = field(default=SYSTEM_CLOCK, compare=False)  # a test's fake time for waits

    @property
    def is_braintrust(self) -> bool:
        """Braintrust's endpoint (its parent header set): its audio can go as attachments."""
        return any(k.lower() == "x-bt-parent" for k, _ in self.export.headers)

    @property
    def encoder(self) -> Encoder:
        return span_bytes

    @property
    def state_id(self) -> str:
        """Protocol, URL (redacted) and the Braintrust parent: where a session was delivered."""
        headers = {k.lower(): v for k, v in self.export.headers}
        parent = headers.get("x-bt-parent", "")
        url = f"{self.export.protocol}:{redact_url(self.export.traces_url)}"
        return url + (f"#{parent}" if parent else "")

    @property
    def location(self) -> str:
        return self.export.traces_url

    source_key = "endpoint"

    def describe(self) -> str:
        return f"{self.export.protocol} {masked_url(self.export.traces_url)}"

    @property
    def writes_stdout(self) -> bool:
        return False

    @property
    def rejected(self) -> Path:
        """Where refused spans are: the file, or the directory of its parts."""
        return written_at(self.rejected_file, self.partitioned)

    @property
    def side_files(self) -> tuple[Path, ...]:
        return (*self.dead_letter_paths, self.rejected_file, parts_of(self.rejected_file))

    @property
    def secrets(self) -> tuple[str, ...]:
        return self.export.secrets

    @property
    def concurrency(self) -> int:
        return self.export.concurrency

    @property
    def written(self) -> list[Path]:
        return []  # a backend replaces a span sent again under the same ids

    def partition(self) -> OtlpDestination:
        return replace(self, partitioned=True)

    def writer(self) -> OtlpDestination:
        """One parallel writer's destination: a dead-letter part of its own (created only
        if something fails)."""
        if not self.partitioned:
            return self
        part = f"part-{os.getpid()}-{uuid.uuid4().hex[:12]}.jsonl"
        return OtlpDestination(
            self.export, self.dead_letter / part, self.rejected / part, clock=self.clock
        )

    def validate(self) -> None:
        self.export.validate()

    def check(self, stop: threading.Event) -> None:
        """First contact, before anything is read: an empty export request (valid OTLP),
        so that a host that does not resolve, a refused connection, an untrusted
        certificate, refused credentials or a wrong path end the run in seconds, saying
        why. Brief outages are waited out (three waits, 3.5 s in all); any answer from an
        OTLP endpoint, even a refusal of the empty request, lets the run go on."""
        from pipeline.send.transport import make_transport

        quick = replace(self.export, timeout=min(self.export.timeout, PROBE_TIMEOUT))
        transport = make_transport(quick, Redactor(self.secrets), stop)
        body = request_bytes([], resource("realtrace"))
        try:
            for wait in (*PROBE_WAITS, None):
                try:
                    transport.send(body)
                    return
                except (AuthError, NoEndpointError, NotOtlpError, WrongProtocolError) as exc:
                    raise ConfigError(_fix(exc)) from None
                except RetryableExportError as exc:
                    if exc.setup:
                        raise ConfigError(_fix(exc)) from None
                    if wait is None:
                        hint = (
                            "the endpoint answered but is not taking requests now"
                            if exc.answered
                            else "check that the collector runs and the port is right"
                        )
                        raise UnreachableError(
                            f"{exc}; nothing was read or sent: the next run tries again ({hint})"
                        ) from None
                    self.clock.sleep(wait, stop)
                except (PermanentExportError, TooLargeError):
                    return  # it answered: the run's own requests will say more
        finally:
            transport.close()

    @contextlib.contextmanager
    def open_chain(
        self, stop: threading.Event, redactor: Redactor, append: bool
    ) -> Iterator[Chain]:
        """rejected → dead letter → split → retry → transport; the dead letter
        and the rejected file are created only when something goes there."""
        from pipeline.send.transport import make_transport  # gRPC and requests: network runs only

        transport = make_transport(self.export, redactor, stop)
        dead = JsonLinesFile(self.dead_letter_file, append=True)
        refused = JsonLinesFile(self.rejected_file, append=True)
        budget = self.export.max_retry_time
        retry = RetrySender(TransportSender(transport), budget, clock=self.clock, stop=stop)
        here = self.state_id
        sender = RejectedSender(DeadLetterSender(SplitSender(retry), dead, here), refused)
        unsent = DeadLetterSender(UnsentSender("not sent: the run stopped early"), dead, here)
        try:
            yield Chain(sender, self.export.concurrency, unsent)
        finally:
            transport.close()
            dead.close()
            refused.close()


@dataclass(frozen=True, slots=True)
class ExporterDestination(DeadLettered):
    """An OpenTelemetry SDK exporter found by name (`--exporter`, `OTEL_TRACES_EXPORTER`;
    send/sdk.py), configured by its own environment variables, behind the run's usual
    retry sender and dead letter. Its identity in the state is its name and the endpoint
    settings it reads (`settings`: the exporter's own variables, as found)."""

    name: str
    dead_letter_file: Path
    max_retry_time: float
    settings: tuple[tuple[str, str], ...] = ()
    partitioned: bool = False
    clock: Clock = field(default=SYSTEM_CLOCK, compare=False)
    export: None = None  # configured by its own variables, not realtrace's OTLP settings
    is_braintrust = False

    @property
    def encoder(self) -> Encoder:
        return span_bytes

    @property
    def state_id(self) -> str:
        where = ",".join(f"{k}={redact_url(v)}" for k, v in self.settings)
        return f"exporter:{self.name}" + (f"#{where}" if where else "")

    @property
    def location(self) -> str:
        return f"the {self.name} exporter" + (
            f" ({', '.join(redact_url(v) for _, v in self.settings)})" if self.settings else ""
        )

    source_key = "exporter"

    def describe(self) -> str:
        return f"exporter {self.name}" + (
            f" ({', '.join(f'{k}={redact_url(v)}' for k, v in self.settings)})"
            if self.settings
            else ""
        )

    @property
    def writes_stdout(self) -> bool:
        return self.name == "console"  # the SDK's console exporter prints to stdout

    @property
    def side_files(self) -> tuple[Path, ...]:
        return self.dead_letter_paths

    @property
    def secrets(self) -> tuple[str, ...]:
        return ()

    @property
    def concurrency(self) -> int:
        return 1  # an SDK exporter is called from one thread, as its batch processor does

    @property
    def written(self) -> list[Path]:
        return []

    def partition(self) -> ExporterDestination:
        return replace(self, partitioned=True)

    def writer(self) -> ExporterDestination:
        if not self.partitioned:
            return self
        part = f"part-{os.getpid()}-{uuid.uuid4().hex[:12]}.jsonl"
        return replace(self, dead_letter_file=self.dead_letter / part, partitioned=False)

    def validate(self) -> None:
        from pipeline.send.sdk import load

        load(self.name)  # an unknown name is a configuration error before anything is read

    def check(self, stop: threading.Event) -> None:
        """First contact: an exporter has no probe of its own; its first batch says."""

    @contextlib.contextmanager
    def open_chain(
        self, stop: threading.Event, redactor: Redactor, append: bool
    ) -> Iterator[Chain]:
        """dead letter → retry → the exporter; shut down at the end (it flushes)."""
        from pipeline.send.sdk import ExporterSender, load

        try:
            exporter = load(self.name)()
        except ConfigError:
            raise
        except Exception as exc:  # its own settings refused (a bad endpoint variable…)
            raise ConfigError(f"the {self.name} exporter could not start: {exc}") from None
        dead = JsonLinesFile(self.dead_letter_file, append=True)
        here = self.state_id
        retry = RetrySender(
            ExporterSender(exporter, self.name), self.max_retry_time, clock=self.clock, stop=stop
        )
        sender = DeadLetterSender(retry, dead, here)
        unsent = DeadLetterSender(UnsentSender("not sent: the run stopped early"), dead, here)
        try:
            yield Chain(sender, 1, unsent)
        finally:
            with contextlib.suppress(Exception):
                exporter.shutdown()
            dead.close()


class Destination(Protocol):
    """What the run, the engines and the CLI ask of where spans go; nothing else. A new
    destination (Kafka, say) is one class with these members and one case in
    `resolve._destination`."""

    @property
    def encoder(self) -> Encoder: ...
    @property
    def state_id(self) -> str: ...
    @property
    def location(self) -> object: ...
    @property
    def source_key(self) -> str: ...
    def describe(self) -> str: ...
    @property
    def writes_stdout(self) -> bool: ...
    @property
    def is_braintrust(self) -> bool: ...
    @property
    def export(self) -> ExportConfig | None: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def tracked_file(self) -> Path | None: ...
    @property
    def dead_letter(self) -> Path | None: ...
    @property
    def dead_letter_paths(self) -> tuple[Path, ...]: ...
    @property
    def side_files(self) -> tuple[Path, ...]: ...
    @property
    def secrets(self) -> tuple[str, ...]: ...
    @property
    def concurrency(self) -> int: ...
    @property
    def written(self) -> list[Path]: ...
    def partition(self) -> Destination: ...
    def writer(self) -> Destination: ...
    def validate(self) -> None: ...
    def check(self, stop: threading.Event) -> None: ...
    def open_chain(
        self, stop: threading.Event, redactor: Redactor, append: bool
    ) -> contextlib.AbstractContextManager[Chain]: ...


PROBE_TIMEOUT = 10.0  # seconds for the first contact's request, at most
PROBE_WAITS = (0.5, 1.0, 2.0)  # seconds between its attempts while the endpoint is down


def _fix(exc: Exception) -> str:
    """A first-contact failure with what to do about it."""
    text = str(exc)
    if isinstance(exc, AuthError):
        return f"{text}: check BRAINTRUST_API_KEY or the Authorization header"
    if "DNS" in text:
        return f"{text}: check the endpoint's host name"
    if "TLS" in text or "certificate" in text.lower() or "ssl" in text.lower():
        return f"{text}: check the URL's scheme, or trust its CA (OTEL_EXPORTER_OTLP_CERTIFICATE)"
    return text


def _next_part(parts_dir: Path) -> Path:
    """The next free `part-NNNNN.jsonl`, taken atomically (tasks run at once, or again)."""
    private.mkdir(parts_dir)
    n = len(list(parts_dir.glob("part-*.jsonl")))
    while True:
        path = parts_dir / f"part-{n:05d}.jsonl"
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            return path
        except FileExistsError:
            n += 1
