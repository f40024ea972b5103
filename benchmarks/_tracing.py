"""A session traced as an application would trace it: ``otel_hooks()`` over the
OpenTelemetry SDK's providers, spans batched to an exporter that drops them, the duration
histogram aggregated in memory. Imported only when the SDK is installed (the ``bench``
extra)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from nebius_ft_async import AsyncSession
from nebius_ft_async.otel import otel_hooks


class _DroppingExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


@asynccontextmanager
async def traced_session(url: str) -> AsyncIterator[AsyncSession]:
    """A session whose every request is a span and a histogram point; the providers are
    shut down (the batch thread stopped) when it closes."""
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(_DroppingExporter()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    hooks = otel_hooks(tracer_provider=tracer_provider, meter_provider=meter_provider)
    try:
        async with AsyncSession("bench-key", base_url=url, hooks=hooks) as session:
            yield session
    finally:
        tracer_provider.shutdown()
        meter_provider.shutdown()
