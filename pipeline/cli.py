"""CLI: thin click commands over the library (`run_convert`, `replay`, ...)."""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import functools
import json
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from pipeline import __version__
from pipeline.config import (
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_RETRY_TIME,
    DEFAULT_OUTPUT,
    DEFAULT_TIMEOUT,
    ConfigError,
    ExportConfig,
    RunConfig,
    environ,
    resolve_export,
)
from pipeline.core.attributes import DEFAULT_MAPPING, PAYLOADS, MappingOptions
from pipeline.progress import JsonFormatter, Progress
from pipeline.read.load import DEFAULT_TIMESTAMP_FIELDS
from pipeline.redact import RedactingFilter, Redactor
from pipeline.report import ExitCode, error_lines, plural, summary_lines
from pipeline.run import inspect_sessions, replay, run_convert
from pipeline.send.sinks import NotOtlpJsonError
from pipeline.state.store import StateError, StateLockedError, StateStore, default_state_path

EXPORT_OPTIONS = [
    click.option(
        "--endpoint",
        default=None,
        metavar="URL",
        help="OTLP endpoint; without one (and without OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT) spans go to --output.",
    ),
    click.option(
        "--protocol",
        type=click.Choice(["grpc", "http/protobuf"]),
        default=None,
        help="OTLP protocol. [default: OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf for https and Braintrust, grpc otherwise]",
    ),
    click.option(
        "--compression",
        type=click.Choice(["gzip", "none"]),
        default=None,
        help="Request compression. [default: gzip]",
    ),
    click.option(
        "--header",
        "headers",
        multiple=True,
        metavar="K=V",
        help="Extra request header; repeatable.",
    ),
    click.option(
        "--braintrust",
        "use_braintrust",
        is_flag=True,
        help="Send to Braintrust (BRAINTRUST_API_URL or https://api.braintrust.dev, /otel) with BRAINTRUST_API_KEY.",
    ),
    click.option(
        "--braintrust-project",
        default=None,
        metavar="NAME",
        help="x-bt-parent: project_name:NAME (implies --braintrust).",
    ),
    click.option(
        "--braintrust-parent",
        default=None,
        metavar="KIND:ID",
        help="x-bt-parent as is: project_id:…, project_name:… or experiment_id:… [default: BRAINTRUST_PARENT]",
    ),
    click.option(
        "--insecure", is_flag=True, help="Allow credentials over plain http to a non-loopback host."
    ),
    click.option(
        "--timeout",
        type=float,
        default=None,
        help=f"Seconds per request. [default: {DEFAULT_TIMEOUT:g}, or OTEL_EXPORTER_OTLP_TIMEOUT in ms]",
    ),
    click.option(
        "--max-retry-time",
        type=float,
        default=None,
        help=f"Seconds of retrying a failing endpoint, for the whole run: once it has failed that long, the remaining batches go to the dead letter at once. [default: {DEFAULT_MAX_RETRY_TIME:g}]",
    ),
    click.option(
        "--max-batch-spans",
        type=int,
        default=None,
        help="Spans per request at most. [default: 2048]",
    ),
    click.option(
        "--max-batch-bytes",
        type=int,
        default=None,
        help="Encoded bytes per request at most. [default: 4,128,768]",
    ),
    click.option(
        "--concurrency",
        type=int,
        default=None,
        help=f"Requests in flight at most. [default: {DEFAULT_CONCURRENCY}]",
    ),
]


