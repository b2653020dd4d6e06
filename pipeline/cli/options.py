"""Options shared by several commands: the OTLP destination and the batch limits.

Options carry no defaults of their own (None means "not given"): `resolve` applies
the defaults declared on the settings, and the help texts quote those.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from pipeline.resolve import default, environ, resolve_export
from pipeline.send.settings import BatchLimits, ExportConfig

EXPORT_OPTIONS = [
    click.option(
        "--exporter",
        default=None,
        metavar="NAME",
        help="Send through an OpenTelemetry SDK exporter found by its entry-point name, configured by its own variables (console, zipkin_json, azure_monitor…); otlp is realtrace's own. [default: OTEL_TRACES_EXPORTER, else otlp]",
    ),
    click.option(
        "--endpoint",
        default=None,
        metavar="URL",
        help="OTLP endpoint. [default: OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, or Braintrust's with BRAINTRUST_API_KEY; convert without any writes a file]",
    ),
    click.option(
        "--protocol",
        type=click.Choice(["grpc", "http/protobuf", "http/json"]),
        default=None,
        help="OTLP protocol. [default: OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL, else http/protobuf (the OTLP spec's default), grpc for an endpoint on port 4317]",
    ),
    click.option(
        "--compression",
        type=click.Choice(["gzip", "none"]),
        default=None,
        help=f"Request compression. [default: {default(ExportConfig, 'compression')}]",
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
        "braintrust",
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
        help=f"Seconds per request. [default: {default(ExportConfig, 'timeout'):g}, or OTEL_EXPORTER_OTLP_TIMEOUT in ms]",
    ),
    click.option(
        "--max-retry-time",
        type=float,
        default=None,
        help=f"Seconds of retrying a failing endpoint, for the whole run: once it has failed that long, the remaining batches go to the dead letter at once. [default: {default(ExportConfig, 'max_retry_time'):g}]",
    ),
    click.option(
        "--concurrency",
        type=int,
        default=None,
        help=f"Requests in flight at most. [default: {default(ExportConfig, 'concurrency')}]",
    ),
]


def input_option(help_: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`--input/-i PATH`, repeatable and required (`convert`, `inspect`)."""
    return click.option(
        "--input", "-i", "inputs", multiple=True, required=True, metavar="PATH", help=help_
    )


BATCH_OPTIONS = [
    click.option(
        "--max-batch-spans",
        type=int,
        default=None,
        help=f"Spans per request (or line of the file) at most. [default: {BatchLimits().max_spans}]",
    ),
    click.option(
        "--max-batch-bytes",
        type=int,
        default=None,
        help=f"Encoded bytes per request (or line of the file) at most. [default: {BatchLimits().max_bytes:,}]",
    ),
]

EXPORT_KEYS = (
    "exporter",
    "endpoint",
    "protocol",
    "headers",
    "compression",
    "timeout",
    "braintrust",
    "braintrust_project",
    "braintrust_parent",
    "insecure",
    "max_retry_time",
    "concurrency",
)


def export_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The OTLP destination and batch options shared by `convert`, `replay` and `config`."""
    for opt in reversed(EXPORT_OPTIONS + BATCH_OPTIONS):
        fn = opt(fn)
    return fn


def pop_export(kw: dict[str, Any]) -> dict[str, Any]:
    """The export flags out of a command's keyword arguments (for `resolve_export`)."""
    return {k: kw.pop(k) for k in EXPORT_KEYS}


def export_config(flags: dict[str, Any]) -> ExportConfig | None:
    flags.pop("exporter", None)  # `config` shows realtrace's own OTLP settings
    return resolve_export(environ(), **flags)


def verbosity_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """-q/--quiet and -v/--verbose, as `convert` has them, for the commands that read logs."""
    fn = click.option(
        "--verbose", "-v", is_flag=True, help="Log every decision too (debug level)."
    )(fn)
    return click.option(
        "--quiet", "-q", is_flag=True, help="Nothing but errors on stderr (no counts, no progress)."
    )(fn)
