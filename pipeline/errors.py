"""Errors: every failure realtrace names, in one family, each carrying its exit code.

As click's `ClickException` carries its own `exit_code`, a `RealtraceError` says how
the process ends: the CLI prints the message as one line and exits with the code,
mapping nothing by hand. `ExitCode` lists every code the tool returns and `MEANING`
documents each (the README's table is generated from it).
"""

from __future__ import annotations

import errno
from enum import IntEnum


class ExitCode(IntEnum):
    """Every exit code `realtrace` returns; `MEANING` documents each."""

    OK = 0
    INTERNAL = 1
    CONFIG = 2
    NOT_DELIVERED = 3
    NOTHING_TO_DO = 4
    STRICT_REJECTS = 5
    LOCKED = 6
    IO = 7
    SIGHUP = 129
    SIGINT = 130
    SIGTERM = 143


MEANING: dict[ExitCode, str] = {
    ExitCode.OK: "everything converted was delivered",
    ExitCode.INTERNAL: "internal error (a bug): one line, please report it; `REALTRACE_DEBUG=1` shows the traceback",
    ExitCode.CONFIG: "configuration error: a bad flag or value (numbers are checked, `0` included), no input file at all, Braintrust without `BRAINTRUST_API_KEY`, credentials refused by the endpoint, http with a key to a remote host, a corrupt state file, a replay file that is not OTLP JSON",
    ExitCode.NOT_DELIVERED: "partial delivery: some sessions were not delivered (dead-lettered, or spans rejected by the backend's OTLP partial success; the next run re-sends them), or their audio attachments did not upload (the audio went inline)",
    ExitCode.NOTHING_TO_DO: "nothing to do: no new or changed session (or nothing convertible)",
    ExitCode.STRICT_REJECTS: "lines were rejected and `--strict` was given",
    ExitCode.LOCKED: "another run holds the state store",
    ExitCode.IO: "an I/O error: disk full or an unwritable path (output, dead letter, state, report, temporary files), or an input file that could not be read (permissions, a truncated archive: its readable lines are kept); what was delivered before it is recorded, the report is written, files hold only whole lines, and the next run completes the work",
    ExitCode.SIGINT: "stopped by SIGINT: sending stops, waits are cancelled, what was acknowledged is recorded and the summary and report written within seconds; a second signal exits at once",
    ExitCode.SIGTERM: "stopped by SIGTERM, as for SIGINT",
    ExitCode.SIGHUP: "stopped by SIGHUP (the terminal or session went away), as for SIGINT",
}


_IO_HINTS = {
    errno.ENOSPC: "free some space or write elsewhere",
    errno.EDQUOT: "free some space or write elsewhere",
    errno.EFBIG: "the file is over the size limit: write elsewhere",
    errno.EACCES: "check its permissions or write elsewhere",
    errno.EROFS: "the file system is read-only: write elsewhere",
    errno.EISDIR: "it is a directory: name a file",
}


def io_message(exc: OSError) -> str:
    """An I/O failure in one line: the path, the cause and what to do."""
    where = f" {exc.filename}" if exc.filename else ""
    hint = _IO_HINTS.get(exc.errno or 0, "check the path and the disk")
    return f"cannot write{where}: {exc.strerror or exc} ({hint})"


class RealtraceError(Exception):
    """Base of every failure realtrace names; `exit_code` is how the process ends if it
    reaches the command line. Messages say what is wrong and how to fix it."""

    exit_code: ExitCode = ExitCode.INTERNAL


# -- before anything is read: the user must fix something ---------------------------


class ConfigError(RealtraceError, ValueError):
    """A configuration the user must fix; the message says how."""

    exit_code = ExitCode.CONFIG


class NotOtlpJsonError(ConfigError):
    """A line of a file given to replay is not an OTLP/JSON ExportTraceServiceRequest."""


class StateError(RealtraceError):
    """The state file cannot be used; the message says what to do."""

    exit_code = ExitCode.CONFIG


class StateLockedError(RealtraceError):
    """Another run holds this state store."""

    exit_code = ExitCode.LOCKED


# -- while reading: one file becomes a reject, the run goes on ----------------------


class NotJsonLinesError(RealtraceError, ValueError):
    """The whole file is of a shape realtrace does not read: one file-level reject."""

    exit_code = ExitCode.CONFIG


# -- while sending: each wrapper of the delivery chain acts on its own kinds ---------


class ExportError(RealtraceError):
    """Base of all export failures; messages are already redacted. They travel inside a
    sender's `Outcome`, never up to the command line."""

    exit_code = ExitCode.NOT_DELIVERED


class PermanentExportError(ExportError):
    """Not retryable (bad credentials, invalid request): give up on this batch at once."""


class AuthError(PermanentExportError):
    """Credentials refused (401/403, UNAUTHENTICATED/PERMISSION_DENIED): every request would fail alike."""

    exit_code = ExitCode.CONFIG


class WrongProtocolError(PermanentExportError):
    """The endpoint speaks another protocol than the one configured (gRPC to an HTTP port):
    every request would fail alike; the message names the protocol to use."""

    exit_code = ExitCode.CONFIG


class NotOtlpError(PermanentExportError):
    """The endpoint answered, but not in OTLP (an HTML page behind a proxy, a wrong path):
    nothing was delivered, and every request would fail alike."""


class Interrupted(PermanentExportError):
    """The run was asked to stop (SIGINT/SIGTERM): no more attempts, no more waiting."""


class CircuitOpenError(PermanentExportError):
    """The run's retry budget is spent: fail the batch at once."""


class RetryableExportError(ExportError):
    """Transient; `delay` is the server-requested wait (Retry-After / RetryInfo) if any;
    `setup` is true when the cause is the set-up rather than the moment (a name that does
    not resolve, a certificate not trusted): worth a retry mid-run, fatal at first contact."""

    def __init__(
        self, message: str, delay: float | None = None, setup: bool = False, answered: bool = False
    ) -> None:
        super().__init__(message)
        self.delay = delay
        self.setup = setup
        self.answered = answered  # the endpoint answered (429, 503…): it is there, and busy


class NoEndpointError(PermanentExportError):
    """Nothing answers OTLP at that URL (HTTP 404, gRPC UNIMPLEMENTED): a wrong path or port."""

    exit_code = ExitCode.CONFIG


class UnreachableError(RealtraceError):
    """The endpoint did not answer the first contact: nothing was read or sent."""

    exit_code = ExitCode.NOT_DELIVERED


class TooLargeError(ExportError):
    """The request exceeded the receiver's size limit: split it and send the halves."""


class UploadError(ExportError):
    """An audio attachment could not be uploaded (after retries where retrying made sense):
    its session goes with inline audio instead."""


class FileError(RealtraceError):
    """A file could not be read or written (an input that vanished, a full disk) where the
    run could not report it itself: `io_message` says which and what to do."""

    exit_code = ExitCode.IO
