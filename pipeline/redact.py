"""Redact: keep credentials out of every message, log line, report and error."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterable

PREFIX = 8  # characters of a secret that, echoed alone, already count as the secret


class Redactor:
    """Replaces each known secret with `***`: whole, in its base64 forms, and any echo of
    its first `PREFIX` characters or more (a server quoting `sk-SECRETKEY1...`)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        forms: set[str] = set()
        for s in secrets:
            if s and len(s) >= 4:
                raw = s.encode()
                forms |= {s, base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}
                forms.add(base64.b64encode(raw).decode().rstrip("="))
        # Longest first, so a key inside "Bearer <key>" is replaced whole.
        self.secrets = sorted(forms, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, "***")
            if len(s) > PREFIX:
                text = self._prefixes(text, s)
        return text

    @staticmethod
    def _prefixes(text: str, secret: str) -> str:
        """Every run of `secret`'s first characters, `PREFIX` or more, as `***`."""
        head = secret[:PREFIX]
        out, pos = [], 0
        while (at := text.find(head, pos)) >= 0:
            end = at + PREFIX
            while end < len(text) and end - at < len(secret) and text[end] == secret[end - at]:
                end += 1
            out += [text[pos:at], "***"]
            pos = end
        return "".join(out) + text[pos:] if out else text


class RedactingFilter(logging.Filter):
    """A logging filter applying a Redactor to every record's final message."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redactor(record.getMessage())
        record.args = None
        return True
