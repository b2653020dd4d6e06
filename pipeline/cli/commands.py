"""The other commands: `config`, `state show|forget`, `inspect`, `replay`, `report`."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import click

from pipeline import private
from pipeline.cli.app import EXIT_SIGNAL, say_error, setup_logging, stopping_on_signals
from pipeline.cli.convert import aligned, export_rows
from pipeline.cli.options import (
    export_config,
    export_options,
    input_option,
    pop_export,
    verbosity_options,
)
from pipeline.config import RunConfig, default_state_path
from pipeline.errors import ConfigError, ExitCode
from pipeline.inspection import inspect_sessions
from pipeline.report import error_lines, plural, replay_summary_lines, write_report
from pipeline.resend import replay
from pipeline.resolve import default, environ, resolve_replay
from pipeline.state.store import StateStore

DEFAULT_OUTPUT = default(RunConfig, "output")


@click.command(name="config")
@click.option("--json", "as_json", is_flag=True, help="The settings as one JSON object.")
@export_options
def config_cmd(
    as_json: bool, max_batch_spans: int | None, max_batch_bytes: int | None, **flags: Any
) -> None:
    """Show where spans would go and every export setting with where it came from
    (flag, environment variable or default), credentials redacted. `convert
    --print-config` shows every setting of a run.

    \b
    Example:
      BRAINTRUST_API_KEY=... realtrace config --braintrust-project voice-agent
    """
    export = export_config(pop_export(flags))
    if export is None:
        why = "no endpoint: flag, OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT or BRAINTRUST_API_KEY"
        rows = [("destination", f"file {DEFAULT_OUTPUT}", why)]
    else:
        export.validate()
        rows = export_rows(export)
    if as_json:
        click.echo(json.dumps({n: {"value": v, "source": src} for n, v, src in rows}, indent=2))
        return
    for line in aligned(rows):
        click.echo(line)


@click.group(name="state")
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
    path = state_path or default_state_path(DEFAULT_OUTPUT, environ())
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
    path = state_path or default_state_path(DEFAULT_OUTPUT, environ())
    if not path.exists():
        raise ConfigError(f"no state at {path}: name one with --state (a run creates it)")
    with StateStore(path, "") as st:
        n = st.forget(sessions, everywhere=True)
    click.echo(f"forgot {n} session records in {path}")


@click.command(name="inspect")
@input_option("Log file, directory or glob; repeatable.")
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
@verbosity_options
def inspect_cmd(
    inputs: tuple[str, ...],
    timestamp_fields: tuple[str, ...],
    as_json: bool,
    quiet: bool,
    verbose: bool,
) -> None:
    """List the sessions found in logs (nothing is exported).

    \b
    Example:
      realtrace inspect -i sample_logs/

    Rejected records are counted by reason on stderr. Exit codes: 0 sessions
    found; 4 none found; 2 no input.
    """
    setup_logging("text", quiet, (), verbose)
    rows, stats = inspect_sessions(
        list(inputs), timestamp_fields or default(RunConfig, "timestamp_fields")
    )
    if stats.rejects_by_reason and not quiet:
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


@click.command(name="replay")
@click.argument("file", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--dead-letter",
    type=click.Path(path_type=Path),
    default=None,
    help="Where spans that fail again go (the retry file). [default: FILE with .retry.jsonl]",
)
@click.option(
    "--report", type=click.Path(path_type=Path), default=None, help="Write the counts as JSON here."
)
@click.option("--quiet", "-q", is_flag=True, help="No summary; errors still go to stderr.")
@export_options
def replay_cmd(
    file: Path,
    dead_letter: Path | None,
    report: Path | None,
    quiet: bool,
    max_batch_spans: int | None,
    max_batch_bytes: int | None,
    **flags: Any,
) -> None:
    """Send an OTLP JSON lines file (a dead-letter or rejected-spans file, or any
    --output), or a directory of them (a Ray run's parts), to an endpoint. Spans that
    fail again go to the retry file (--dead-letter), spans the backend refuses to
    FILE's .rejected.jsonl; a signal sends nothing more and puts the rest in the retry
    file.

    \b
    Example:
      realtrace replay realtrace-traces.dead-letter.jsonl --braintrust-project voice-agent

    Exit codes: 0 all sent; 2 configuration error; 3 some spans failed again or were
    rejected; 130/143/129 stopped by a signal.
    """
    cfg = resolve_replay(
        environ(),
        file=file,
        dead_letter=dead_letter,
        max_batch_spans=max_batch_spans,
        max_batch_bytes=max_batch_bytes,
        export=pop_export(flags),
    )
    cfg.validate()
    stop = threading.Event()
    with stopping_on_signals(stop) as signalled:
        stats, code = replay(cfg, stop)
    if signalled:
        code = EXIT_SIGNAL[signalled[0]]
    if report is not None:
        write_report(report, stats)
    for line in error_lines(stats):
        say_error(line)
    if not quiet:
        for line in replay_summary_lines(stats):
            click.echo(line)
        if stats.spans_dead_lettered:
            click.echo(f"retry file:          {cfg.destination.dead_letter}")
        refused = getattr(cfg.destination, "rejected", None)
        if stats.spans_rejected_by_backend and refused is not None:
            click.echo(f"rejected spans:      {refused}")
    raise SystemExit(code)


@click.command(name="report")
@input_option(
    "realtrace's OTLP JSON output (a file), or logs (files, directories or globs: converted "
    "here, nothing sent); repeatable."
)
@click.option(
    "--html",
    "html",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the report page here: one self-contained HTML file (no network access when "
    "opened).",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the report's numbers as JSON here (the summary the page shows, per-session rows).",
)
@click.option(
    "--trace-url",
    metavar="TEMPLATE",
    default=None,
    help="Link each session to its trace in your backend: a URL with {trace_id}, {span_id} "
    "(the root's) or {session_key}, e.g. 'http://jaeger:16686/trace/{trace_id}'.",
)
@click.option(
    "--audio-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="The folder `convert --audio dir:PATH` wrote: each turn's audio gets a player "
    "(linked from the page, relative to it; nothing is copied in).",
)
@click.option(
    "--timestamp-field",
    "timestamp_fields",
    multiple=True,
    metavar="KEY",
    help="Event time key of the logs; repeatable.",
)
@verbosity_options
def report_cmd(
    inputs: tuple[str, ...],
    html: Path | None,
    json_path: Path | None,
    trace_url: str | None,
    audio_dir: Path | None,
    timestamp_fields: tuple[str, ...],
    quiet: bool,
    verbose: bool,
) -> None:
    """Write a voice-quality report: run summary, latency distributions (by model, with and
    without tool calls), a sortable table of sessions and each session's waterfall.

    \b
    Examples:
      realtrace convert -i logs/ -o traces.jsonl && realtrace report -i traces.jsonl --html report.html
      realtrace report -i sample_logs/ --html report.html
      realtrace convert -i logs/ --html report.html     (the same page, in the same run)

    Exit codes: 0 written; 4 no session found; 2 nothing to write (name --html or --json)
    or no input; 7 the page could not be written.
    """
    from pipeline.dashboard import with_players, write_html
    from pipeline.dashboard.data import session_rows, to_json
    from pipeline.run import report_from_inputs

    setup_logging("text", quiet, (), verbose)
    if html is None and json_path is None:
        raise ConfigError("name where the report goes: --html PAGE.html and/or --json FILE")
    if trace_url is not None and not trace_url.lower().startswith(("http://", "https://")):
        raise ConfigError(
            f"--trace-url {trace_url[:60]!r}: a link template must be an http(s) URL, "
            "e.g. 'https://jaeger.example/trace/{trace_id}'"
        )
    if audio_dir is not None and not audio_dir.is_dir():
        raise ConfigError(
            f"--audio-dir {audio_dir}: no such folder (name the one `convert --audio dir:PATH` "
            "wrote)"
        )
    for flag, path in (("--html", html), ("--json", json_path)):
        if path is not None and path.is_dir():
            raise ConfigError(f"{flag} {path} is a directory: name a file inside it")
    data = report_from_inputs(list(inputs), timestamp_fields or None)
    data.trace_url = trace_url
    if html is not None:
        write_html(with_players(data, audio_dir, html), html)
    if json_path is not None:
        doc = to_json(data)
        with private.open_text(json_path) as fh:
            rows = session_rows(doc)
            fh.write(json.dumps({"summary": doc["summary"], "sessions": rows}, indent=2) + "\n")
    s = data.summary
    if not quiet:
        _report_counts(data, html, json_path)
    if not s.sessions:
        raise SystemExit(ExitCode.NOTHING_TO_DO)


def _report_counts(data: Any, html: Path | None, json_path: Path | None) -> None:
    s = data.summary
    click.echo(
        f"{plural(s.sessions, 'session')}, {plural(s.turns, 'turn')}, "
        f"{plural(s.responses, 'response')}"
        + (
            f" ({data.older_copies} older {'copy' if data.older_copies == 1 else 'copies'} "
            "of traces written again skipped: the latest counts)"
            if data.older_copies
            else ""
        )
        + "".join(f"; {p}" for p in (html, json_path) if p is not None),
        err=True,
    )
