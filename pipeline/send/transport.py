"""Transport: one OTLP export attempt over gRPC or HTTP, classified into outcomes.

A transport never retries; it sends once and either returns the number of
spans the backend rejected (OTLP partial success) or raises one of the error
classes of `errors`, which the retry stage acts on. Shape taken from the Collector's
exporterhelper: permanent errors stop at once, throttling carries its delay.
"""

from __future__ import annotations

import datetime as dt
import gzip
import threading
from collections.abc import Callable
from email.utils import parsedate_to_datetime

import grpc
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)

from pipeline.errors import (
    AuthError,
    PermanentExportError,
    RetryableExportError,
    TooLargeError,
)
from pipeline.redact import Redactor
from pipeline.send.chain import Transport
from pipeline.send.settings import ExportConfig, endpoint_parts, is_loopback, redact_url

RETRYABLE_HTTP = frozenset({408, 429, 502, 503, 504})
RETRYABLE_GRPC = frozenset(
    {
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)


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


def _partial(body: bytes) -> tuple[int, str]:
    if not body:
        return 0, ""
    resp = ExportTraceServiceResponse()
    try:
        resp.ParseFromString(body)
    except Exception:  # a non-OTLP 200 body (some proxies): treat as full success
        return 0, ""
    ps = resp.partial_success
    return int(ps.rejected_spans), ps.error_message


class HttpTransport:
    """OTLP/HTTP protobuf (what Braintrust speaks), one `requests` session per thread."""

    def __init__(self, cfg: ExportConfig, redactor: Redactor) -> None:
        self.url = cfg.traces_url
        self.shown_url = redact_url(self.url)
        self.timeout = cfg.timeout
        self.gzip = cfg.compression == "gzip"
        self.headers = {k: v for k, v in cfg.headers}
        self.headers["content-type"] = "application/x-protobuf"
        self.headers.setdefault("user-agent", "realtrace")
        if self.gzip:
            self.headers["content-encoding"] = "gzip"
        self.redact = redactor
        self._local = threading.local()
        self._sessions: list[requests.Session] = []  # every thread's, for close()
        self._sessions_lock = threading.Lock()

    def _session(self) -> requests.Session:
        s = getattr(self._local, "session", None)
        if s is None:
            s = requests.Session()
            self._local.session = s
            with self._sessions_lock:
                self._sessions.append(s)
        return s

    def send(self, body: bytes) -> tuple[int, str]:
        if self.gzip:
            body = gzip.compress(body, compresslevel=5, mtime=0)
        try:
            resp = self._session().post(
                self.url, data=body, headers=self.headers, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise RetryableExportError(
                self.redact(f"cannot reach {self.shown_url}: {type(exc).__name__}")
            ) from None
        code = resp.status_code
        if 200 <= code < 300:
            return _partial(resp.content)
        detail = self.redact(resp.text[:200].strip())
        where = f"{self.shown_url} ({code})"
        if code == 413:
            raise TooLargeError(f"request too large for {where}")
        if code in RETRYABLE_HTTP:
            raise RetryableExportError(
                f"{where}: {detail}", parse_retry_after(resp.headers.get("retry-after"))
            )
        if code == 401:
            raise AuthError(f"API key rejected by {where}")
        if code == 403:
            raise AuthError(f"access denied by {where}: {detail}")
        raise PermanentExportError(f"{where} refused the request: {detail}")

    def close(self) -> None:
        """Close the sessions of every thread that sent (sends run in a pool)."""
        with self._sessions_lock:
            for s in self._sessions:
                s.close()
            self._sessions.clear()


class GrpcTransport:
    """OTLP/gRPC through the generated TraceService stub (no SDK exporter retry loop)."""

    def __init__(self, cfg: ExportConfig, redactor: Redactor) -> None:
        parts = endpoint_parts(cfg.endpoint)
        host = parts.hostname or "localhost"
        target = f"{host}:{parts.port or 4317}"
        self.shown = f"{parts.scheme + '://' if parts.scheme else ''}{target}"
        secure = parts.scheme == "https" or (
            not parts.scheme and not (cfg.insecure or is_loopback(host))
        )
        options = [("grpc.max_send_message_length", -1), ("grpc.enable_retries", 0)]
        self.channel = (
            grpc.secure_channel(target, grpc.ssl_channel_credentials(), options=options)
            if secure
            else grpc.insecure_channel(target, options=options)
        )
        # requests arrive serialized (see encode.request_bytes): sent as they are
        self.export = self.channel.unary_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            request_serializer=None,
            response_deserializer=ExportTraceServiceResponse.FromString,
        )
        self.metadata = tuple((k.lower(), v) for k, v in cfg.headers)
        self.compression = (
            grpc.Compression.Gzip if cfg.compression == "gzip" else grpc.Compression.NoCompression
        )
        self.timeout = cfg.timeout
        self.redact = redactor

    def send(self, body: bytes) -> tuple[int, str]:
        try:
            resp = self.export(
                body, metadata=self.metadata, timeout=self.timeout, compression=self.compression
            )
        except grpc.RpcError as err:
            code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
            detail = self.redact(str(err.details() if hasattr(err, "details") else err)[:200])
            where = f"{self.shown} ({code.name})"
            delay = _grpc_retry_delay(err)
            low = detail.lower()
            if "http1" in low or "http/1" in low or "expected settings frame" in low:
                raise PermanentExportError(
                    f"{where}: the endpoint speaks HTTP/1.1, not gRPC: use --protocol http/protobuf"
                ) from None
            if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
                if delay is not None:
                    raise RetryableExportError(f"{where}: {detail}", delay) from None
                raise TooLargeError(f"request too large for {where}: {detail}") from None
            if code in RETRYABLE_GRPC:
                raise RetryableExportError(f"{where}: {detail}", delay) from None
            if code == grpc.StatusCode.UNAUTHENTICATED:
                raise AuthError(f"API key rejected by {where}") from None
            if code == grpc.StatusCode.PERMISSION_DENIED:
                raise AuthError(f"access denied by {where}: {detail}") from None
            raise PermanentExportError(f"{where} refused the request: {detail}") from None
        ps = resp.partial_success
        return int(ps.rejected_spans), ps.error_message

    def close(self) -> None:
        self.channel.close()


def _grpc_retry_delay(err: grpc.RpcError) -> float | None:
    """RetryInfo from the `grpc-status-details-bin` trailer, as the OTLP spec asks."""
    try:
        from google.rpc import error_details_pb2, status_pb2

        trailers = err.trailing_metadata() if hasattr(err, "trailing_metadata") else None
        for key, value in trailers or ():
            if key == "grpc-status-details-bin":
                status = status_pb2.Status.FromString(value)
                for detail in status.details:
                    if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                        info = error_details_pb2.RetryInfo()
                        detail.Unpack(info)
                        return info.retry_delay.seconds + info.retry_delay.nanos / 1e9
    except Exception:
        return None
    return None


def make_transport(cfg: ExportConfig, redactor: Redactor) -> Transport:
    return GrpcTransport(cfg, redactor) if cfg.protocol == "grpc" else HttpTransport(cfg, redactor)