def export_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The OTLP destination options shared by `convert` and `replay`."""
    for opt in reversed(EXPORT_OPTIONS):
        fn = opt(fn)
    return fn


def _export_config(kw: dict[str, Any]) -> ExportConfig | None:
    return resolve_export(
        environ(),
        endpoint=kw.pop("endpoint"),
        protocol=kw.pop("protocol"),
        headers=kw.pop("headers"),
        compression=kw.pop("compression"),
        timeout=kw.pop("timeout"),
        braintrust=kw.pop("use_braintrust"),
        braintrust_project=kw.pop("braintrust_project"),
        braintrust_parent=kw.pop("braintrust_parent"),
        insecure=kw.pop("insecure"),
        max_retry_time=kw.pop("max_retry_time"),
        max_batch_spans=kw.pop("max_batch_spans"),
        max_batch_bytes=kw.pop("max_batch_bytes"),
        concurrency=kw.pop("concurrency"),
    )


def _config_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn library configuration errors into a one-line message and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (ConfigError, FileNotFoundError) as exc:
            click.echo(f"realtrace: {exc}", err=True)
            raise SystemExit(ExitCode.CONFIG) from None

    return wrapper


def parse_when(text: str | None, flag: str) -> int | None:
    """A date or ISO datetime as UTC nanoseconds (naive means UTC)."""
    if text is None:
        return None
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            f"{flag} {text!r}: expected a date (2026-11-01) or ISO datetime (2026-11-01T06:00:00Z)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp()) * 1_000_000_000 + when.microsecond * 1000


def _setup_logging(fmt: str, quiet: bool, secrets: tuple[str, ...]) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter()
        if fmt == "json"
        else logging.Formatter("%(asctime)s realtrace: %(message)s")
    )
    handler.addFilter(RedactingFilter(Redactor(secrets)))
    log = logging.getLogger("realtrace")
    log.handlers[:] = [handler]
    log.setLevel(logging.WARNING if quiet else logging.INFO)
    log.propagate = False


_IO_HINTS = {
    errno.ENOSPC: "free some space or write elsewhere",
    errno.EDQUOT: "free some space or write elsewhere",
    errno.EFBIG: "the file is over the size limit: write elsewhere",
    errno.EACCES: "check its permissions or write elsewhere",
    errno.EROFS: "the file system is read-only: write elsewhere",
    errno.EISDIR: "it is a directory: name a file",
}


class RealtraceGroup(click.Group):
    """Every failure a user can meet is one line on stderr with a documented exit code.

    Configuration and state problems exit 2, I/O failures (disk full, unwritable
    path) 7, a held lock 6; anything else is a bug: one line, exit 1 (set
    REALTRACE_DEBUG=1 for the traceback).
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (ConfigError, StateError, NotOtlpJsonError, FileNotFoundError) as exc:
            click.echo(f"realtrace: {exc}", err=True)
            raise SystemExit(ExitCode.CONFIG) from None
        except StateLockedError as exc:
            click.echo(f"realtrace: {exc}", err=True)
            raise SystemExit(ExitCode.LOCKED) from None
        except OSError as exc:
            if os.environ.get("REALTRACE_DEBUG"):
                raise
            where = f" {exc.filename}" if exc.filename else ""
            hint = _IO_HINTS.get(exc.errno or 0, "check the path and the disk")
            click.echo(f"realtrace: cannot write{where}: {exc.strerror or exc} ({hint})", err=True)
            raise SystemExit(ExitCode.IO) from None
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except Exception as exc:
            if os.environ.get("REALTRACE_DEBUG"):
                raise
            click.echo(
                f"realtrace: internal error: {type(exc).__name__}: {exc} (a bug: please report "
                "it; REALTRACE_DEBUG=1 shows the traceback)",
                err=True,
            )
            raise SystemExit(ExitCode.INTERNAL) from None


@click.group(
    cls=RealtraceGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="realtrace")
def main() -> None:
    """Turn recorded OpenAI Realtime API event logs into OpenTelemetry traces.

    \b
    Example (no credentials; writes OTLP JSON lines locally):
      realtrace convert --input sample_logs/
    """


