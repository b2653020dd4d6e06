"""SDK: any OpenTelemetry `SpanExporter` as a destination (`--exporter NAME`,
`OTEL_TRACES_EXPORTER=NAME`), found as the OpenTelemetry SDK finds one.

Exporter packages register their class under the `opentelemetry_traces_exporter` entry
points (`console` and `otlp_proto_*` ship with the SDK and the OTLP exporters realtrace
depends on; `zipkin_json` with `opentelemetry-exporter-zipkin-json`; Azure Monitor and
vendors' packages likewise). The class is made with no arguments, so it reads its own
environment variables exactly as under the SDK (`OTEL_EXPORTER_ZIPKIN_ENDPOINT`, …).

realtrace's spans, already encoded as OTLP protobuf for the dead letter and the state,
are handed over as SDK `ReadableSpan`s with their original trace and span ids, parents,
times, kinds, status, events, resource and scope: the same trace as the OTLP output. The
exporter is one sender of the usual chain (`ExporterSender`): `SUCCESS` delivers,
`FAILURE` is retried within the run's budget, an exporter that raises fails its batch
(dead letter), never the run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib.metadata import entry_points
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as ResourcePb
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanPb
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from pipeline.encode import SCOPE_NAME
from pipeline.errors import ConfigError, PermanentExportError, RetryableExportError
from pipeline.send.chain import Outcome, Payload
from pipeline.version import __version__

GROUP = "opentelemetry_traces_exporter"


def installed() -> list[str]:
    """The exporter names installed (entry points of the SDK's group), sorted."""
    return sorted({e.name for e in entry_points(group=GROUP)})


def load(name: str) -> type[SpanExporter]:
    """The exporter class registered as `name`, or a ConfigError naming those installed."""
    found = [e for e in entry_points(group=GROUP) if e.name == name]
    if not found:
        raise ConfigError(
            f"--exporter {name!r}: no such OpenTelemetry trace exporter is installed "
            f"(installed: {', '.join(installed()) or 'none'}); `otlp` is realtrace's own OTLP"
        )
    try:
        cls: type[SpanExporter] = found[0].load()
    except Exception as exc:  # a broken plug-in: say which, never a traceback
        raise ConfigError(f"--exporter {name!r} could not be loaded: {exc}") from None
    return cls


def _value(v: AnyValue) -> Any:
    """An OTLP attribute value as the SDK holds one (a primitive or a tuple of them)."""
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return tuple(_value(x) for x in v.array_value.values)
    if kind == "kvlist_value":
        return json.dumps({kv.key: _value(kv.value) for kv in v.kvlist_value.values})
    if kind == "bytes_value":
        return v.bytes_value.hex()
    return getattr(v, kind) if kind else None


def _attrs(kvs: Sequence[KeyValue]) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in kvs}


def readable_spans(payload: Payload) -> list[ReadableSpan]:
    """The payload's OTLP spans as SDK spans, ids, parents and times as they are."""
    res = ResourcePb()
    res.CopyFrom(payload.resource)
    resource = Resource(_attrs(res.attributes))
    scope = InstrumentationScope(SCOPE_NAME, __version__)
    flags = TraceFlags(TraceFlags.SAMPLED)
    out = []
    for raw in payload.spans:
        sp = SpanPb.FromString(raw)
        trace = int.from_bytes(sp.trace_id, "big")
        parent = (
            SpanContext(trace, int.from_bytes(sp.parent_span_id, "big"), False, flags)
            if sp.parent_span_id
            else None
        )
        code = StatusCode(sp.status.code) if sp.status.code in (0, 1, 2) else StatusCode.UNSET
        out.append(
            ReadableSpan(
                name=sp.name,
                context=SpanContext(trace, int.from_bytes(sp.span_id, "big"), False, flags),
                parent=parent,
                resource=resource,
                attributes=_attrs(sp.attributes),
                events=[Event(e.name, _attrs(e.attributes), e.time_unix_nano) for e in sp.events],
                kind=SpanKind(max(sp.kind - 1, 0)),  # OTLP counts UNSPECIFIED as 0
                status=Status(code, sp.status.message or None)
                if code == StatusCode.ERROR
                else Status(code),
                start_time=sp.start_time_unix_nano,
                end_time=sp.end_time_unix_nano,
                instrumentation_scope=scope,
            )
        )
    return out


class ExporterSender:
    """One `export` call of an SDK exporter: SUCCESS delivers the batch, FAILURE is a
    retryable failure (the retry sender above tries again within the budget), an exception
    fails the batch for good (to the dead letter)."""

    def __init__(self, exporter: SpanExporter, name: str) -> None:
        self.exporter = exporter
        self.name = name

    def send(self, payload: Payload) -> Outcome:
        try:
            result = self.exporter.export(readable_spans(payload))
        except Exception as exc:
            error = PermanentExportError(
                f"exporter {self.name} raised {type(exc).__name__}: {str(exc)[:200]}"
            )
            return Outcome.failure(payload, error, requests=1)
        if result == SpanExportResult.SUCCESS:
            return Outcome(delivered=len(payload.spans), requests=1)
        retry = RetryableExportError(f"exporter {self.name} returned {result.name}")
        return Outcome.failure(payload, retry, requests=1)
