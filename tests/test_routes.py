"""The route table: one list of what the client calls, served in full by the fake."""

from __future__ import annotations

import asyncio

import pytest

from nebius_ft_async._routes import ROUTES, UPLOAD_DATASET_PART
from nebius_ft_async._slots import Slots
from nebius_ft_async.testing import FakeTokenFactory

pytestmark = pytest.mark.anyio


def test_the_fake_serves_every_route_the_client_calls() -> None:
    app = FakeTokenFactory()._app()
    served = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None
    }
    called = {(route.method, route.template) for route in ROUTES}
    assert called <= served, called - served


def test_reads_are_retried_and_writes_only_when_they_cannot_have_acted() -> None:
    for route in ROUTES:
        assert route.template.startswith(("/v1/", "/v0/models"))  # custom models are /v0
        # a dataset part sent twice is harmless: only the ids given to complete are assembled
        repeatable = route.method == "GET" or route is UPLOAD_DATASET_PART
        assert route.idempotent == repeatable, route


async def test_slots_serve_waiters_in_turn_and_a_deadline_ends_a_wait() -> None:
    slots = Slots(1)
    assert slots.try_take()
    assert not slots.try_take()
    order: list[str] = []

    async def wait(name: str) -> None:
        await slots.take(None)
        order.append(name)

    first = asyncio.create_task(wait("first"))
    second = asyncio.create_task(wait("second"))
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    with pytest.raises(TimeoutError):
        await slots.take(loop.time() + 0.01)  # queued behind the others, then gives up
    slots.give_back()
    await first
    assert order == ["first"]
    slots.give_back()
    await second
    assert order == ["first", "second"]
    slots.give_back()
    assert slots.try_take()  # the one that timed out left nothing behind in the queue


async def test_a_slot_handed_to_a_cancelled_waiter_passes_on() -> None:
    slots = Slots(1)
    assert slots.try_take()
    cancelled = asyncio.create_task(slots.take(None))
    after = asyncio.create_task(slots.take(None))
    await asyncio.sleep(0)
    slots.give_back()  # hands the slot to the first waiter...
    cancelled.cancel()  # ...which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    await after  # the slot went on to the next waiter
    assert not slots.try_take()
    slots.give_back()
    assert slots.try_take()
