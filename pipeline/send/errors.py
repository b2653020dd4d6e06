"""Export errors: what a transport raises and the senders act on, without the transports.

Kept apart from `transport` so that a run writing a file never imports gRPC and
requests (0.1 s of a run's start-up, measured).
"""

from __future__ import annotations

from typing import Protocol


class ExportError(Exception):
    """Base of all export failures; messages are already redacted."""


class PermanentExportError(ExportError):
    """Not retryable (bad credentials, invalid request): give up on this batch at once."""


class AuthError(PermanentExportError):
    """Credentials refused (401/403, UNAUTHENTICATED/PERMISSION_DENIED): every request would fail alike."""


class RetryableExportError(ExportError):
    """Transient; `delay` is the server-requested wait (Retry-After / RetryInfo) if any."""

    def __init__(self, message: str, delay: float | None = None) -> None:
        super().__init__(message)
        self.delay = delay


class TooLargeError(ExportError):
    """The request exceeded the receiver's size limit: split it and send the halves."""


class Transport(Protocol):
    def send(self, body: bytes) -> tuple[int, str]:
        """Send once; return (rejected span count, rejection message) or raise ExportError."""

    def close(self) -> None: ...
