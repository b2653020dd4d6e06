"""Configuration: resolved once (flags over environment over defaults) into frozen dataclasses.

Precedence is written once here, in the order the OpenTelemetry SDK uses: CLI
flag, then the signal-specific `OTEL_EXPORTER_OTLP_TRACES_*` variable, then
`OTEL_EXPORTER_OTLP_*`, then Braintrust's own `BRAINTRUST_*` variables, then a default.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from pipeline.core.attributes import MappingOptions
from pipeline.read.chunks import DEFAULT_CHUNK_BYTES, DEFAULT_MEMORY_BUDGET
from pipeline.read.load import DEFAULT_TIMESTAMP_FIELDS

BRAINTRUST_API_URL = "https://api.braintrust.dev"
DEFAULT_OUTPUT = Path("realtrace-traces.jsonl")
DEFAULT_MAX_BATCH_BYTES = 4 * 1024 * 1024 - 64 * 1024  # under gRPC's usual 4 MiB cap
DEFAULT_MAX_BATCH_SPANS = 2048
DEFAULT_TIMEOUT = 30.0  # seconds per request
DEFAULT_MAX_RETRY_TIME = 300.0  # seconds of retrying a failing endpoint, for the whole run
DEFAULT_CONCURRENCY = 4  # requests in flight
PROTOCOLS = ("grpc", "http/protobuf")


class ConfigError(ValueError):
    """A configuration the user must fix; the message says how."""


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
    max_batch_spans: int = DEFAULT_MAX_BATCH_SPANS
    max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES
    concurrency: int = DEFAULT_CONCURRENCY
    # From OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: the full URL, used as is (OTLP exporter spec).
    signal_endpoint: bool = False
    # Where each setting came from ("flag --timeout", "env OTEL_EXPORTER_OTLP_HEADERS",
    # "default"), for `realtrace config`; headers are keyed "header <name>".
    sources: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Header values that must never be printed (credentials)."""
        out = []
        for k, v in self.headers:
            if (
                k.lower() in ("authorization", "x-api-key", "api-key", "x-bt-api-key")
                or "key" in k.lower()
                or "token" in k.lower()
            ):
                out.append(v)
                if v.lower().startswith("bearer "):
                    out.append(v[7:])
        return tuple(s for s in out if s)

    @property
    def traces_url(self) -> str:
        """The URL a request goes to: HTTP appends `/v1/traces` unless already there."""
        if self.protocol == "grpc" or self.signal_endpoint:
            return self.endpoint
        parts = urlsplit(self.endpoint)
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
        parts = urlsplit(self.endpoint if "://" in self.endpoint else "http://" + self.endpoint)
        if not parts.hostname:
            raise ConfigError(f"endpoint {self.endpoint!r} has no host")
        check_limits(self.max_batch_spans, self.max_batch_bytes)
        if not self.timeout > 0:
            raise ConfigError(f"--timeout {self.timeout:g}: must be more than 0 seconds")
        if self.concurrency < 1:
            raise ConfigError(f"--concurrency {self.concurrency}: must be at least 1")
        if self.max_retry_time < 0:
            raise ConfigError(f"--max-retry-time {self.max_retry_time:g}: must be 0 or more")
        if (
            self.secrets
            and parts.scheme == "http"
            and not _is_loopback(parts.hostname)
            and not self.insecure
        ):
            raise ConfigError(
                f"refusing to send credentials in clear text to {redact_url(self.endpoint)}: "
                "use https, or pass --insecure if this network is trusted"
            )


