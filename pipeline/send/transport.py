"""Transport: one OTLP export attempt over gRPC or HTTP, classified into outcomes.

A transport never retries; it sends once and either returns the number of
spans the backend rejected (OTLP partial success) or raises one of the error
classes of `errors`, which the retry stage acts on. Shape taken from the Collector's
exporterhelper: permanent errors stop at once, throttling carries its delay.
"""

from __future__ import annotations

import gzip
import threading
from typing import NoReturn

import grpc
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from pipeline.encode import request_to_json
from pipeline.errors import (
    AuthError,
    Interrupted,
    NoEndpointError,
    NotOtlpError,
    PermanentExportError,
    RetryableExportError,
    TooLargeError,
    WrongProtocolError,
)
from pipeline.redact import Redactor
from pipeline.send.chain import Transport
from pipeline.send.http import POLL, DeadlineExceeded, parse_retry_after, request_within
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


def _partial(body: bytes, content_type: str, where: str) -> tuple[int, str]:
    """The OTLP answer to a successful request: its partial success. An answer that is not
    OTLP (an HTML page from a proxy or a wrong path, 200 all the same) delivered nothing."""
    if not body:
        return 0, ""
    resp = ExportTraceServiceResponse()
    kind = content_type.split(";")[0].strip().lower()
    try:
        if kind == "application/x-protobuf":
            resp.ParseFromString(body)
        elif kind == "application/json":
            from google.protobuf import json_format

            json_format.Parse(body, resp, ignore_unknown_fields=True)
        else:
            raise ValueError(kind)
    except Exception:
        shown = body[:120].decode("utf-8", "replace").replace("\n", " ").strip()
        raise NotOtlpError(
            f"{where} answered with {kind or 'no content type'}, not an OTLP response "
            f"(nothing counts as delivered; check the endpoint's URL): {shown!r}"
        ) from None
    ps = resp.partial_success
    return int(ps.rejected_spans), ps.error_message


class HttpTransport:
    """OTLP/HTTP protobuf (what Braintrust speaks), one `requests` session per thread."""

    def __init__(self, cfg: ExportConfig, redactor: Redactor, stop: threading.Event) -> None:
        self.stop = stop
        self.cfg = cfg
        self.json = cfg.protocol == "http/json"
        self.url = cfg.traces_url
        self.shown_url = redact_url(self.url)
        self.timeout = cfg.timeout
        self.gzip = cfg.compression == "gzip"
        self.headers = {k: v for k, v in cfg.headers}
        self.headers["content-type"] = "application/json" if self.json else "application/x-protobuf"
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
            if self.cfg.client_certificate and self.cfg.client_key:
                s.cert = (self.cfg.client_certificate, self.cfg.client_key)
            self._local.session = s
            with self._sessions_lock:
                self._sessions.append(s)
        return s

    def _post(self, body: bytes) -> requests.Response:
        """One POST with a deadline for the whole request (send/http.py), interruptible by
        the run's stop; the OTel certificate wins over `REQUESTS_CA_BUNDLE`."""
        session = self._session()
        try:
            return request_within(
                session,
                "POST",
                self.url,
                data=body,
                headers=self.headers,
                timeout=self.timeout,
                stop=self.stop,
                verify=self.cfg.certificate,
            )
        except DeadlineExceeded:
            self._local.session = None  # still in use by the abandoned request
            raise RetryableExportError(
                f"{self.shown_url} sent no complete answer within {self.timeout:g} s "
                "(--timeout, for the whole request)"
            ) from None
        except Interrupted:
            self._local.session = None
            raise
        except requests.RequestException as exc:
            message, setup = _unreachable(self.shown_url, exc)
            raise RetryableExportError(self.redact(message), setup=setup) from None

    def send(self, body: bytes) -> tuple[int, str]:
        if self.json:  # requests are built as protobuf everywhere; OTLP/JSON on the wire only
            body = request_to_json(ExportTraceServiceRequest.FromString(body)).encode()
        if self.gzip:
            body = gzip.compress(body, compresslevel=5, mtime=0)
        resp = self._post(body)
        code = resp.status_code
        if 200 <= code < 300:
            where = f"{self.shown_url} ({code})"
            return _partial(resp.content, resp.headers.get("content-type", ""), where)
        detail = self.redact(resp.text[:200].strip()) or f"HTTP {code} {resp.reason or ''}".strip()
        where = f"{self.shown_url} ({code})"
        if code == 413:
            raise TooLargeError(f"request too large for {where}")
        if code in RETRYABLE_HTTP:
            raise RetryableExportError(
                f"{where}: {detail}",
                parse_retry_after(resp.headers.get("retry-after")),
                answered=True,
            )
        if code == 401:
            raise AuthError(f"API key rejected by {where}")
        if code == 403:
            raise AuthError(f"access denied by {where}: {detail}")
        if code in (404, 405):
            raise NoEndpointError(f"no OTLP endpoint at {where}: check the URL's path")
        raise PermanentExportError(f"{where} refused the request: {detail}")

    def close(self) -> None:
        """Close the sessions of every thread that sent (sends run in a pool)."""
        with self._sessions_lock:
            for s in self._sessions:
                s.close()
            self._sessions.clear()


