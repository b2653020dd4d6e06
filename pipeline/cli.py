"""CLI: thin click commands over the library (`run_convert`, `replay`, ...)."""

from __future__ import annotations

from pathlib import Path

import click

from . import __version__
from .attributes import MappingOptions
from .config import DEFAULT_OUTPUT, ConfigError, RunConfig, environ, resolve_export
from .load import DEFAULT_TIMESTAMP_FIELDS
from .run import EXIT_CONFIG, run_convert, summary_lines


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
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
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
    quiet: bool,
) -> None:
    """Convert event logs to one trace per session and write or export them.

    \b
    Examples:
      realtrace convert --input sample_logs/
      realtrace convert -i 'logs/2026-11-*.jsonl.gz' -o traces.jsonl --tag nightly

    Exit codes: 0 ok; 2 configuration error; 3 some spans not delivered;
    4 nothing converted; 5 lines rejected under --strict.
    """
    try:
        cfg = RunConfig(
            inputs=inputs,
            output=output,
            rejects=rejects,
            timestamp_fields=timestamp_fields or DEFAULT_TIMESTAMP_FIELDS,
            mapping=MappingOptions(root_name=root_name, tags=tags, max_history=max_history),
            service_name=service_name,
            strict=strict,
            report=report,
            export=resolve_export(environ()),
        )
        result = run_convert(cfg)
    except (ConfigError, FileNotFoundError) as exc:
        click.echo(f"realtrace: {exc}", err=True)
        raise SystemExit(EXIT_CONFIG) from None
    if not quiet:
        for line in summary_lines(result.stats):
            click.echo(line)
        click.echo(f"output:              {cfg.output}")
        click.echo(f"rejects:             {cfg.rejects_path}")
    raise SystemExit(result.exit_code)


if __name__ == "__main__":
    main()
