"""Resolve: flags, environment and defaults, once, into the frozen settings of `config`,
keeping where every value came from (for `realtrace config` and `convert --print-config`).

Precedence is written once here, in the order the OpenTelemetry SDK uses: CLI flag,
then the signal-specific `OTEL_EXPORTER_OTLP_TRACES_*` variable, then
`OTEL_EXPORTER_OTLP_*`, then Braintrust's own `BRAINTRUST_*` variables, then the
default declared on the settings' dataclass (each default is written there only).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from pipeline.config import ReplayConfig, RunConfig, default_state_path
from pipeline.core.attributes import AudioMode, MappingOptions
from pipeline.core.conventions import parse_conventions
from pipeline.engine import ENGINES
from pipeline.errors import ConfigError
from pipeline.send.attachments import AttachmentConfig
from pipeline.send.braintrust import DEFAULT_API_URL, DEFAULT_APP_URL, base_url, otlp_endpoint
from pipeline.send.destination import (
    STDOUT,
    Destination,
    ExporterDestination,
    FileDestination,
    OtlpDestination,
)
from pipeline.send.settings import BatchLimits, ExportConfig, check_numbers, endpoint_parts


def default(cls: type, name: str) -> Any:
    """The default a settings dataclass declares for `name` (help texts quote it)."""
    for f in fields(cls):
        if f.name == name:
            return f.default_factory() if callable(f.default_factory) else f.default
    raise KeyError(name)


def parse_pairs(text: str | None, what: str) -> list[tuple[str, str]]:
    """The OTel variables' `key=value` lists (`OTEL_EXPORTER_OTLP_HEADERS`,
    `OTEL_RESOURCE_ATTRIBUTES`): comma-separated, URL-encoded; `what` names a bad entry."""
    out: list[tuple[str, str]] = []
    for part in (text or "").split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise ConfigError(f"malformed {what} {part.strip()!r}: expected key=value")
        k, v = part.split("=", 1)
        out.append((unquote(k.strip()), unquote(v.strip())))
    return out


def parse_headers(text: str | None) -> list[tuple[str, str]]:
    """`OTEL_EXPORTER_OTLP_HEADERS` format; header names lowercased."""
    return [(k.lower(), v) for k, v in parse_pairs(text, "header")]


@dataclass(slots=True)
class _Sources:
    """Values picked from a flag or the environment, remembering which."""

    env: Mapping[str, str]
    src: dict[str, str] = field(default_factory=dict)

    def pick(self, key: str, flag: object, flag_name: str, *names: str) -> str | None:
        if flag is not None:
            self.src[key] = f"flag {flag_name}"
            return str(flag)
        for n in names:
            if self.env.get(n):
                self.src[key] = f"env {n}"
                return self.env[n]
        return None

    def flag_or_default(self, key: str, value: Any, flag_name: str, fallback: Any) -> Any:
        self.src[key] = "default" if value is None else f"flag {flag_name}"
        return fallback if value is None else value


@dataclass(frozen=True, slots=True)
class BraintrustFlags:
    """What the user said about Braintrust: `--braintrust`, its project or parent, a key."""

    on: bool = False
    project: str | None = None
    parent: str | None = None
    api_key: str | None = None

    @property
    def asked(self) -> bool:
        return self.on or self.project is not None or self.parent is not None


def _endpoint(
    s: _Sources, endpoint: str | None, bt: BraintrustFlags, file_asked: bool
) -> tuple[str | None, bool]:
    """The endpoint, and whether it is Braintrust's by default (no endpoint given).

    In order: --endpoint; OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT; the --braintrust flags;
    an explicit --output (the file); Braintrust's own BRAINTRUST_API_KEY, as its SDKs
    read it; else the file. None: the file."""
    ep = s.pick(
        "endpoint",
        endpoint,
        "--endpoint",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    )
    use_bt = bt.on or (ep is None and (bt.project or bt.parent) is not None)
    by_key = ep is None and not use_bt and not file_asked and bool(s.env.get("BRAINTRUST_API_KEY"))
    if ep is None and (use_bt or by_key):
        url = s.env.get("BRAINTRUST_API_URL")
        ep = otlp_endpoint(url)
        why = "env BRAINTRUST_API_KEY" if by_key else "the --braintrust flags"
        s.src["endpoint"] = f"{why}, " + ("env BRAINTRUST_API_URL" if url else "Braintrust's URL")
    return ep, use_bt or by_key


def _headers(
    s: _Sources, ep: str, use_bt: bool, bt: BraintrustFlags, flags: tuple[str, ...]
) -> dict[str, str]:
    hdrs: dict[str, str] = {}
    for name in ("OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"):
        for k, v in parse_headers(s.env.get(name)):
            hdrs[k] = v
            s.src[f"header {k}"] = f"env {name}"
    # The Braintrust key goes only where Braintrust was asked for (a flag) or to its own
    # host, never to an arbitrary collector that happens to be configured.
    is_bt = use_bt or bt.asked or "braintrust.dev" in (endpoint_parts(ep).hostname or "")
    key = bt.api_key or s.env.get("BRAINTRUST_API_KEY")
    if key and is_bt and "authorization" not in hdrs:
        hdrs["authorization"] = f"Bearer {key}"
        s.src["header authorization"] = "env BRAINTRUST_API_KEY"
    parent = bt.parent or (f"project_name:{bt.project}" if bt.project else None)
    parent = parent or s.env.get("BRAINTRUST_PARENT")
    if parent and is_bt:
        hdrs["x-bt-parent"] = parent
        s.src["header x-bt-parent"] = (
            "flag --braintrust-parent"
            if bt.parent
            else "flag --braintrust-project"
            if bt.project
            else "env BRAINTRUST_PARENT"
        )
    for h in flags:
        for k, v in parse_headers(h.replace(",", "%2C")):
            hdrs[k] = v
            s.src[f"header {k}"] = "flag --header"
    if is_bt and "authorization" not in hdrs:
        raise ConfigError(
            "Braintrust needs an API key: set BRAINTRUST_API_KEY (or pass an Authorization --header)"
        )
    if is_bt and "x-bt-parent" not in hdrs:
        raise ConfigError(
            "Braintrust needs to know where traces go: set BRAINTRUST_PARENT=project_name:NAME "
            "(or project_id:ID, experiment_id:ID), or pass --braintrust-project NAME"
        )
    return hdrs


def _protocol(s: _Sources, protocol: str | None, ep: str, use_bt: bool) -> str:
    """The flag, the variables, else from the endpoint: HTTP for https and Braintrust."""
    proto = s.pick(
        "protocol",
        protocol,
        "--protocol",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    )
    if proto is None:  # the OTLP exporter spec's default, but on gRPC's own port
        proto = "grpc" if endpoint_parts(ep).port == 4317 and not use_bt else "http/protobuf"
        s.src["protocol"] = "default (from the endpoint)"
    return "http/protobuf" if proto == "http" else proto


def _timeout(s: _Sources, timeout: float | None) -> float:
    """Seconds; the OTel variables carry milliseconds, the flag carries seconds."""
    text = s.pick(
        "timeout",
        timeout,
        "--timeout",
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
    )
    if text is None:
        s.src["timeout"] = "default"
        return float(default(ExportConfig, "timeout"))
    if timeout is not None:
        return float(timeout)
    try:
        return float(text) / 1000
    except ValueError:
        raise ConfigError(
            f"{s.src['timeout'][4:]}={text!r}: expected milliseconds (a number), e.g. 30000"
        ) from None


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
    concurrency: int | None = None,
    file_asked: bool = False,
) -> ExportConfig | None:
    """Flags over environment; None means no network export (write the local file).
    `file_asked`: --output was given, which wins over BRAINTRUST_API_KEY alone."""
    s = _Sources(env)
    bt = BraintrustFlags(braintrust, braintrust_project, braintrust_parent, api_key)
    ep, use_bt = _endpoint(s, endpoint, bt, file_asked)
    if ep is None:  # the file: the export flags do nothing, but a bad one is still an error
        for h in headers:
            parse_headers(h.replace(",", "%2C"))
        check_numbers(timeout, max_retry_time, concurrency)
        return None
    proto = _protocol(s, protocol, ep, use_bt)
    hdrs = _headers(s, ep, use_bt, bt, headers)
    comp = s.pick(
        "compression",
        compression,
        "--compression",
        "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
        "OTEL_EXPORTER_OTLP_COMPRESSION",
    )
    if comp is None:
        comp, s.src["compression"] = default(ExportConfig, "compression"), "default"
    tls = {
        key: s.pick(
            key,
            None,
            "",
            f"OTEL_EXPORTER_OTLP_TRACES_{key.upper()}",
            f"OTEL_EXPORTER_OTLP_{key.upper()}",
        )
        for key in ("certificate", "client_key", "client_certificate")
    }
    if tls["certificate"] is None:  # requests' own variables serve only when the OTel one is unset
        bundle = next((n for n in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE") if s.env.get(n)), None)
        s.src["certificate"] = (
            f"default: env {bundle} (HTTP only; OTEL_EXPORTER_OTLP_CERTIFICATE wins over it)"
            if bundle
            else "default: the system's trust store"
        )
    return ExportConfig(
        endpoint=ep,
        protocol=proto,
        **tls,
        headers=tuple(sorted(hdrs.items())),
        compression=comp,
        timeout=_timeout(s, timeout),
        insecure=bool(s.flag_or_default("insecure", insecure or None, "--insecure", False)),
        max_retry_time=s.flag_or_default(
            "max_retry_time",
            max_retry_time,
            "--max-retry-time",
            default(ExportConfig, "max_retry_time"),
        ),
        concurrency=s.flag_or_default(
            "concurrency", concurrency, "--concurrency", default(ExportConfig, "concurrency")
        ),
        signal_endpoint=s.src.get("endpoint") == "env OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        sources=tuple(sorted(s.src.items())),
    )


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")


def parse_duration(text: str, flag: str) -> int:
    """`90s`, `10m`, `2h`, `7d`, `1w`, `1h30m`, or `0`, as nanoseconds."""
    t = text.strip().lower()
    if t == "0":
        return 0
    parts = _DURATION.findall(t)
    if not parts or _DURATION.sub("", t).strip():
        raise ConfigError(f"{flag} {text!r}: expected a duration such as 90s, 10m, 2h, 7d or 0")
    return int(sum(float(n) * _UNITS[u] for n, u in parts) * 1_000_000_000)


def parse_when(text: str | None, flag: str, now_ns: int | None = None) -> int | None:
    """A date or ISO datetime (naive means UTC), `today`, `yesterday`, or a duration ago
    (`24h`, `7d`), as UTC nanoseconds."""
    if text is None:
        return None
    now = now_ns if now_ns is not None else time.time_ns()
    t = text.strip().lower()
    midnight = dt.datetime.fromtimestamp(now // 1_000_000_000, dt.UTC).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    if t in ("today", "yesterday"):
        day = midnight - dt.timedelta(days=1 if t == "yesterday" else 0)
        return int(day.timestamp()) * 1_000_000_000
    if _DURATION.match(t):
        return now - parse_duration(t, flag)
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            f"{flag} {text!r}: expected a date (2026-11-01), an ISO datetime "
            "(2026-11-01T06:00:00Z), today, yesterday, or a duration ago (24h, 7d)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp()) * 1_000_000_000 + when.microsecond * 1000


# convert's own options: flag name, the RunConfig (or MappingOptions) field it sets
_RUN_FLAGS = {
    "output": ("--output", RunConfig),
    "rejects": ("--rejects", RunConfig),
    "report": ("--report", RunConfig),
    "html": ("--html", RunConfig),
    "workers": ("--workers", RunConfig),
    "max_line_bytes": ("--max-line-bytes", RunConfig),
    "sessions_from": ("--sessions-from", RunConfig),
    "engine": ("--engine", RunConfig),
    "ray_address": ("--ray-address", RunConfig),
    "root_name": ("--root-name", MappingOptions),
    "max_history": ("--max-history", MappingOptions),
    "conventions": ("--attributes", MappingOptions),
}
_SWITCHES = {"strict": "--strict", "full": "--full", "skip_changed": "--skip-changed"}


def resolve_run(
    env: Mapping[str, str],
    *,
    inputs: tuple[str, ...],
    timestamp_fields: tuple[str, ...] = (),
    tags: tuple[str, ...] = (),
    state_path: Path | None = None,
    no_state: bool = False,
    since: str | None = None,
    until: str | None = None,
    settle: str | None = None,
    now_ns: int | None = None,
    max_batch_spans: int | None = None,
    max_batch_bytes: int | None = None,
    dead_letter: Path | None = None,
    export: Mapping[str, Any] | None = None,
    audio: str | None = None,
    **flags: Any,
) -> RunConfig:
    """Every setting of one `convert` run, from its flags (None: not given) and `env`."""
    s = _Sources(env)
    v = {
        k: s.flag_or_default(k, flags.get(k), flag, default(cls, k))
        for k, (flag, cls) in _RUN_FLAGS.items()
    }
    strict, full, skip_changed = (
        bool(s.flag_or_default(k, flags.get(k) or None, f, False)) for k, f in _SWITCHES.items()
    )
    service, resource_attrs = _service(s, flags.pop("service_name", None))
    now = now_ns if now_ns is not None else time.time_ns()
    s.src["settle"] = "default" if settle is None else "flag --settle"
    settle_ns: int = (
        default(RunConfig, "settle_ns") if settle is None else parse_duration(settle, "--settle")
    )
    if timestamp_fields:
        s.src["timestamp_fields"] = "flag --timestamp-field"
    s.src["tags"] = "flag --tag" if tags else "default"
    to_stdout = str(v["output"]) == "-"  # spans on stdout: side files beside the default
    output = default(RunConfig, "output") if to_stdout else Path(v["output"])
    no_state = no_state or to_stdout  # nothing to tell what a stream already holds
    state = None if no_state else state_path or default_state_path(output, env)
    s.src["state"] = "flag --no-state" if no_state else "flag --state" if state_path else "default"
    limits = _limits(s, max_batch_spans, max_batch_bytes)
    dead = s.flag_or_default(
        "dead_letter",
        dead_letter,
        "--dead-letter",
        output.with_name(output.stem + ".dead-letter.jsonl"),
    )
    dest = _destination(
        s, env, export or {}, output, Path(dead), flags.get("output") is not None, to_stdout
    )
    if v["engine"] in ENGINES and ENGINES[v["engine"]].parallel_writers:
        dest = dest.partition()
    conventions = v.pop("conventions")
    if isinstance(conventions, str):
        try:
            conventions = parse_conventions(conventions)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    mode, audio_dir, attachments = _audio(s, audio, dest)
    mapping = MappingOptions(
        v.pop("root_name"),
        tags,
        v.pop("max_history"),
        conventions,
        audio=mode,
        audio_max_bytes=limits.max_bytes // 2,
    )
    return RunConfig(
        audio_dir=audio_dir,
        attachments=attachments,
        inputs=inputs,
        destination=dest,
        timestamp_fields=timestamp_fields or default(RunConfig, "timestamp_fields"),
        mapping=mapping,
        state=state,
        since_ns=parse_when(since, "--since", now),
        until_ns=parse_when(until, "--until", now),
        settle_ns=settle_ns,
        now_ns=now,
        limits=limits,
        service_name=service,
        resource_attributes=resource_attrs,
        sources=tuple(sorted(s.src.items())),
        strict=strict,
        full=full,
        skip_changed=skip_changed,
        **{**v, "output": output},
    )


AUDIO_MODES = ("none", "inline", "upload", "dir:PATH")  # as --audio takes them


def _audio(
    s: _Sources, flag: str | None, dest: Destination
) -> tuple[AudioMode, Path | None, AttachmentConfig | None]:
    """`--audio`: none | inline | upload | dir:PATH; by default `upload` to Braintrust (its
    Realtime spec wants the audio as attachments), `none` elsewhere (today's speed)."""
    braintrust = dest.is_braintrust
    s.src["audio"] = (
        "flag --audio" if flag else "default for Braintrust" if braintrust else "default"
    )
    text = flag or ("upload" if braintrust else "none")
    if text.startswith("dir:") and len(text) > 4:
        return AudioMode.DIR, Path(text[4:]), None
    if text not in (AudioMode.NONE, AudioMode.INLINE, AudioMode.UPLOAD):
        raise ConfigError(f"--audio {text!r}: use one of {', '.join(AUDIO_MODES)}")
    if text != AudioMode.UPLOAD:
        return AudioMode(text), None, None
    if not braintrust:
        raise ConfigError(
            "--audio upload sends attachments to Braintrust: use it with the Braintrust "
            "destination, or --audio inline / dir:PATH for others"
        )
    assert dest.export is not None  # Braintrust's is an OTLP destination
    auth = next((v for k, v in dest.export.headers if k.lower() == "authorization"), "")
    key = auth.removeprefix("Bearer ").strip()
    if not key:
        raise ConfigError(
            "--audio upload needs BRAINTRUST_API_KEY (Braintrust's API opens with it)"
        )
    return AudioMode.UPLOAD, None, _attachments(s, key, dest.export)


def _attachments(s: _Sources, key: str, export: ExportConfig) -> AttachmentConfig:
    """Braintrust's hosts as its SDKs find them (send/braintrust.py): the login at the app
    URL, the API at BRAINTRUST_API_URL or, unset, the organization's own."""
    app = s.pick("braintrust_app_url", None, "", "BRAINTRUST_APP_URL")
    if app is None:
        app, s.src["braintrust_app_url"] = DEFAULT_APP_URL, "default (Braintrust's SDKs')"
    api = s.pick("braintrust_api_url", None, "", "BRAINTRUST_API_URL")
    if api is None:
        s.src["braintrust_api_url"] = f"the organization's api_url at login, else {DEFAULT_API_URL}"
    org = s.pick("braintrust_org", None, "", "BRAINTRUST_ORG_NAME")
    if org is None:
        s.src["braintrust_org"] = "the first the API key sees, as Braintrust's SDKs"
    return AttachmentConfig(
        key,
        base_url(app, "BRAINTRUST_APP_URL"),
        base_url(api) if api else None,
        org,
        timeout=export.timeout,
        max_retry_time=export.max_retry_time,
    )


def _service(s: _Sources, flag: str | None) -> tuple[str, tuple[tuple[str, str], ...]]:
    """service.name (--service-name, OTEL_SERVICE_NAME, service.name in
    OTEL_RESOURCE_ATTRIBUTES, the default, in the OTel SDK's order) and the other resource
    attributes (OTEL_RESOURCE_ATTRIBUTES: comma-separated, URL-encoded key=value)."""
    env = s.env.get("OTEL_RESOURCE_ATTRIBUTES")
    attrs = dict(parse_pairs(env, "OTEL_RESOURCE_ATTRIBUTES entry"))
    name = s.pick("service_name", flag, "--service-name", "OTEL_SERVICE_NAME")
    if name is None and "service.name" in attrs:
        name, s.src["service_name"] = attrs["service.name"], "env OTEL_RESOURCE_ATTRIBUTES"
    if name is None:
        name, s.src["service_name"] = default(RunConfig, "service_name"), "default"
    attrs.pop("service.name", None)
    if attrs:
        s.src["resource_attributes"] = "env OTEL_RESOURCE_ATTRIBUTES"
    return name, tuple(sorted(attrs.items()))


def _limits(s: _Sources, max_spans: int | None, max_bytes: int | None) -> BatchLimits:
    return BatchLimits(
        s.flag_or_default(
            "max_batch_spans", max_spans, "--max-batch-spans", BatchLimits().max_spans
        ),
        s.flag_or_default(
            "max_batch_bytes", max_bytes, "--max-batch-bytes", BatchLimits().max_bytes
        ),
    )


def _exporter(s: _Sources, flag: str | None) -> str | None:
    """`--exporter` or `OTEL_TRACES_EXPORTER`, as the SDK reads the variable: an exporter's
    entry-point name; `otlp` (or none, or `none`) keeps realtrace's own OTLP transport."""
    name = s.pick("exporter", flag, "--exporter", "OTEL_TRACES_EXPORTER")
    if name is None:
        return None
    name = name.strip().lower()
    if "," in name:
        raise ConfigError(
            f"{s.src['exporter'].split(' ', 1)[1]}={name!r}: realtrace sends to one exporter "
            "at a time; name one"
        )
    return None if name in ("", "otlp", "none") else name


def exporter_settings(env: Mapping[str, str], name: str) -> tuple[tuple[str, str], ...]:
    """The variables an exporter reads for where it sends (`zipkin_json`:
    OTEL_EXPORTER_ZIPKIN_*): its identity in the state beside its name."""
    prefix = f"OTEL_EXPORTER_{name.split('_')[0].upper()}_"
    return tuple(
        sorted((k, v) for k, v in env.items() if k.startswith(prefix) and k.endswith("ENDPOINT"))
    )


def _destination(
    s: _Sources,
    env: Mapping[str, str],
    export: Mapping[str, Any],
    output: Path,
    dead: Path,
    file_asked: bool = False,
    stdout: bool = False,
) -> Destination:
    """An SDK exporter when one is named; else an OTLP endpoint when one is configured (flag
    or environment), else the output file. Spans the backend refuses go beside `output`, as
    `<stem>.rejected.jsonl`."""
    flags = dict(export)
    name = _exporter(s, flags.pop("exporter", None))
    if name is not None:
        check_numbers(flags.get("timeout"), flags.get("max_retry_time"), flags.get("concurrency"))
        budget = s.flag_or_default(
            "max_retry_time",
            flags.get("max_retry_time"),
            "--max-retry-time",
            default(ExportConfig, "max_retry_time"),
        )
        return ExporterDestination(name, dead, budget, exporter_settings(env, name))
    exp = resolve_export(env, **flags, file_asked=file_asked)
    if exp is None:
        return FileDestination(STDOUT if stdout else output)
    for key, where in exp.sources:
        s.src[key] = where
    return OtlpDestination(exp, dead, output.with_name(output.stem + ".rejected.jsonl"))


def resolve_replay(
    env: Mapping[str, str],
    *,
    file: Path,
    dead_letter: Path | None = None,
    max_batch_spans: int | None = None,
    max_batch_bytes: int | None = None,
    export: Mapping[str, Any] | None = None,
) -> ReplayConfig:
    """Every setting of one `replay`, as for `convert`: flags (None: not given), `env`, defaults."""
    s = _Sources(env)
    limits = _limits(s, max_batch_spans, max_batch_bytes)
    again = s.flag_or_default(
        "dead_letter", dead_letter, "--dead-letter", file.with_name(file.stem + ".retry.jsonl")
    )
    dest = _destination(s, env, export or {}, file, Path(again))
    if dest.dead_letter is None:  # the file: nothing to send to
        raise ConfigError(
            "replay needs a destination: --endpoint, --braintrust, --exporter or "
            "OTEL_EXPORTER_OTLP_ENDPOINT"
        )
    return ReplayConfig(file, dest, limits, tuple(sorted(s.src.items())))


def environ() -> Mapping[str, str]:
    return os.environ
