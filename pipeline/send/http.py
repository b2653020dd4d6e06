"""HTTP: one request with a deadline for the whole of it, stopped by the run's stop.

`requests` bounds each read of a response, not the response: a server dripping one byte a
second never ends a request. Every HTTP call realtrace makes (OTLP exports, Braintrust's
login, attachments and signed URLs) goes through `request_within`, so none can outlast its
deadline or a signal. TLS trust is passed on every request: `requests` lets
`REQUESTS_CA_BUNDLE`/`CURL_CA_BUNDLE` override a session's `verify`, and the OpenTelemetry
variable (`OTEL_EXPORTER_OTLP_CERTIFICATE`) must win over them, as in the SDK's exporter.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from pipeline.errors import Interrupted

if TYPE_CHECKING:  # imported by whoever makes the session (workers never do)
    import requests

POLL = 0.1  # seconds between two looks at the run's stop while a request is under way


class DeadlineExceeded(Exception):
    """No complete answer within the deadline (the request was abandoned)."""


def request_within(
    session: requests.Session,
    method: str,
    url: str,
    *,
    timeout: float,
    stop: threading.Event,
    verify: str | bool | None = None,
    **kwargs: Any,
) -> requests.Response:
    """`session.request(...)` answered whole within `timeout` seconds, or DeadlineExceeded;
    Interrupted as soon as `stop` is set. Network errors are raised as `requests` raises
    them. The request runs in a thread of its own; one abandoned at the deadline dies with its
    connection (the caller drops the session: the abandoned request still holds it).
    `verify`: a CA bundle's path, which wins over the environment's; None: the session's
    (the system's trust, or `REQUESTS_CA_BUNDLE` where set)."""
    if stop.is_set():
        raise Interrupted("stopped before a request")
    done = threading.Event()
    result: list[requests.Response | BaseException] = []
    if verify is not None:
        kwargs["verify"] = verify

    def call() -> None:
        try:
            result.append(session.request(method, url, timeout=timeout, **kwargs))
        except BaseException as exc:
            result.append(exc)
        finally:
            done.set()

    threading.Thread(target=call, name="realtrace-http", daemon=True).start()
    deadline = time.monotonic() + timeout
    while not done.wait(min(POLL, max(0.0, deadline - time.monotonic()))):
        if stop.is_set():
            raise Interrupted("stopped while a request was under way")
        if time.monotonic() >= deadline:
            raise DeadlineExceeded(f"no complete answer within {timeout:g} s")
    answer = result[0]
    if isinstance(answer, BaseException):
        raise answer
    return answer


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def parse_retry_after(value: str | None, now: Callable[[], dt.datetime] = _utc_now) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date, read against `now`)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - now()).total_seconds())
    except (TypeError, ValueError):
        return None