@main.command()
@click.option(
    "--input",
    "-i",
    "inputs",
    multiple=True,
    required=True,
    metavar="PATH",
    help="Log file, directory (recursive) or glob; repeatable. JSON lines (.jsonl/.ndjson/.json/.log, optionally .gz/.zst) or Parquet.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    default=DEFAULT_OUTPUT,
    show_default=True,
    help="OTLP JSON lines file written when no endpoint is configured.",
)
@click.option(
    "--rejects",
    type=click.Path(path_type=Path),
    default=None,
    help="Rejected lines (file, line, reason) as JSON lines. [default: <output>.rejects.jsonl]",
)
@click.option(
    "--timestamp-field",
    "timestamp_fields",
    multiple=True,
    metavar="KEY",
    help=f"Top-level key holding the event time; repeatable. [default: {', '.join(DEFAULT_TIMESTAMP_FIELDS)}]",
)
@click.option(
    "--root-name",
    metavar="NAME",
    default="realtime_session",
    show_default=True,
    help="Name of each session's root span.",
)
@click.option(
    "--tag",
    "tags",
    multiple=True,
    metavar="TAG",
    help="Extra Braintrust tag on every root span; repeatable.",
)
@click.option(
    "--attributes",
    "payloads",
    type=click.Choice(PAYLOADS),
    default=DEFAULT_MAPPING.payloads,
    show_default=True,
    help="Where span messages go, once per span: braintrust.input_json/output_json, gen_ai.input/output.messages (other OTLP backends), or both (twice the bytes).",
)
@click.option(
    "--max-history",
    default=50,
    show_default=True,
    type=int,
    help="Conversation messages kept in each response span's input, after the system instructions and a note of how many were left out (the root keeps the whole history).",
)
@click.option(
    "--service-name",
    metavar="NAME",
    default="realtrace",
    show_default=True,
    help="OTel resource service.name.",
)
@click.option("--strict", is_flag=True, help="Exit 5 when any input line was rejected.")
@click.option(
    "--report",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the run's counts as JSON here.",
)
@click.option(
    "--dead-letter",
    type=click.Path(path_type=Path),
    default=None,
    help="Spans that failed after retries, as OTLP JSON lines (with a state the next run resends them; without, use `realtrace replay`). [default: <output>.dead-letter.jsonl]",
)
@click.option(
    "--state",
    "state_path",
    type=click.Path(path_type=Path),
    default=None,
    help="SQLite state of what was delivered where. [default: .realtrace/state.db beside the output, or $XDG_STATE_HOME/realtrace/state.db]",
)
@click.option(
    "--no-state",
    is_flag=True,
    help="Keep no state: every run converts and sends everything (and overwrites --output).",
)
@click.option(
    "--full",
    is_flag=True,
    help="Ignore the state: re-read every file and re-send every session (ids stay the same).",
)
@click.option(
    "--skip-changed",
    is_flag=True,
    help="Keep the first delivery of a session whose events changed since, instead of re-sending it.",
)
@click.option(
    "--since",
    type=str,
    default=None,
    metavar="WHEN",
    help="Only sessions starting at or after WHEN (date or ISO datetime, UTC if no offset).",
)
@click.option(
    "--until", type=str, default=None, metavar="WHEN", help="Only sessions starting before WHEN."
)
@click.option(
    "--sessions-from",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Only the session keys listed in this file, one per line.",
)
@click.option(
    "--progress",
    "progress_mode",
    type=click.Choice(["auto", "bar", "log", "none"]),
    default="auto",
    show_default=True,
    help="Progress bar on a terminal, periodic log lines otherwise (cron).",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Format of log lines on stderr.",
)
@click.option(
    "--workers",
    type=int,
    default=0,
    show_default=True,
    help="Worker processes for reading and converting; 0 = automatic (one per CPU, up to 4 and at most one per file, for inputs over 256 MB).",
)
@click.option(
    "--quiet", "-q", is_flag=True, help="No summary or progress; errors still go to stderr."
)
@export_options
@_config_errors
def convert(
    inputs: tuple[str, ...],
    output: Path,
    rejects: Path | None,
    timestamp_fields: tuple[str, ...],
    root_name: str,
    tags: tuple[str, ...],
    payloads: str,
    max_history: int,
    service_name: str,
    strict: bool,
    report: Path | None,
    dead_letter: Path | None,
    state_path: Path | None,
    no_state: bool,
    full: bool,
    skip_changed: bool,
    since: str | None,
    until: str | None,
    sessions_from: Path | None,
    progress_mode: str,
    log_format: str,
    workers: int,
    quiet: bool,
    **export_kw: Any,
) -> None:
    """Convert event logs to one trace per session and write or export them.

    \b
    Examples:
      realtrace convert --input sample_logs/
      realtrace convert -i 'logs/2026-11-*.jsonl.gz' -o traces.jsonl --tag nightly
      BRAINTRUST_API_KEY=... realtrace convert -i logs/ --braintrust-project voice-agent
      realtrace convert -i logs/ --endpoint http://localhost:4317 --protocol grpc

    Reruns are idempotent: sessions already delivered unchanged to the same
    destination are skipped (see --state, --full, --skip-changed).

    Exit codes: 0 all delivered; 1 internal error (a bug); 2 configuration error
    (or credentials refused); 3 some sessions not delivered (the next run resends
    them); 4 nothing to do (no new session); 5 lines rejected under --strict;
    6 another run holds the state; 7 I/O error (disk full, unwritable path);
    130/143 stopped by SIGINT/SIGTERM (what was acknowledged is recorded).
    """
    limits = {
        k: export_kw[k] for k in ("max_batch_spans", "max_batch_bytes") if export_kw[k] is not None
    }
    export = _export_config(export_kw)
    _setup_logging(log_format, quiet, export.secrets if export else ())
    cfg = RunConfig(
        **limits,
        inputs=inputs,
        output=output,
        rejects=rejects,
        timestamp_fields=timestamp_fields or DEFAULT_TIMESTAMP_FIELDS,
        mapping=MappingOptions(
            root_name=root_name, tags=tags, max_history=max_history, payloads=payloads
        ),
        service_name=service_name,
        strict=strict,
        report=report,
        export=export,
        dead_letter=dead_letter,
        state=None if no_state else (state_path or default_state_path(output)),
        full=full,
        skip_changed=skip_changed,
        since_ns=parse_when(since, "--since"),
        until_ns=parse_when(until, "--until"),
        sessions_from=sessions_from,
        workers=workers,
    )
    stop = threading.Event()
    with _stopping_on_signals(stop) as signalled:
        result = run_convert(cfg, Progress("none" if quiet else progress_mode), stop)
    for line in error_lines(result.stats):
        click.echo(line, err=True)
    if not quiet:
        for line in summary_lines(result.stats):
            click.echo(line)
        click.echo(f"output:              {cfg.destination}")
        click.echo(f"rejects:             {cfg.rejects_path}")
        if result.stats.spans_dead_lettered:
            advice = (
                "the next run sends these sessions again; do not also replay it"
                if cfg.state is not None
                else f"send later with: realtrace replay {cfg.dead_letter_path} ..."
            )
            click.echo(f"dead letter:         {cfg.dead_letter_path} ({advice})")
    raise SystemExit(EXIT_SIGNAL[signalled[0]] if signalled else result.exit_code)