def check_limits(max_batch_spans: int, max_batch_bytes: int) -> None:
    """Batch limits apply to every destination, the file included."""
    if max_batch_spans < 1:
        raise ConfigError(f"--max-batch-spans {max_batch_spans}: must be at least 1")
    if max_batch_bytes < 1024:
        raise ConfigError(f"--max-batch-bytes {max_batch_bytes}: must be at least 1024")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redact_url(url: str) -> str:
    """A URL without userinfo or query (where credentials sometimes hide)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}" if parts.scheme else url


@dataclass(frozen=True, slots=True)
class RunConfig:
    """Everything one `realtrace convert` run needs."""

    inputs: tuple[str, ...]
    output: Path = DEFAULT_OUTPUT
    rejects: Path | None = None
    timestamp_fields: tuple[str, ...] = DEFAULT_TIMESTAMP_FIELDS
    mapping: MappingOptions = field(default_factory=MappingOptions)
    service_name: str = "realtrace"
    strict: bool = False
    export: ExportConfig | None = None
    state: Path | None = None
    full: bool = False
    skip_changed: bool = False
    since_ns: int | None = None
    until_ns: int | None = None
    sessions_from: Path | None = None
    report: Path | None = None
    dead_letter: Path | None = None
    max_batch_spans: int = DEFAULT_MAX_BATCH_SPANS
    max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES
    memory_budget: int = DEFAULT_MEMORY_BUDGET
    chunk_bytes: int = DEFAULT_CHUNK_BYTES
    spill_dir: Path | None = None
    workers: int = 1

    @property
    def rejects_path(self) -> Path:
        return self.rejects or self.output.with_name(self.output.stem + ".rejects.jsonl")

    @property
    def dead_letter_path(self) -> Path:
        return self.dead_letter or self.output.with_name(self.output.stem + ".dead-letter.jsonl")

    @property
    def destination(self) -> str:
        """Identity of where spans go, for the state store (never contains credentials)."""
        if self.export is None:
            return f"file:{self.output.resolve()}"
        parent = dict((k.lower(), v) for k, v in self.export.headers).get("x-bt-parent", "")
        return f"{self.export.protocol}:{redact_url(self.export.traces_url)}" + (
            f"#{parent}" if parent else ""
        )

    def validate(self) -> None:
        if not self.inputs:
            raise ConfigError("no input: pass --input PATH (file, directory or glob)")
        if self.mapping.max_history < 0:
            raise ConfigError(f"--max-history {self.mapping.max_history}: must be 0 or more")
        if self.workers < 0:
            raise ConfigError(f"--workers {self.workers}: must be 0 (auto) or more")
        if (
            self.since_ns is not None
            and self.until_ns is not None
            and self.since_ns > self.until_ns
        ):
            raise ConfigError("--since is after --until: nothing could be selected; swap them")
        check_limits(self.max_batch_spans, self.max_batch_bytes)
        if self.export is None and self.output.is_dir():
            raise ConfigError(f"--output {self.output} is a directory: name a file inside it")
        for flag, path in (("--report", self.report), ("--rejects", self.rejects)):
            if path is not None and path.is_dir():
                raise ConfigError(f"{flag} {path} is a directory: name a file inside it")
        if self.export is not None:
            self.export.validate()


def parse_headers(text: str | None) -> list[tuple[str, str]]:
    """`OTEL_EXPORTER_OTLP_HEADERS` format: comma-separated, URL-encoded `key=value`."""
    out: list[tuple[str, str]] = []
    for part in (text or "").split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise ConfigError(
                f"malformed header {part.split('=')[0].strip()!r}: expected key=value"
            )
        k, v = part.split("=", 1)
        out.append((unquote(k.strip()).lower(), unquote(v.strip())))
    return out


def resolve_export(
    env: Mapping[str, str],
    *,
    endpoint: str | None = None,
    protocol: str | None = None,
    headers: tuple[str, ...] = (),
    compression: str | None = None,
    timeout: float | None = None,
    braintrust: bool = False,
    braintrust_project: str | None = None,
    braintrust_parent: str | None = None,
    api_key: str | None = None,
    insecure: bool = False,
    max_retry_time: float | None = None,
    max_batch_spans: int | None = None,
    max_batch_bytes: int | None = None,
    concurrency: int | None = None,
) -> ExportConfig | None:
    """Flags over environment; None means no network export (write the local file)."""

    src: dict[str, str] = {}

    def pick(key: str, flag: object, flag_name: str, *names: str) -> str | None:
        if flag is not None:
            src[key] = f"flag {flag_name}"
            return str(flag)
        for n in names:
            if env.get(n):
                src[key] = f"env {n}"
                return env[n]
        return None

    bt_key = api_key or env.get("BRAINTRUST_API_KEY")
    bt_parent_source = (
        "flag --braintrust-parent"
        if braintrust_parent
        else "flag --braintrust-project"
        if braintrust_project
        else "env BRAINTRUST_PARENT"
    )
    bt_parent = (
        braintrust_parent
        or (f"project_name:{braintrust_project}" if braintrust_project else None)
        or env.get("BRAINTRUST_PARENT")
    )
    ep = pick(
        "endpoint",
        endpoint,
        "--endpoint",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    )
    use_bt = braintrust or (ep is None and (braintrust_project or braintrust_parent) is not None)
    if ep is None and use_bt:
        base = (env.get("BRAINTRUST_API_URL") or BRAINTRUST_API_URL).rstrip("/")
        ep = f"{base}/otel"
        src["endpoint"] = (
            "env BRAINTRUST_API_URL" if env.get("BRAINTRUST_API_URL") else "default (Braintrust)"
        )
    if ep is None:
        return None
    proto = pick(
        "protocol",
        protocol,
        "--protocol",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    )
    if proto is None:
        proto = "http/protobuf" if use_bt or ep.startswith("https://") or "/otel" in ep else "grpc"
        src["protocol"] = "default (from the endpoint)"
    if proto == "http":
        proto = "http/protobuf"
    hdrs: dict[str, str] = {}
    for name in ("OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"):
        for k, v in parse_headers(env.get(name)):
            hdrs[k] = v
            src[f"header {k}"] = f"env {name}"
    # The Braintrust key goes only where Braintrust was asked for (a flag) or to its own
    # host, never to an arbitrary collector that happens to be configured.
    bt_intent = braintrust or braintrust_project is not None or braintrust_parent is not None
    is_bt_endpoint = use_bt or bt_intent or "braintrust.dev" in (urlsplit(ep).hostname or "")
    if bt_key and is_bt_endpoint and "authorization" not in hdrs:
        hdrs["authorization"] = f"Bearer {bt_key}"
        src["header authorization"] = "env BRAINTRUST_API_KEY"
    if bt_parent and is_bt_endpoint:
        hdrs["x-bt-parent"] = bt_parent
        src["header x-bt-parent"] = bt_parent_source
    for h in headers:
        for k, v in parse_headers(h.replace(",", "%2C")):
            hdrs[k] = v
            src[f"header {k}"] = "flag --header"
    comp = pick(
        "compression",
        compression,
        "--compression",
        "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
        "OTEL_EXPORTER_OTLP_COMPRESSION",
    )
    if comp is None:
        comp, src["compression"] = "gzip", "default"
    # The OTel variables carry milliseconds; the flag carries seconds.
    tmo_text = pick(
        "timeout",
        timeout,
        "--timeout",
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
    )
    if tmo_text is None:
        tmo_s, src["timeout"] = DEFAULT_TIMEOUT, "default"
    elif timeout is not None:
        tmo_s = float(timeout)
    else:
        try:
            tmo_s = float(tmo_text) / 1000
        except ValueError:
            raise ConfigError(
                f"{src['timeout'][4:]}={tmo_text!r}: expected milliseconds (a number), e.g. 30000"
            ) from None
    if bt_intent and "authorization" not in hdrs:
        raise ConfigError(
            "Braintrust needs an API key: set BRAINTRUST_API_KEY (or pass an Authorization --header)"
        )
    numbers = {
        "max_retry_time": (max_retry_time, "--max-retry-time", DEFAULT_MAX_RETRY_TIME),
        "max_batch_spans": (max_batch_spans, "--max-batch-spans", DEFAULT_MAX_BATCH_SPANS),
        "max_batch_bytes": (max_batch_bytes, "--max-batch-bytes", DEFAULT_MAX_BATCH_BYTES),
        "concurrency": (concurrency, "--concurrency", DEFAULT_CONCURRENCY),
    }
    chosen: dict[str, Any] = {}
    for key, (value, flag_name, default) in numbers.items():
        chosen[key] = default if value is None else value
        src[key] = "default" if value is None else f"flag {flag_name}"
    src["insecure"] = "flag --insecure" if insecure else "default"
    return ExportConfig(
        endpoint=ep,
        protocol=proto,
        headers=tuple(sorted(hdrs.items())),
        compression=comp,
        timeout=tmo_s,
        insecure=insecure,
        signal_endpoint=src.get("endpoint") == "env OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        sources=tuple(sorted(src.items())),
        **chosen,
    )


def environ() -> Mapping[str, str]:
    return os.environ
