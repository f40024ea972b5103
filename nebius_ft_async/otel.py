"""OpenTelemetry spans and metrics for a session's requests (the optional extra ``otel``).

::

    from nebius_ft_async import AsyncSession
    from nebius_ft_async.otel import otel_hooks

    async with AsyncSession(hooks=otel_hooks()) as session:   # global providers by default
        await session.get_job("ftjob-abc")

Each request on the wire (each attempt, each redirect hop) is a ``CLIENT`` span named
``{method} {route}`` (``GET /v1/fine_tuning/jobs/{job_id}``), as the OpenTelemetry HTTP
client conventions ask, a child of whatever span is current when the call is made. It
carries ``http.request.method``, ``server.address``, ``server.port``, ``url.full``,
``url.template``, ``http.request.resend_count`` (from the second attempt on),
``http.response.status_code`` and, on failure, ``error.type`` (the status, or the error's
class name) with the span's status set to error. The ``http.client.request.duration``
histogram (seconds) records each request with the same low-cardinality attributes (no
``url.full``). Headers are never recorded, so neither is the key.

Each request carries its span's context in its headers (``traceparent``, and whatever else
the global propagator writes: W3C Trace Context and Baggage unless configured otherwise), so
the server's spans can join the trace; ``otel_hooks(propagate_context=False)`` leaves
the headers alone.
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlsplit

from opentelemetry import metrics, propagate, trace
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import SpanKind, Status, StatusCode, TracerProvider

from ._hooks import Hooks, RequestEvent, ResponseEvent
from ._version import __version__

_SCOPE = "nebius_ft_async"
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)


def otel_hooks(
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    propagate_context: bool = True,
) -> Hooks:
    """Hooks that trace every request and record its duration; pass them as
    ``AsyncSession(hooks=...)``. The global providers are used unless others are given.
    ``propagate_context=False`` sends no trace context to the server."""
    tracer = trace.get_tracer(_SCOPE, __version__, tracer_provider=tracer_provider)
    meter = metrics.get_meter(_SCOPE, __version__, meter_provider=meter_provider)
    duration = meter.create_histogram(
        "http.client.request.duration",
        unit="s",
        description="Duration of HTTP client requests.",
        explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
    )

    def request_sent(event: RequestEvent) -> None:
        attributes = _common(event)
        attributes["url.full"] = event.origin + event.path
        if event.attempt > 1:
            attributes["http.request.resend_count"] = event.attempt - 1
        span = tracer.start_span(
            f"{event.method} {event.route}", kind=SpanKind.CLIENT, attributes=attributes
        )
        event.state["otel_span"] = span
        if propagate_context:
            propagate.inject(event.headers, context=trace.set_span_in_context(span))

    def response_received(event: ResponseEvent) -> None:
        attributes = _common(event.request)
        if event.status is not None:
            attributes["http.response.status_code"] = event.status
        if event.error is not None:
            attributes["error.type"] = event.error
        duration.record(event.elapsed, attributes)
        span = event.request.state.pop("otel_span", None)
        if span is None:
            return
        if event.status is not None:
            span.set_attribute("http.response.status_code", event.status)
        if event.error is not None:
            span.set_attribute("error.type", event.error)
            span.set_status(Status(StatusCode.ERROR))
        span.end()

    return Hooks(request_sent=request_sent, response_received=response_received)


def _common(event: RequestEvent) -> dict[str, str | int]:
    address, port = _server(event.origin)
    return {
        "http.request.method": event.method,
        "server.address": address,
        "server.port": port,
        "url.template": event.route,
    }


@lru_cache(maxsize=16)
def _server(origin: str) -> tuple[str, int]:
    """Host and port of an origin (a session has one: parsed once, not per request)."""
    parts = urlsplit(origin)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
