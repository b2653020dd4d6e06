"""CLI: thin click commands over the library (`run_convert`, `replay`, ...)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from . import __version__
from .attributes import MappingOptions
from .config import DEFAULT_OUTPUT, ConfigError, ExportConfig, RunConfig, environ, resolve_export
from .load import DEFAULT_TIMESTAMP_FIELDS
from .run import EXIT_CONFIG, replay, run_convert, summary_lines

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
    click.option("--timeout", type=float, default=None, help="Seconds per request. [default: 30]"),
    click.option(
        "--max-retry-time",
        type=float,
        default=300.0,
        show_default=True,
        help="Seconds a batch may spend retrying.",
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
        "--concurrency", type=int, default=None, help="Requests in flight at most. [default: 4]"
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
            raise SystemExit(EXIT_CONFIG) from None

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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
    help="Log file, directory (recursive) or glob; repeatable. JSONL (.jsonl/.ndjson, .gz/.zst) or Parquet.",
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
    default="realtime_session",
    show_default=True,
    help="Name of each session's root span.",
)
@click.option(
    "--tag", "tags", multiple=True, help="Extra Braintrust tag on every root span; repeatable."
)
@click.option(
    "--max-history",
    default=50,
    show_default=True,
    type=int,
    help="Messages kept in each response span's input (the root keeps the whole history).",
)
@click.option(
    "--service-name", default="realtrace", show_default=True, help="OTel resource service.name."
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
    help="Batches that failed after retries, as OTLP JSON lines for `realtrace replay`. [default: <output>.dead-letter.jsonl]",
)
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
@export_options
@_config_errors
def convert(
    inputs: tuple[str, ...],
    output: Path,
    rejects: Path | None,
    timestamp_fields: tuple[str, ...],
    root_name: str,
    tags: tuple[str, ...],
    max_history: int,
    service_name: str,
    strict: bool,
    report: Path | None,
    dead_letter: Path | None,
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

    Exit codes: 0 ok; 2 configuration error; 3 some spans not delivered;
    4 nothing converted; 5 lines rejected under --strict.
    """
    export = _export_config(export_kw)
    cfg = RunConfig(
        inputs=inputs,
        output=output,
        rejects=rejects,
        timestamp_fields=timestamp_fields or DEFAULT_TIMESTAMP_FIELDS,
        mapping=MappingOptions(root_name=root_name, tags=tags, max_history=max_history),
        service_name=service_name,
        strict=strict,
        report=report,
        export=export,
        dead_letter=dead_letter,
    )
    result = run_convert(cfg)
    if not quiet:
        for line in summary_lines(result.stats):
            click.echo(line)
        click.echo(f"output:              {cfg.destination}")
        click.echo(f"rejects:             {cfg.rejects_path}")
        if result.stats.spans_dead_lettered:
            click.echo(
                f"dead letter:         {cfg.dead_letter_path} (send later with: realtrace replay {cfg.dead_letter_path} ...)"
            )
    raise SystemExit(result.exit_code)


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
    stats, code = replay(file, export, again)
    for line in summary_lines(stats):
        click.echo(line)
    if stats.spans_dead_lettered:
        click.echo(f"dead letter:         {again}")
    raise SystemExit(code)


if __name__ == "__main__":
    main()
