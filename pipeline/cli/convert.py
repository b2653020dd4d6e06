"""`realtrace convert`: its options, resolved once into a `RunConfig`, then `run_convert`."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any

import click

from pipeline.cli.app import EXIT_SIGNAL, say_error, setup_logging, stopping_on_signals
from pipeline.cli.options import export_options, input_option, pop_export
from pipeline.config import RunConfig
from pipeline.core.attributes import AudioMode, MappingOptions
from pipeline.engine import ENGINES
from pipeline.engine import check as check_engine
from pipeline.errors import ExitCode
from pipeline.progress import Progress
from pipeline.redact import Redactor
from pipeline.report import error_lines, summary_lines
from pipeline.resolve import default, environ, resolve_run
from pipeline.run import RunResult, run_convert
from pipeline.send.settings import ExportConfig, masked_url


@click.command()
@input_option(
    "Log file, directory (recursive), glob or object-store prefix (s3://bucket/logs/, with realtrace[s3]); repeatable. JSON lines (.jsonl/.ndjson/.json/.log, optionally .gz/.zst) or Parquet."
)
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    default=None,
    help=f"OTLP JSON lines file written when no endpoint is configured; - for stdout (keeps no state; the summary goes to stderr). [default: {default(RunConfig, 'output')}]",
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
    help=f"Top-level key holding the event time; repeatable. [default: {', '.join(default(RunConfig, 'timestamp_fields'))}]",
)
@click.option(
    "--root-name",
    metavar="NAME",
    default=None,
    help=f"Name of each session's root span. [default: {default(MappingOptions, 'root_name')}]",
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
    "conventions",
    metavar="SET",
    default=None,
    help=f"Where span messages go, once per span and convention: braintrust (braintrust.input_json/output_json), genai (gen_ai.input/output.messages, for other OTLP backends), or a comma-separated set such as braintrust,genai (or both; each adds the bytes once more). [default: {','.join(default(MappingOptions, 'conventions'))}]",
)
@click.option(
    "--max-history",
    default=None,
    type=int,
    help=f"Conversation messages kept in each response span's input, after the system instructions and a note of how many were left out (the root keeps the whole history). [default: {default(MappingOptions, 'max_history')}]",
)
@click.option(
    "--service-name",
    metavar="NAME",
    default=None,
    help=f"OTel resource service.name. [default: {default(RunConfig, 'service_name')}]",
)
@click.option(
    "--max-line-bytes",
    type=int,
    default=None,
    metavar="BYTES",
    help=f"Longest input line read; a longer one is a reject naming its length, skipped without being held in memory. [default: {default(RunConfig, 'max_line_bytes'):,}]",
)
@click.option("--strict", is_flag=True, help="Exit 5 when any input line was rejected.")
@click.option(
    "--report",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the run's counts as JSON here.",
)
@click.option(
    "--audio",
    metavar="none|inline|upload|dir:PATH",
    default=None,
    help="Each turn's speech, rebuilt from the logged audio as WAV: `upload` as Braintrust "
    "attachments (the default with Braintrust), `inline` as base64 in the spans, `dir:PATH` as "
    "files under PATH (one folder per session); `none` (the default elsewhere) reads no audio.",
)
@click.option(
    "--html",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the voice-quality report of the sessions this run converted here (one "
    "self-contained HTML page; see `realtrace report`).",
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
    help="Only sessions starting at or after WHEN: a date or ISO datetime (UTC if no offset), today, yesterday, or a duration ago (24h, 7d).",
)
@click.option(
    "--until", type=str, default=None, metavar="WHEN", help="Only sessions starting before WHEN."
)
@click.option(
    "--settle",
    type=str,
    default=None,
    metavar="DURATION",
    help="Hold back a session still being logged: its last event within DURATION of now and no app.session_end record; a later run sends it (10m, 2h; 0 for backfills). [default: 10m]",
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
    default=None,
    help=f"Worker processes for reading and converting; 0 = automatic (one per CPU, up to 4 and at most one per file, for inputs of more than about 100,000 events). [default: {default(RunConfig, 'workers')}]",
)
@click.option(
    "--quiet", "-q", is_flag=True, help="No summary or progress; errors still go to stderr."
)
@click.option(
    "--verbose", "-v", is_flag=True, help="Log every retry and decision too (debug level)."
)
@click.option(
    "--empty-ok",
    is_flag=True,
    help="Exit 0 instead of 4 when there is nothing to do (a quiet night is not a failure for Kubernetes CronJobs, Airflow or set -e scripts).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="With --print-config: the settings as one JSON object."
)
@click.option(
    "--engine",
    type=click.Choice(list(ENGINES)),
    default=None,
    help=f"Where conversion runs: this machine's processes, or a Ray cluster (pip install 'realtrace[ray]'). [default: {default(RunConfig, 'engine')}]",
)
@click.option(
    "--ray-address",
    metavar="ADDRESS",
    default=None,
    help="A running Ray cluster (ray://host:10001, or auto); without one, --engine ray starts a local cluster with --workers CPUs.",
)
@click.option(
    "--print-config",
    is_flag=True,
    help="Print every resolved setting with where it came from (flag, environment or default), credentials redacted, and exit.",
)
@export_options
def convert(
    progress_mode: str,
    log_format: str,
    quiet: bool,
    verbose: bool,
    empty_ok: bool,
    as_json: bool,
    print_config: bool,
    **flags: Any,
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
    them), or their --audio upload failed (sent inline); 4 nothing to do (no new session); 5 lines rejected under --strict;
    6 another run holds the state; 7 I/O error (disk full, unwritable path);
    130/143/129 stopped by SIGINT/SIGTERM/SIGHUP (what was acknowledged is recorded,
    what was not is in the dead letter).
    """
    setup_logging(log_format, quiet, (), verbose)  # errors of the settings in that format too
    export = pop_export(flags)
    cfg = resolve_run(environ(), export=export, **flags)
    if print_config:
        cfg.validate()
        check_engine(cfg)
        rows = config_rows(cfg)
        if as_json:
            click.echo(json.dumps({n: {"value": v, "source": s} for n, v, s in rows}, indent=2))
        else:
            for line in aligned(rows):
                click.echo(line)
        return
    setup_logging(log_format, quiet, cfg.secrets, verbose)
    stop = threading.Event()
    with stopping_on_signals(stop) as signalled:
        result = run_convert(cfg, Progress("none" if quiet else progress_mode), stop)
    _summary(cfg, result, quiet)
    code = EXIT_SIGNAL[signalled[0]] if signalled else result.exit_code
    if empty_ok and code == ExitCode.NOTHING_TO_DO:
        code = ExitCode.OK
    raise SystemExit(code)