EXIT_SIGNAL = {signal.SIGINT: ExitCode.SIGINT, signal.SIGTERM: ExitCode.SIGTERM}


@contextlib.contextmanager
def _stopping_on_signals(stop: threading.Event) -> Iterator[list[signal.Signals]]:
    """First SIGINT/SIGTERM: stop sending, cancel waits, record what was acknowledged and
    print the summary (exit 130/143). A second one exits at once."""
    got: list[signal.Signals] = []

    def handler(signum: int, frame: object) -> None:
        if got:
            os._exit(EXIT_SIGNAL.get(signal.Signals(signum), 130))
        got.append(signal.Signals(signum))
        stop.set()
        logging.getLogger("realtrace").warning(
            "%s: stopping (recording what was delivered; again to quit at once)",
            signal.Signals(signum).name,
        )

    previous = {sig: signal.signal(sig, handler) for sig in EXIT_SIGNAL}
    try:
        yield got
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@main.command(name="config")
@export_options
def config_cmd(**export_kw: Any) -> None:
    """Show where spans would go and every export setting with where it came from
    (flag, environment variable or default), credentials redacted.

    \b
    Example:
      BRAINTRUST_API_KEY=... realtrace config --braintrust-project voice-agent
    """
    export = _export_config(export_kw)
    if export is None:
        click.echo(
            f"destination  file {DEFAULT_OUTPUT} (no endpoint: flag, OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT or --braintrust)"
        )
        return
    export.validate()
    redact = Redactor(export.secrets)
    sources = dict(export.sources)
    rows = [
        ("destination", export.traces_url, sources["endpoint"]),
        ("protocol", export.protocol, sources["protocol"]),
        ("compression", export.compression, sources["compression"]),
        ("timeout", f"{export.timeout:g} s", sources["timeout"]),
        ("max-retry-time", f"{export.max_retry_time:g} s", sources["max_retry_time"]),
        ("max-batch-spans", str(export.max_batch_spans), sources["max_batch_spans"]),
        ("max-batch-bytes", str(export.max_batch_bytes), sources["max_batch_bytes"]),
        ("concurrency", str(export.concurrency), sources["concurrency"]),
        ("insecure", str(export.insecure).lower(), sources["insecure"]),
    ]
    rows += [(f"header {k}", redact(v), sources.get(f"header {k}", "")) for k, v in export.headers]
    width = max(len(r[0]) for r in rows)
    for name, value, source in rows:
        click.echo(f"{name:<{width}}  {value}  ({source})")


@main.group(name="state")
def state_group() -> None:
    """Inspect or reset the delivery state (what was delivered where)."""


_state_option = click.option(
    "--state",
    "state_path",
    type=click.Path(path_type=Path),
    default=None,
    help="State database. [default: the one `convert` uses for ./realtrace-traces.jsonl]",
)


@state_group.command(name="show")
@_state_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def state_show(state_path: Path | None, as_json: bool) -> None:
    """Sessions per destination and status."""
    path = state_path or default_state_path(DEFAULT_OUTPUT)
    if not path.exists():
        raise ConfigError(f"no state at {path}: name one with --state (a run creates it)")
    with StateStore(path, "", lock=False) as st:  # WAL: reads while a run writes
        rows = st.summary()
    if as_json:
        click.echo(json.dumps({"state": str(path), "destinations": rows}, indent=2))
        return
    click.echo(f"state: {path}")
    for r in rows:
        click.echo(
            f"  {r['destination']}  {r['status']:<9} {r['sessions']:>8} sessions {r['spans'] or 0:>10} spans"
        )
    if not rows:
        click.echo("  (empty)")


