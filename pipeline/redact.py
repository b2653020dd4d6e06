"""Redact: keep credentials out of every message, log line, report and error."""

from __future__ import annotations

import logging
from collections.abc import Iterable


class Redactor:
    """Replaces each known secret (and its Bearer form) with `***`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a key inside "Bearer <key>" is replaced whole.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, "***")
        return text


class RedactingFilter(logging.Filter):
    """A logging filter applying a Redactor to every record's final message."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redactor(record.getMessage())
        record.args = None
        return True