class GrpcTransport:
    """OTLP/gRPC through the generated TraceService stub (no SDK exporter retry loop)."""

    def __init__(self, cfg: ExportConfig, redactor: Redactor, stop: threading.Event) -> None:
        self.stop = stop
        parts = endpoint_parts(cfg.endpoint)
        host = parts.hostname or "localhost"
        port = parts.port or (443 if parts.scheme == "https" else 4317)  # https: TLS's port
        target = f"{host}:{port}"
        self.shown = f"{parts.scheme + '://' if parts.scheme else ''}{target}"
        secure = parts.scheme == "https" or (
            not parts.scheme and not (cfg.insecure or is_loopback(host))
        )
        options = [("grpc.max_send_message_length", -1), ("grpc.enable_retries", 0)]
        self.channel = (
            grpc.secure_channel(target, _credentials(cfg), options=options)
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
        call = self.export.future(
            body, metadata=self.metadata, timeout=self.timeout, compression=self.compression
        )
        while not self.stop.is_set():  # the call's own deadline bounds the whole request
            try:
                resp = call.result(timeout=POLL)
                break
            except grpc.FutureTimeoutError:
                continue
            except grpc.RpcError as err:
                self._fail(err)
        else:
            call.cancel()
            raise Interrupted("stopped while a request was under way")
        ps = resp.partial_success
        return int(ps.rejected_spans), ps.error_message

    def _fail(self, err: grpc.RpcError) -> NoReturn:
        """The typed export error for a failed call."""
        code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
        detail = self.redact(str(err.details() if hasattr(err, "details") else err)[:200])
        where = f"{self.shown} ({code.name})"
        delay = _grpc_retry_delay(err)
        low = detail.lower()
        if "http1" in low or "http/1" in low or "expected settings frame" in low:
            raise WrongProtocolError(
                f"{where}: the endpoint speaks HTTP/1.1, not gRPC: use --protocol http/protobuf"
            ) from None
        if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
            if delay is not None:
                raise RetryableExportError(f"{where}: {detail}", delay) from None
            raise TooLargeError(f"request too large for {where}: {detail}") from None
        if code in RETRYABLE_GRPC:
            setup = any(w in low for w in ("dns", "resolution", "ssl", "handshake", "certificate"))
            raise RetryableExportError(f"{where}: {detail}", delay, setup=setup) from None
        if code == grpc.StatusCode.UNIMPLEMENTED:
            raise NoEndpointError(f"no OTLP trace service at {where}: check the port") from None
        if code == grpc.StatusCode.UNAUTHENTICATED:
            raise AuthError(f"API key rejected by {where}") from None
        if code == grpc.StatusCode.PERMISSION_DENIED:
            raise AuthError(f"access denied by {where}: {detail}") from None
        raise PermanentExportError(f"{where} refused the request: {detail}") from None

    def close(self) -> None:
        self.channel.close()


def _credentials(cfg: ExportConfig) -> grpc.ChannelCredentials:
    """TLS for gRPC: the system's trust, or the CA bundle given; a client certificate too."""

    def read(path: str | None) -> bytes | None:
        if path is None:
            return None
        with open(path, "rb") as fh:
            return fh.read()

    return grpc.ssl_channel_credentials(
        root_certificates=read(cfg.certificate),
        private_key=read(cfg.client_key),
        certificate_chain=read(cfg.client_certificate),
    )


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


def _unreachable(url: str, exc: requests.RequestException) -> tuple[str, bool]:
    """Why a request got no answer, with the cause a user can act on (DNS, refused, TLS),
    and whether the cause is the set-up (DNS, TLS) rather than the moment."""
    text = str(exc)
    for needle, cause, setup in (
        ("Name or service not known", "the host name does not resolve (DNS)", True),
        ("nodename nor servname", "the host name does not resolve (DNS)", True),
        ("Temporary failure in name resolution", "the host name does not resolve (DNS)", True),
        ("Connection refused", "connection refused (nothing listens on that port)", False),
        ("CERTIFICATE_VERIFY_FAILED", "its TLS certificate is not trusted", True),
        ("SSLError", "the TLS handshake failed", True),
        ("timed out", "the connection timed out", False),
        ("Network is unreachable", "the network is unreachable", False),
    ):
        if needle in text or needle == type(exc).__name__:
            return f"cannot reach {url}: {cause}", setup
    return f"cannot reach {url}: {type(exc).__name__}", False


def make_transport(cfg: ExportConfig, redactor: Redactor, stop: threading.Event) -> Transport:
    if cfg.protocol == "grpc":
        return GrpcTransport(cfg, redactor, stop)
    return HttpTransport(cfg, redactor, stop)
