"""The command group: one-line errors with documented exit codes, logging, signals.

Every failure a user can meet is one line on stderr; anything else is a bug, also
one line (REALTRACE_DEBUG=1 shows the traceback).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

import click

from pipeline.errors import ExitCode, RealtraceError, io_message
from pipeline.progress import JsonFormatter
from pipeline.redact import RedactingFilter, Redactor
from pipeline.version import __version__


def setup_logging(fmt: str, quiet: bool, secrets: tuple[str, ...], verbose: bool = False) -> None:
    """Log lines on stderr, as text or JSON, with every secret redacted; -q warnings and
    errors only, -v every retry and decision too. The format is kept with the invocation
    (for `say_error`), not read back from the logger, which outlives it in a library."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.find_root().meta[LOG_FORMAT] = fmt
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter()
        if fmt == "json"
        else logging.Formatter("%(asctime)s realtrace: %(message)s")
    )
    handler.addFilter(RedactingFilter(Redactor(secrets)))
    log = logging.getLogger("realtrace")
    log.handlers[:] = [handler]
    log.setLevel(logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO)
    log.propagate = False


def say_error(message: str) -> None:
    """One error line on stderr: text, or a JSON object under this invocation's
    --log-format json (the same shape as its log lines)."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.find_root().meta.get(LOG_FORMAT) == "json":
        record = logging.LogRecord("realtrace", logging.ERROR, "", 0, message, None, None)
        click.echo(JsonFormatter().format(record), err=True)
    else:
        click.echo(f"realtrace: {message}", err=True)


LOG_FORMAT = "realtrace.log_format"  # where an invocation keeps its --log-format


class RealtraceGroup(click.Group):
    """Every failure a user can meet is one line on stderr with a documented exit code.

    A `RealtraceError` carries its own exit code (pipeline.errors); a missing file is a
    configuration error (2), other I/O failures (disk full, unwritable path) 7; anything
    else is a bug: one line, exit 1 (set REALTRACE_DEBUG=1 for the traceback).
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RealtraceError as exc:
            say_error(str(exc))
            raise SystemExit(exc.exit_code) from None
        except BrokenPipeError:  # `realtrace inspect | head`: the reader has what it wanted
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise SystemExit(ExitCode.OK) from None
        except FileNotFoundError as exc:
            click.echo(f"realtrace: {exc}", err=True)
            raise SystemExit(ExitCode.CONFIG) from None
        except OSError as exc:
            if os.environ.get("REALTRACE_DEBUG"):
                raise
            click.echo(f"realtrace: {io_message(exc)}", err=True)
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


EXIT_SIGNAL = {
    signal.SIGINT: ExitCode.SIGINT,
    signal.SIGTERM: ExitCode.SIGTERM,
    signal.SIGHUP: ExitCode.SIGHUP,
}


@contextlib.contextmanager
def stopping_on_signals(stop: threading.Event) -> Iterator[list[signal.Signals]]:
    """First SIGINT/SIGTERM/SIGHUP: stop sending, cancel waits, dead-letter what was not
    delivered, record what was acknowledged and print the summary (exit 130/143/129). A
    second one exits at once."""
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
