"""OpenTelemetry tracing for a service: provider, exporter chosen by settings, W3C propagation helpers."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import IO

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from caisse_runtime.settings import TraceExporter

_PROPAGATOR = TraceContextTextMapPropagator()


def _attribute(value: object) -> object:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, tuple | list):
        return [_attribute(v) for v in value]
    return value


def _json_line(span: ReadableSpan) -> str:
    """One span as one JSON line, shaped like the SDK's `to_json` (which fails on bytes attributes)."""
    context = span.get_span_context()
    record = {
        "name": span.name,
        "context": {
            "trace_id": f"0x{context.trace_id:032x}" if context else None,
            "span_id": f"0x{context.span_id:016x}" if context else None,
        },
        "kind": str(span.kind),
        "parent_id": f"0x{span.parent.span_id:016x}" if span.parent else None,
        "start_time": span.start_time,
        "end_time": span.end_time,
        "status": span.status.status_code.name,
        "attributes": {k: _attribute(v) for k, v in (span.attributes or {}).items()},
        "service": (span.resource.attributes.get("service.name") if span.resource else None),
    }
    return json.dumps(record, separators=(",", ":"), default=str) + "\n"


def build_tracer_provider(
    service_name: str,
    exporter: TraceExporter,
    trace_file: str | None = None,
    otlp_endpoint: str | None = None,
) -> TracerProvider:
    """A tracer provider for `service_name`; install it with `trace.set_tracer_provider` at the composition root."""
    # With no exporter nothing would ever read a span: sample none, and pay only for context propagation.
    sampler = ALWAYS_OFF if exporter is TraceExporter.NONE else ParentBased(ALWAYS_ON)
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}), sampler=sampler)
    span_exporter: SpanExporter | None = None
    if exporter is TraceExporter.OTLP:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: PLC0415

        span_exporter = OTLPSpanExporter(endpoint=otlp_endpoint) if otlp_endpoint else OTLPSpanExporter()
        provider.add_span_processor(BatchSpanProcessor(span_exporter))
    elif exporter is TraceExporter.CONSOLE:
        out: IO[str] = open(trace_file, "a", encoding="utf-8", buffering=1) if trace_file else sys.stderr  # noqa: SIM115
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=out, formatter=_json_line)))
    return provider


def current_traceparent() -> tuple[str | None, str | None]:
    """The W3C traceparent and tracestate of the current span, to store beside an outbox row."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent"), carrier.get("tracestate")


def context_from(traceparent: str | None, tracestate: str | None = None) -> Context:
    carrier: dict[str, str] = {}
    if traceparent:
        carrier["traceparent"] = traceparent
    if tracestate:
        carrier["tracestate"] = tracestate
    return _PROPAGATOR.extract(carrier)


def inject_into(headers: dict[str, str], context: Context | None = None) -> Mapping[str, str]:
    _PROPAGATOR.inject(headers, context=context)
    return headers


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)