@state_group.command(name="forget")
@_state_option
@click.option(
    "--session",
    "sessions",
    multiple=True,
    metavar="KEY",
    help="Forget only this session (every destination); repeatable.",
)
@click.option("--all", "forget_all", is_flag=True, help="Forget everything.")
def state_forget(state_path: Path | None, sessions: tuple[str, ...], forget_all: bool) -> None:
    """Forget deliveries so the next `convert` sends those sessions again."""
    if not sessions and not forget_all:
        raise click.UsageError("name --session KEY (repeatable) or --all")
    path = state_path or default_state_path(DEFAULT_OUTPUT)
    if not path.exists():
        raise ConfigError(f"no state at {path}: name one with --state (a run creates it)")
    with StateStore(path, "") as st:
        n = st.forget(sessions, everywhere=True)
    click.echo(f"forgot {n} session records in {path}")


@main.command(name="inspect")
@click.option(
    "--input",
    "-i",
    "inputs",
    multiple=True,
    required=True,
    metavar="PATH",
    help="Log file, directory or glob; repeatable.",
)
@click.option(
    "--timestamp-field",
    "timestamp_fields",
    multiple=True,
    metavar="KEY",
    help="Event time key; repeatable.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="One JSON object per session instead of a table."
)
@_config_errors
def inspect_cmd(inputs: tuple[str, ...], timestamp_fields: tuple[str, ...], as_json: bool) -> None:
    """List the sessions found in logs (nothing is exported).

    \b
    Example:
      realtrace inspect -i sample_logs/

    Rejected records are counted by reason on stderr. Exit codes: 0 sessions
    found; 4 none found; 2 no input.
    """
    rows, stats = inspect_sessions(list(inputs), timestamp_fields or DEFAULT_TIMESTAMP_FIELDS)
    if stats.rejects_by_reason:
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(stats.rejects_by_reason.items()))
        click.echo(f"realtrace: {stats.rejected_lines} rejected ({reasons})", err=True)
        if not rows and "no timestamp field" in stats.rejects_by_reason:
            click.echo(
                "realtrace: hint: name the key holding each event's time with --timestamp-field KEY",
                err=True,
            )
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
    else:
        _inspect_table(rows)
    if not rows:
        raise SystemExit(ExitCode.NOTHING_TO_DO)


def _inspect_table(rows: list[dict[str, Any]]) -> None:
    header = f"{'session':<34} {'start (UTC)':<24} {'dur s':>8} {'turns':>5} {'resp':>5} {'tokens':>7} {'app':>4} {'err':>4}  incomplete"
    click.echo(header)
    for r in rows:
        click.echo(
            f"{r['session_key'][:34]:<34} {r['start'][:23]:<24} {r['duration_s']:>8.1f} {r['turns']:>5} {r['responses']:>5} "
            f"{r['tokens']:>7} {r['app_spans']:>4} {r['errors']:>4}  {'yes' if r['incomplete'] else ''}"
        )
    click.echo(plural(len(rows), "session"))


@main.command(name="replay")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--dead-letter",
    type=click.Path(path_type=Path),
    default=None,
    help="Where spans that fail again go. [default: FILE with .retry.jsonl]",
)
@export_options
@_config_errors
def replay_cmd(file: Path, dead_letter: Path | None, **export_kw: Any) -> None:
    """Send an OTLP JSON lines file (a dead-letter file, or any --output) to an endpoint.

    \b
    Example:
      realtrace replay realtrace-traces.dead-letter.jsonl --braintrust-project voice-agent

    Exit codes: 0 all sent; 2 configuration error; 3 some spans failed again.
    """
    export = _export_config(export_kw)
    if export is None:
        raise ConfigError(
            "replay needs a destination: --endpoint, --braintrust or OTEL_EXPORTER_OTLP_ENDPOINT"
        )
    export.validate()
    again = dead_letter or file.with_name(file.stem + ".retry.jsonl")
    stop = threading.Event()
    with _stopping_on_signals(stop) as signalled:
        stats, code = replay(file, export, again, stop)
    if signalled:
        code = EXIT_SIGNAL[signalled[0]]
    for line in error_lines(stats):
        click.echo(line, err=True)
    for line in summary_lines(stats):
        click.echo(line)
    if stats.spans_dead_lettered:
        click.echo(f"dead letter:         {again}")
    raise SystemExit(code)


if __name__ == "__main__":
    main()