def destination_line(cfg: RunConfig) -> tuple[str, bool]:
    """Where spans went and why (the setting's source), and whether that came from the
    environment or a default rather than a flag (a cron job's surprise)."""
    dest = cfg.destination
    why = dict(cfg.sources).get(dest.source_key, "default")
    return f"{dest.describe()} ({why})", not why.startswith("flag")


def _summary(cfg: RunConfig, result: RunResult, quiet: bool) -> None:
    for line in error_lines(result.stats):
        say_error(line)
    line, implicit = destination_line(cfg)
    if quiet:
        if implicit:  # said even under -q: nobody chose it on the command line
            click.echo(f"realtrace: destination: {line}", err=True)
        return
    to_stderr = cfg.destination.writes_stdout  # -o - or the console exporter: spans there
    for text in summary_lines(result.stats):
        click.echo(text, err=to_stderr)
    click.echo(f"destination:         {line}", err=to_stderr)
    click.echo(f"rejects:             {cfg.rejects_path}", err=to_stderr)
    dead = cfg.destination.dead_letter
    if result.stats.spans_dead_lettered and dead is not None:
        advice = (
            "the next run sends these sessions again and removes what it delivers from it"
            if cfg.state is not None
            else f"send later with: realtrace replay {dead} ..."
        )
        click.echo(f"dead letter:         {dead} ({advice})")
    refused = getattr(cfg.destination, "rejected", None)
    if result.stats.spans_rejected_by_backend and refused is not None:
        click.echo(
            f"rejected spans:      {refused} (the backend's message on each; later runs do "
            f"not send these sessions again: fix them, then realtrace replay {refused} ...)"
        )


def aligned(rows: list[tuple[str, str, str]]) -> list[str]:
    """`name  value  (source)` lines, names padded to one width."""
    width = max(len(r[0]) for r in rows)
    return [f"{name:<{width}}  {value}  ({source})" for name, value, source in rows]


