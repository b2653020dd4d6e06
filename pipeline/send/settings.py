"""Send settings: where and how spans go over OTLP, and how big one request may be.

The transports' own configuration, as the OTel exporters keep theirs beside them;
`resolve` fills them from flags and the environment.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from urllib.parse import SplitResult, parse_qsl, urlsplit

from pipeline.errors import ConfigError

DEFAULT_MAX_BATCH_BYTES = 4 * 1024 * 1024 - 64 * 1024  # under gRPC's usual 4 MiB cap
DEFAULT_MAX_BATCH_SPANS = 2048
DEFAULT_TIMEOUT = 30.0  # seconds per request
DEFAULT_MAX_RETRY_TIME = 300.0  # seconds of retrying a failing endpoint, for the whole run
DEFAULT_CONCURRENCY = 4  # requests in flight
PROTOCOLS = ("grpc", "http/protobuf", "http/json")
# headers whose values are no credential (shown by `config`, allowed over plain http)
HARMLESS_HEADERS = frozenset(
    {"x-bt-parent", "user-agent", "accept", "accept-encoding", "content-type", "x-scope-orgid"}
)


@dataclass(frozen=True, slots=True)
class ExportConfig:
    """Where and how spans are sent over OTLP."""

    endpoint: str
    protocol: str = "http/protobuf"
    headers: tuple[tuple[str, str], ...] = ()
    compression: str = "gzip"
    timeout: float = DEFAULT_TIMEOUT
    max_retry_time: float = DEFAULT_MAX_RETRY_TIME
    insecure: bool = False
    concurrency: int = DEFAULT_CONCURRENCY
    # TLS, as OTEL_EXPORTER_OTLP_[TRACES_]CERTIFICATE / CLIENT_KEY / CLIENT_CERTIFICATE name
    # them: a CA bundle to trust, and a client certificate and key (mutual TLS); PEM files
    certificate: str | None = None
    client_key: str | None = None
    client_certificate: str | None = None
    # From OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: the full URL, used as is (OTLP exporter spec).
    signal_endpoint: bool = False
    # Where each setting came from ("flag --timeout", "env OTEL_EXPORTER_OTLP_HEADERS",
    # "default"), for `realtrace config`; headers are keyed "header <name>".
    sources: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    @property
    def secrets(self) -> tuple[str, ...]:
        """What must never be printed nor sent in clear: the endpoint URL's userinfo and
        credential-like query values, and every header value but the few known harmless
        (`x-honeycomb-team`, `cookie`, `dd-api-key`, a vendor's own name: a header is a
        credential unless known otherwise)."""
        out = list(url_secrets(self.endpoint))
        for k, v in self.headers:
            if k.lower() in HARMLESS_HEADERS:
                continue
            out.append(v)
            for scheme in ("bearer ", "basic ", "token "):
                if v.lower().startswith(scheme):
                    out.append(v[len(scheme) :])
        return tuple(s for s in out if s)

    @property
    def traces_url(self) -> str:
        """The URL a request goes to: HTTP appends `/v1/traces` unless already there."""
        if self.protocol == "grpc" or self.signal_endpoint:
            return self.endpoint
        parts = endpoint_parts(self.endpoint)
        parts = parts if parts.scheme else parts._replace(scheme="http")
        path = parts.path.rstrip("/")
        if not path.endswith("/v1/traces"):
            path += "/v1/traces"
        return parts._replace(path=path).geturl()

    def validate(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ConfigError(
                f"unknown protocol {self.protocol!r}: use one of {', '.join(PROTOCOLS)}"
            )
        if self.compression not in ("gzip", "none"):
            raise ConfigError(f"unknown compression {self.compression!r}: use gzip or none")
        parts = endpoint_parts(self.endpoint)
        if not parts.hostname:
            raise ConfigError(f"endpoint {self.endpoint!r} has no host")
        check_numbers(self.timeout, self.max_retry_time, self.concurrency)
        for name, path in (
            ("CERTIFICATE", self.certificate),
            ("CLIENT_KEY", self.client_key),
            ("CLIENT_CERTIFICATE", self.client_certificate),
        ):
            if path is not None and not os.path.isfile(path):
                raise ConfigError(
                    f"OTEL_EXPORTER_OTLP_{name} {path}: no such file (a PEM file is expected)"
                )
        if (self.client_key is None) != (self.client_certificate is None):
            raise ConfigError(
                "mutual TLS needs both OTEL_EXPORTER_OTLP_CLIENT_KEY and "
                "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"
            )
        # a bare host:port is plain HTTP for the HTTP exporter, TLS for gRPC's (off loopback)
        cleartext = parts.scheme == "http" or (not parts.scheme and self.protocol != "grpc")
        if self.secrets and cleartext and not is_loopback(parts.hostname) and not self.insecure:
            raise ConfigError(
                f"refusing to send credentials in clear text to {redact_url(self.endpoint)}: "
                "use https, or pass --insecure if this network is trusted"
            )


def check_numbers(
    timeout: float | None, max_retry_time: float | None, concurrency: int | None
) -> None:
    """The export settings' numbers (None: not given), checked whatever the destination."""
    if timeout is not None and not timeout > 0:
        raise ConfigError(f"--timeout {timeout:g}: must be more than 0 seconds")
    if concurrency is not None and concurrency < 1:
        raise ConfigError(f"--concurrency {concurrency}: must be at least 1")
    if max_retry_time is not None and max_retry_time < 0:
        raise ConfigError(f"--max-retry-time {max_retry_time:g}: must be 0 or more")


@dataclass(frozen=True, slots=True)
class BatchLimits:
    """How many spans and bytes one request (or one line of the file) holds at most.

    They apply to every destination, the file included.
    """

    max_spans: int = DEFAULT_MAX_BATCH_SPANS
    max_bytes: int = DEFAULT_MAX_BATCH_BYTES

    def validate(self) -> None:
        if self.max_spans < 1:
            raise ConfigError(f"--max-batch-spans {self.max_spans}: must be at least 1")
        if self.max_bytes < 1024:
            raise ConfigError(f"--max-batch-bytes {self.max_bytes}: must be at least 1024")


def endpoint_parts(endpoint: str) -> SplitResult:
    """An endpoint as URL parts, parsed here only. A bare `host:port` (as the OTLP
    exporters accept) comes out with an empty scheme, for each transport to read."""
    return urlsplit(endpoint if "://" in endpoint else "//" + endpoint)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_SECRET_PARAMS = ("key", "token", "secret", "sig", "password", "auth", "credential")


def url_secrets(url: str) -> list[str]:
    """The userinfo (user and password: a token is often the user) and the credential-like
    query values of a URL."""
    parts = endpoint_parts(url)
    found = [x for x in (parts.password, parts.username) if x and len(x) >= 4]
    found += [
        v
        for k, v in parse_qsl(parts.query, keep_blank_values=False)
        if any(word in k.lower() for word in _SECRET_PARAMS)
    ]
    return [v for v in found if v]


def masked_url(url: str) -> str:
    """A URL as it may be shown: its userinfo and credential-like query values as `***`."""
    parts = endpoint_parts(url)
    masked = url
    if "@" in parts.netloc:
        userinfo = parts.netloc.rsplit("@", 1)[0]
        masked = masked.replace(userinfo + "@", "***@", 1)
    for secret in url_secrets(url):
        masked = masked.replace(secret, "***")
    return masked


def redact_url(url: str) -> str:
    """A URL without userinfo or query (where credentials sometimes hide)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}" if parts.scheme else url
