"""Hooks on the request path, and the OpenTelemetry spans and metrics built on them."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from nebius_ft_async import (
    APIConnectionError,
    AsyncSession,
    Hooks,
    NotFoundError,
    RequestEvent,
    ResponseEvent,
    RetryEvent,
    WireResponse,
)
from nebius_ft_async.otel import otel_hooks

from .conftest import API_KEY, RecordedSleeps
from .mocks import LOOPBACK, Paths, mock_session
from .samples import job_body

pytestmark = pytest.mark.anyio

UNAVAILABLE = WireResponse.of(503, json={"detail": "try later"})


class Recorder:
    def __init__(self) -> None:
        self.sent: list[RequestEvent] = []
        self.received: list[ResponseEvent] = []
        self.retries: list[RetryEvent] = []

    def hooks(self) -> Hooks:
        return Hooks(
            request_sent=self.sent.append,
            response_received=self.received.append,
            retry_scheduled=self.retries.append,
        )


async def test_hooks_see_each_attempt_its_answer_and_the_retry(
    paths: Paths, sleeps: RecordedSleeps
) -> None:
    paths.job("ftjob-h", UNAVAILABLE, job_body("ftjob-h"))
    recorder = Recorder()
    async with mock_session(paths, sleeps, base_url=LOOPBACK, hooks=recorder.hooks()) as session:
        await session.get_job("ftjob-h")
    assert [(e.method, e.route, e.path, e.attempt) for e in recorder.sent] == [
        ("GET", "/v1/fine_tuning/jobs/{job_id}", "/v1/fine_tuning/jobs/ftjob-h", 1),
        ("GET", "/v1/fine_tuning/jobs/{job_id}", "/v1/fine_tuning/jobs/ftjob-h", 2),
    ]
    assert recorder.sent[0].origin == LOOPBACK
    assert [(e.status, e.error) for e in recorder.received] == [(503, "503"), (200, None)]
    assert [e.request for e in recorder.received] == recorder.sent
    assert all(e.elapsed >= 0 for e in recorder.received)
    [retry] = recorder.retries
    assert (retry.attempt, retry.error, retry.route) == (1, "HTTP 503", recorder.sent[0].route)
    assert retry.wait == sleeps.waits[0]


async def test_a_failure_without_an_answer_is_received_with_its_error_name() -> None:
    recorder = Recorder()
    async with AsyncSession(
        API_KEY, base_url="http://127.0.0.1:9", max_retries=0, hooks=recorder.hooks()
    ) as session:
        with pytest.raises(APIConnectionError):
            await session.get_job("ftjob-x")
    [received] = recorder.received
    assert (received.status, received.error) == (None, "APIConnectionError")


async def test_a_hook_that_raises_is_logged_and_the_call_goes_on(
    paths: Paths, caplog: pytest.LogCaptureFixture
) -> None:
    paths.job("ftjob-h", job_body("ftjob-h"))

    def broken(event: RequestEvent) -> None:
        raise RuntimeError("metrics backend down")

    counted: list[ResponseEvent] = []
    hooks = [Hooks(request_sent=broken), Hooks(response_received=counted.append)]
    with caplog.at_level(logging.WARNING, logger="nebius_ft_async"):
        async with mock_session(paths, base_url=LOOPBACK, hooks=hooks) as session:
            job = await session.get_job("ftjob-h")
    assert job.id == "ftjob-h"
    assert len(counted) == 1
    assert "metrics backend down" in caplog.text
    assert API_KEY not in caplog.text
    with pytest.raises(TypeError, match="hooks must be Hooks"):
        AsyncSession(API_KEY, hooks=[print])  # type: ignore[list-item]


async def test_opentelemetry_spans_and_durations_follow_the_http_conventions(
    paths: Paths, sleeps: RecordedSleeps
) -> None:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    paths.job("ftjob-t", UNAVAILABLE, job_body("ftjob-t"))
    hooks = otel_hooks(tracer_provider=tracer_provider, meter_provider=meter_provider)
    tracer = tracer_provider.get_tracer("app")
    async with mock_session(paths, sleeps, base_url=LOOPBACK, hooks=hooks) as session:
        with tracer.start_as_current_span("handle request") as parent:
            await session.get_job("ftjob-t")
            with pytest.raises(NotFoundError, match="HTTP 404"):
                await session.get_job("ftjob-missing")
    finished = [span for span in spans.get_finished_spans() if span.name != "handle request"]
    assert [span.name for span in finished] == ["GET /v1/fine_tuning/jobs/{job_id}"] * 3
    first, retried, missing = finished
    assert all(span.kind is SpanKind.CLIENT for span in finished)
    assert all(span.parent is not None for span in finished)
    assert {span.parent.span_id for span in finished if span.parent} == {
        parent.get_span_context().span_id
    }
    port = int(LOOPBACK.rsplit(":", 1)[1])
    assert dict(first.attributes or {}) == {
        "http.request.method": "GET",
        "server.address": "127.0.0.1",
        "server.port": port,
        "url.full": f"{LOOPBACK}/v1/fine_tuning/jobs/ftjob-t",
        "url.template": "/v1/fine_tuning/jobs/{job_id}",
        "http.response.status_code": 503,
        "error.type": "503",
    }
    assert first.status.status_code is StatusCode.ERROR
    assert retried.attributes is not None
    assert retried.attributes["http.request.resend_count"] == 1
    assert retried.attributes["http.response.status_code"] == 200
    assert "error.type" not in retried.attributes
    assert retried.status.status_code is StatusCode.UNSET
    assert missing.attributes is not None and missing.attributes["error.type"] == "404"
    for span in finished:
        assert API_KEY not in str(dict(span.attributes or {}))

    data = reader.get_metrics_data()
    assert data is not None
    [metric] = [
        metric
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "http.client.request.duration"
    ]
    assert metric.unit == "s"
    points = {
        (point.attributes or {}).get("http.response.status_code"): point.count
        for point in metric.data.data_points  # type: ignore[attr-defined]
    }
    assert points == {503: 1, 200: 1, 404: 1}


async def test_a_request_sent_hook_adds_headers_but_never_the_ones_the_session_sets(
    paths: Paths, caplog: pytest.LogCaptureFixture
) -> None:
    paths.job("ftjob-h", job_body("ftjob-h"))

    def tag(event: RequestEvent) -> None:
        event.headers["x-trace-tag"] = f"attempt-{event.attempt}"
        event.headers["Authorization"] = "Bearer stolen"
        event.headers["x-broken"] = "a\r\nb"

    with caplog.at_level(logging.WARNING, logger="nebius_ft_async"):
        async with mock_session(paths, base_url=LOOPBACK, hooks=Hooks(request_sent=tag)) as s:
            job = await s.get_job("ftjob-h")
    assert job.id == "ftjob-h"
    [seen] = paths.seen
    assert seen.all_headers["x-trace-tag"] == "attempt-1"
    assert seen.all_headers["Authorization"] == f"Bearer {API_KEY}"
    assert "x-broken" not in seen.all_headers
    assert "must not set Authorization" in caplog.text
    assert "x-broken" in caplog.text
    assert "stolen" not in caplog.text and API_KEY not in caplog.text


async def test_opentelemetry_sends_each_requests_span_as_its_traceparent(
    paths: Paths, sleeps: RecordedSleeps
) -> None:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    paths.job("ftjob-t", UNAVAILABLE, job_body("ftjob-t"))
    hooks = otel_hooks(tracer_provider=tracer_provider, meter_provider=MeterProvider())
    async with mock_session(paths, sleeps, base_url=LOOPBACK, hooks=hooks) as session:
        with tracer_provider.get_tracer("app").start_as_current_span("handle request"):
            await session.get_job("ftjob-t")
    finished = [span for span in spans.get_finished_spans() if span.kind is SpanKind.CLIENT]
    sent = [seen.all_headers["traceparent"] for seen in paths.seen]
    assert sent == [
        f"00-{span.context.trace_id:032x}-{span.context.span_id:016x}-"
        f"{int(span.context.trace_flags):02x}"
        for span in finished
    ]
    assert len(set(sent)) == 2  # each attempt its own span, one trace

    quiet = otel_hooks(tracer_provider=tracer_provider, propagate_context=False)
    async with mock_session(paths, base_url=LOOPBACK, hooks=quiet) as session:
        await session.get_job("ftjob-t")
    assert "traceparent" not in paths.seen[-1].all_headers


def test_importing_the_library_loads_no_optional_extra() -> None:
    code = (
        "import sys, nebius_ft_async\n"
        "print(sorted({m.partition('.')[0] for m in sys.modules} & "
        "{'opentelemetry', 'rich', 'mcp', 'redis', 'pydantic'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