def config_rows(cfg: RunConfig) -> list[tuple[str, str, str]]:
    """(name, value, source) of every setting of a run, as `git config --show-origin`."""
    src = dict(cfg.sources)
    m = cfg.mapping
    rows: list[tuple[str, str, str]] = [
        ("input", ", ".join(cfg.inputs), "flag --input"),
        ("rejects", str(cfg.rejects_path), src.get("rejects", "default")),
        ("dead-letter", str(cfg.destination.dead_letter or "(none)"), src["dead_letter"]),
        ("report", str(cfg.report or "(none)"), src.get("report", "default")),
        ("state", str(cfg.state or "(none)"), src.get("state", "default")),
        (
            "timestamp-field",
            ", ".join(cfg.timestamp_fields),
            src.get("timestamp_fields", "default"),
        ),
        ("max-line-bytes", f"{cfg.max_line_bytes:,}", src["max_line_bytes"]),
        ("root-name", m.root_name, src["root_name"]),
        ("tag", ", ".join(m.tags) or "(none)", src["tags"]),
        ("attributes", ",".join(m.conventions), src["conventions"]),
        ("max-history", str(m.max_history), src["max_history"]),
        (
            "audio",
            f"dir:{cfg.audio_dir}" if m.audio is AudioMode.DIR else str(m.audio),
            src.get("audio", "default"),
        ),
        ("html", str(cfg.html or "(none)"), src.get("html", "default")),
        ("service-name", cfg.service_name, src["service_name"]),
        ("max-batch-spans", str(cfg.limits.max_spans), src["max_batch_spans"]),
        ("max-batch-bytes", str(cfg.limits.max_bytes), src["max_batch_bytes"]),
        (
            "workers",
            str(cfg.workers) + (" (automatic)" if cfg.workers == 0 else ""),
            src["workers"],
        ),
        (
            "engine",
            cfg.engine + (f" at {cfg.ray_address}" if cfg.ray_address else ""),
            src["engine"],
        ),
    ]
    rows += [
        (k.replace("_", "-"), "true", src[k])
        for k in ("strict", "full", "skip_changed")
        if getattr(cfg, k)
    ]
    rows += [
        ("since", _when(cfg.since_ns), "flag --since" if cfg.since_ns is not None else "default"),
        ("until", _when(cfg.until_ns), "flag --until" if cfg.until_ns is not None else "default"),
        ("sessions-from", str(cfg.sessions_from or "(all)"), src.get("sessions_from", "default")),
        ("settle", f"{cfg.settle_ns / 1e9:g} s", src.get("settle", "default")),
        (
            "resource-attributes",
            _pairs(cfg.resource_attributes),
            src.get("resource_attributes", "default"),
        ),
    ]
    if cfg.attachments is not None:  # --audio upload: Braintrust's own hosts
        bt = cfg.attachments
        rows += [
            ("braintrust-app-url", masked_url(bt.app_url), src["braintrust_app_url"]),
            (
                "braintrust-api-url",
                masked_url(bt.api_url) if bt.api_url else "(at login)",
                src["braintrust_api_url"],
            ),
            ("braintrust-org", bt.org_name or "(the first)", src["braintrust_org"]),
        ]
    dest = cfg.destination
    rows += (
        export_rows(dest.export)
        if dest.export is not None
        else [("destination", dest.describe(), src.get(dest.source_key, "default"))]
    )
    return rows


def _when(ns: int | None) -> str:
    if ns is None:
        return "(any time)"
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).isoformat().replace("+00:00", "Z")


def _pairs(pairs: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(f"{k}={v}" for k, v in pairs) or "(none)"


def export_rows(export: ExportConfig) -> list[tuple[str, str, str]]:
    """The export settings with their sources, credentials redacted."""
    redact = Redactor(export.secrets)
    src = dict(export.sources)
    rows = [
        ("destination", masked_url(export.traces_url), src["endpoint"]),
        ("protocol", export.protocol, src["protocol"]),
        ("compression", export.compression, src["compression"]),
        ("timeout", f"{export.timeout:g} s", src["timeout"]),
        ("max-retry-time", f"{export.max_retry_time:g} s", src["max_retry_time"]),
        ("concurrency", str(export.concurrency), src["concurrency"]),
        ("insecure", str(export.insecure).lower(), src["insecure"]),
        ("certificate", export.certificate or "(none)", src["certificate"]),
    ]
    rows += [
        (name.replace("_", "-"), path, src[name])
        for name, path in (
            ("client_certificate", export.client_certificate),
            ("client_key", export.client_key),
        )
        if path
    ]
    return rows + [
        (f"header {k}", redact(v), src.get(f"header {k}", "")) for k, v in export.headers
    ]
