"""Everything the server sent: raw responses, undeclared fields, and pages as sequences."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from nebius_ft_async import (
    AsyncSession,
    FineTuningJob,
    NebiusError,
    NotFoundError,
    Page,
    RawResponse,
    WireRequest,
    WireResponse,
    undeclared_fields,
)
from nebius_ft_async._models import event_page_decoder

from .mocks import Paths, listed, mock_session
from .samples import event_body, job_body

pytestmark = pytest.mark.anyio


def grown_job(job_id: str) -> dict[str, object]:
    """A job as a newer server may send it: fields no model here declares."""
    body = job_body(job_id)
    body["brand_new"] = {"rollout": 3}
    body["hyperparameters"] = {**body.get("hyperparameters", {}), "new_knob": 0.5}
    return body


async def test_a_raw_response_holds_everything_the_server_sent() -> None:
    def get_job(request: WireRequest) -> WireResponse:
        return WireResponse.of(
            json=grown_job(request.url.path.rsplit("/", 1)[1]),
            headers={"X-Request-Id": "req-42", "x-ratelimit-remaining-requests": "99"},
        )

    async with mock_session(get_job) as session:
        response = await session.with_raw_response(session.get_job, "ftjob-grown", timeout=5)
    assert isinstance(response, RawResponse)
    assert response.status == 200
    assert response.request_id == "req-42"
    assert response.headers["X-RateLimit-Remaining-Requests"] == "99"  # any case
    assert (response.method, response.path) == ("GET", "/v1/fine_tuning/jobs/ftjob-grown")
    assert response.route == "/v1/fine_tuning/jobs/{job_id}"
    job = response.parse()
    assert isinstance(job, FineTuningJob) and job.id == "ftjob-grown"
    sent = response.json()
    assert sent["brand_new"] == {"rollout": 3}
    assert msgspec.json.decode(response.content) == sent
    extra = response.undeclared()
    assert extra["brand_new"] == {"rollout": 3}
    assert extra["hyperparameters"] == {"new_knob": 0.5}
    # the sample job also carries two OpenAI-style fields the API documents do not declare
    assert set(extra) == {
        "brand_new",
        "hyperparameters",
        "fine_tuned_model",
        "user_provided_suffix",
    }
    assert "ftjob-grown" in repr(response)


def test_undeclared_fields_of_pages_are_given_item_by_item() -> None:
    declared = [{k: v for k, v in event_body(i).items() if k != "job_id"} for i in (1, 2)]
    body = {
        "object": "list",
        "data": [declared[0], {**declared[1], "shard": 7}],
        "has_more": False,
        "cursor_v2": "abc",
    }
    page = msgspec.json.decode(msgspec.json.encode(body), type=Page[dict[str, object]])
    assert undeclared_fields(page, body) == {"cursor_v2": "abc"}  # dict items declare all
    events = event_page_decoder.decode(msgspec.json.encode(body))
    assert undeclared_fields(events, body) == {"cursor_v2": "abc", "data": [{}, {"shard": 7}]}
    assert undeclared_fields(events.data[0], body["data"][0]) == {}


async def test_errors_are_raised_as_by_the_call_itself(session: AsyncSession) -> None:
    with pytest.raises(NotFoundError, match="ftjob-missing not found"):
        await session.with_raw_response(session.get_job, "ftjob-missing")
    with pytest.raises(ValueError, match="job_id"):
        await session.with_raw_response(session.get_job, "")
    with pytest.raises(NebiusError, match="sent no request"):
        await session.with_raw_response(asyncio.sleep, 0)


async def test_raw_bytes_of_a_file_and_the_last_answer_of_a_wait(
    paths: Paths, session: AsyncSession
) -> None:
    content = {"Content-Type": "application/octet-stream"}
    paths.script("/v1/files/file-1/content", WireResponse.of(body=b"{}\n", headers=content))
    response = await session.with_raw_response(session.file_content, "file-1")
    assert response.parse() == response.content == b"{}\n"
    paths.job("ftjob-w", job_body("ftjob-w"), job_body("ftjob-w", status="succeeded"))
    waited = await session.with_raw_response(session.wait_for_job, "ftjob-w", poll_interval=0.001)
    assert waited.json()["status"] == "succeeded"  # the last answer of the wait
    assert waited.parse().status == "succeeded"
    plain = await session.get_job("ftjob-w")  # nothing captured outside the raw view
    assert plain.id == "ftjob-w"


async def test_an_after_loop_over_last_id_ends_when_the_server_omits_cursors(
    paths: Paths, session: AsyncSession
) -> None:
    events = [event_body(i, "j1") for i in range(25)]
    paths.script("/v1/fine_tuning/jobs/j1/events", listed(events, 20, cursors=False))
    seen: list[str] = []
    after = None
    for _ in range(10):  # a hand-written loop, as users write them
        page = await session.list_events("j1", limit=10, after=after)
        seen += [event.id for event in page]
        if not page.has_more:
            break
        after = page.last_id
    assert len(seen) == len(set(seen)) == 25
    assert len(page) == 5
