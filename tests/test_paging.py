"""The page walker, driven by an in-memory page source (it does no I/O of its own), and the
``iter_*`` methods that use it on a MockTransport that misbehaves."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest

from nebius_ft_async import AsyncSession, Page, WireRequest, WireResponse
from nebius_ft_async._paging import iterate_items

from .mocks import mock_session
from .samples import checkpoint_body, event_body, job_body

pytestmark = pytest.mark.anyio


class Item(msgspec.Struct):
    id: str


class Pages:
    """Serves scripted pages and records the (after, size) of each request."""

    def __init__(self, *pages: Page[Item]) -> None:
        self.pages = list(pages)
        self.requests: list[tuple[str | None, int]] = []

    async def __call__(self, after: str | None, size: int) -> Page[Item]:
        self.requests.append((after, size))
        return self.pages.pop(0)


def page(*ids: str, has_more: bool) -> Page[Item]:
    return Page(data=[Item(id) for id in ids], has_more=has_more)


async def collect(pages: Pages, *, page_size: int = 100, limit: int | None = None) -> list[str]:
    return [item.id async for item in iterate_items(pages, page_size=page_size, limit=limit)]


async def test_follows_last_item_id_until_has_more_is_false() -> None:
    pages = Pages(page("a", "b", has_more=True), page("c", has_more=False))
    assert await collect(pages, page_size=2) == ["a", "b", "c"]
    assert pages.requests == [(None, 2), ("b", 2)]


async def test_empty_page_with_has_more_stops() -> None:
    pages = Pages(page("a", has_more=True), page(has_more=True), page("z", has_more=False))
    assert await collect(pages) == ["a"]
    assert len(pages.requests) == 2


async def test_limit_shrinks_the_last_request_and_trims_overfull_pages() -> None:
    pages = Pages(page("a", "b", "c", has_more=True), page("d", "e", "f", "g", has_more=True))
    assert await collect(pages, page_size=3, limit=5) == ["a", "b", "c", "d", "e"]
    assert pages.requests == [(None, 3), ("c", 2)]


async def test_limit_zero_makes_no_request() -> None:
    pages = Pages()
    assert await collect(pages, limit=0) == []
    assert pages.requests == []


async def test_bad_page_size_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="page_size"):
        await collect(Pages(), page_size=0)


async def test_a_cycle_of_cursors_yields_each_item_once_and_stops() -> None:
    pages = Pages(
        page("a", "b", has_more=True),
        page("c", "d", has_more=True),
        page("a", "b", has_more=True),
        page("a", "b", has_more=True),
        page("never", has_more=False),
    )
    assert await collect(pages) == ["a", "b", "c", "d"]
    assert [after for after, _ in pages.requests] == [None, "b", "d", "d"]


async def test_a_page_of_nothing_new_is_asked_for_once_more() -> None:
    pages = Pages(
        page("a", "b", has_more=True),
        page("a", "b", has_more=True),  # a stale answer to after=b
        page("c", has_more=False),
    )
    assert await collect(pages) == ["a", "b", "c"]
    assert [after for after, _ in pages.requests] == [None, "b", "b"]


async def test_a_page_new_items_but_a_cursor_that_does_not_advance_stops() -> None:
    pages = Pages(page("a", "b", has_more=True), page("c", "b", has_more=True))
    assert await collect(pages) == ["a", "b", "c"]
    assert len(pages.requests) == 2


async def test_repeats_inside_one_page_are_skipped() -> None:
    pages = Pages(page("a", "a", "b", "a", has_more=False))
    assert await collect(pages) == ["a", "b"]


async def test_limit_counts_only_yielded_items_and_leaves_room_for_repeats() -> None:
    pages = Pages(
        page("a", "b", "c", "d", has_more=True),
        page("c", "d", "e", has_more=True),  # asked for 3: two repeats, one new
        page("d", "e", "f", "g", has_more=True),  # asked for 2 left + 2 repeats
    )
    assert await collect(pages, page_size=4, limit=7) == ["a", "b", "c", "d", "e", "f", "g"]
    assert pages.requests == [(None, 4), ("d", 3), ("e", 4)]


class Thing(msgspec.Struct):
    id: str
    body: str = ""


async def test_items_without_an_id_are_told_apart_by_their_content() -> None:
    served: list[str | None] = []

    async def fetch(after: str | None, size: int) -> Page[Thing]:
        served.append(after)
        if after is None:
            data = [Thing("", "x"), Thing("", "y"), Thing("", "x")]
            return Page(data=data, has_more=True, last_id="cursor-1")
        return Page(data=[Thing("", "y"), Thing("", "z")], has_more=False)

    bodies = [thing.body async for thing in iterate_items(fetch)]
    assert bodies == ["x", "y", "z"]
    assert served == [None, "cursor-1"]


async def test_items_without_an_id_or_a_cursor_end_the_walk_after_their_page() -> None:
    served: list[str | None] = []

    async def fetch(after: str | None, size: int) -> Page[Thing]:
        served.append(after)
        return Page(data=[Thing("", "x"), Thing("", "y")], has_more=True)

    assert [thing.body async for thing in iterate_items(fetch)] == ["x", "y"]
    assert served == [None]


async def test_a_cursor_from_the_last_item_that_has_an_id() -> None:
    pages = [
        Page(data=[Thing("a"), Thing("b"), Thing("", "x")], has_more=True),
        Page(data=[Thing("", "x"), Thing("c")], has_more=False),
    ]
    served: list[str | None] = []

    async def fetch(after: str | None, size: int) -> Page[Thing]:
        served.append(after)
        return pages.pop(0)

    assert [t.id or t.body async for t in iterate_items(fetch)] == ["a", "b", "x", "c"]
    assert served == [None, "b"]


# -- property-style: random misbehaving servers (seeded, no extra dependency) -------------


class RandomServer:
    """Serves ids 0..n-1 by ``after``, misbehaving at random: overlapping pages (fewer
    repeats than a page holds), repeats of pages already served and, when ``wild``, pages
    from anywhere with ``has_more`` true forever. Unless ``wild``, it never gives two pages
    of nothing new in a row."""

    def __init__(self, seed: int, *, wild: bool) -> None:
        self.rng = random.Random(seed)
        self.n = self.rng.randint(0, 40)
        self.wild = wild
        self.served: set[int] = set()
        self.pages: list[list[int]] = []
        self.stale_before = False
        self.requests = 0

    async def __call__(self, after: str | None, size: int) -> Page[Item]:
        self.requests += 1
        start = 0 if after is None else int(after) + 1
        choice = self.rng.random()
        has_more: bool | None = None
        if self.wild and choice < 0.3:
            first = self.rng.randint(0, max(self.n - 1, 0))
            indices = list(range(first, min(first + size, self.n)))
            has_more = True
        elif self.pages and choice < 0.5 and (self.wild or not self.stale_before):
            indices = self.rng.choice(self.pages)
        elif choice < 0.8 and size > 1:
            back = self.rng.randint(1, size - 1)
            indices = list(range(max(start - back, 0), min(start - back + size, self.n)))
        else:
            indices = list(range(start, min(start + size, self.n)))
        if has_more is None:
            has_more = bool(indices) and indices[-1] + 1 < self.n
        self.stale_before = bool(indices) and self.served.issuperset(indices)
        self.served.update(indices)
        self.pages.append(indices)
        return page(*map(str, indices), has_more=has_more)


@pytest.mark.parametrize("page_size", [1, 2, 3, 7])
async def test_random_servers_that_misbehave_now_and_then_lose_nothing(page_size: int) -> None:
    for seed in range(150):
        server = RandomServer(seed, wild=False)
        ids = [item.id async for item in iterate_items(server, page_size=page_size)]
        assert ids == [str(i) for i in range(server.n)], f"seed {seed}"


@pytest.mark.parametrize("page_size", [1, 2, 3, 7])
async def test_random_servers_with_a_limit_yield_distinct_items_up_to_it(page_size: int) -> None:
    for seed in range(150):
        server = RandomServer(seed, wild=False)
        limit = random.Random(-seed).randint(0, 45)
        ids = [i.id async for i in iterate_items(server, page_size=page_size, limit=limit)]
        assert ids == [str(i) for i in range(min(limit, server.n))], f"seed {seed}"


@pytest.mark.parametrize("page_size", [1, 2, 5])
async def test_random_servers_that_never_stop_cannot_make_the_walk_loop(page_size: int) -> None:
    for seed in range(300):
        server = RandomServer(seed, wild=True)
        ids = [item.id async for item in iterate_items(server, page_size=page_size)]
        assert len(ids) == len(set(ids)), f"seed {seed}"
        assert set(ids) <= {str(i) for i in range(server.n)}, f"seed {seed}"
        assert server.requests <= 2 * server.n + 2, f"seed {seed}"


# -- the iter_* methods against real servers that misbehave -------------------------------

JOB = "ftjob-abc123"
OPERATION = "op-ft"


def _job(index: int) -> dict[str, Any]:
    return job_body(f"ftjob-{index:05d}", status="succeeded", created_at=1767225600 - index)


def _operation_checkpoint(index: int) -> dict[str, Any]:
    return checkpoint_body(index, object="fine_tuning.checkpoint")


KINDS: dict[str, tuple[str, Callable[[int], dict[str, Any]]]] = {
    "events": (f"/v1/fine_tuning/jobs/{JOB}/events", event_body),
    "checkpoints": (f"/v1/fine_tuning/jobs/{JOB}/checkpoints", checkpoint_body),
    "jobs": ("/v1/fine_tuning/jobs", _job),
    "operation_results": (f"/v1/operations/{OPERATION}/results", _operation_checkpoint),
}


def walk(session: AsyncSession, kind: str, **options: Any) -> AsyncIterator[Any]:
    if kind == "events":
        return session.iter_events(JOB, **options)
    if kind == "checkpoints":
        return session.iter_checkpoints(JOB, **options)
    if kind == "jobs":
        return session.iter_jobs(**options)
    return session.iter_operation_results(OPERATION, **options)


Behaviour = Callable[["ListServer", int | None, int], tuple[int, int, bool]]
"""(server, index of the cursor item, limit) -> (first index, past-the-end index, has_more)."""


def repeats_page_one_once(server: ListServer, at: int | None, limit: int) -> tuple[int, int, bool]:
    start = 0 if at is None or len(server.afters) == 2 else at + 1
    return start, start + limit, start + limit < server.count


def cycles_back_to_the_start(
    server: ListServer, at: int | None, limit: int
) -> tuple[int, int, bool]:
    start = 0 if at is None else (at + 1) % server.count
    return start, start + limit, True


def overlaps_by_two(server: ListServer, at: int | None, limit: int) -> tuple[int, int, bool]:
    start = 0 if at is None else max(at + 1 - 2, 0)
    return start, start + limit, start + limit < server.count


def same_full_page_forever(server: ListServer, at: int | None, limit: int) -> tuple[int, int, bool]:
    return 0, limit, True


class ListServer:
    """One list endpoint over ``count`` items, answering ``after``/``limit`` as told."""

    def __init__(self, kind: str, count: int, behaviour: Behaviour) -> None:
        self.path, self.body = KINDS[kind]
        self.ids = [self.body(i)["id"] for i in range(count)]
        self.count = count
        self.behaviour = behaviour
        self.afters: list[str | None] = []
        self.limits: list[int] = []

    def __call__(self, request: WireRequest) -> WireResponse:
        assert request.url.path == self.path
        after = request.url.query.get("after")
        self.afters.append(after)
        self.limits.append(int(request.url.query["limit"]))
        at = None if after is None else self.ids.index(after)
        start, end, has_more = self.behaviour(self, at, int(request.url.query["limit"]))
        data = [self.body(i) for i in range(start, min(end, self.count))]
        return WireResponse.of(json={"object": "list", "data": data, "has_more": has_more})


@dataclass
class Case:
    behaviour: Behaviour
    count: int
    page_size: int
    yielded: list[int]
    afters: list[int | None]  # indices of the cursors the walk asks with


CASES = {
    # page 2 == page 1, then the server goes on properly
    "repeated_page": Case(repeats_page_one_once, 9, 3, list(range(9)), [None, 2, 2, 5]),
    # cursors 2 -> 5 -> 2 (A -> B -> A)
    "cursor_cycle": Case(cycles_back_to_the_start, 6, 3, list(range(6)), [None, 2, 5, 5]),
    # each page starts with the last 2 items of the one before
    "overlapping_pages": Case(overlaps_by_two, 10, 4, list(range(10)), [None, 3, 5, 7]),
    # the same full page with has_more true, whatever the cursor
    "same_page_forever": Case(same_full_page_forever, 4, 4, list(range(4)), [None, 3, 3]),
}


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("case", list(CASES))
async def test_iter_yields_each_item_once_from_a_misbehaving_server(kind: str, case: str) -> None:
    expected = CASES[case]
    server = ListServer(kind, expected.count, expected.behaviour)
    async with mock_session(server) as session:
        ids = [item.id async for item in walk(session, kind, page_size=expected.page_size)]
    assert ids == [server.ids[i] for i in expected.yielded]
    assert server.afters == [None if i is None else server.ids[i] for i in expected.afters]


@pytest.mark.parametrize("kind", list(KINDS))
async def test_iter_with_a_limit_over_overlapping_pages_counts_yielded_items(kind: str) -> None:
    server = ListServer(kind, 10, overlaps_by_two)
    async with mock_session(server) as session:
        ids = [item.id async for item in walk(session, kind, page_size=4, limit=7)]
    assert ids == server.ids[:7]
    # 3 left: [2, 3, 4] brings one; 2 left + 2 repeats: [3, 4, 5, 6] brings the last two
    assert server.afters == [None, server.ids[3], server.ids[4]]
    assert server.limits == [4, 3, 4]
