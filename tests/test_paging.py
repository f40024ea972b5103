"""The page walker, driven by an in-memory page source (it does no I/O of its own)."""

from __future__ import annotations

import msgspec
import pytest

from nebius_ft_async import Page
from nebius_ft_async._paging import iterate_items

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


async def collect(pages: Pages, **options: int) -> list[str]:
    return [item.id async for item in iterate_items(pages, **options)]


async def test_follows_last_item_id_until_has_more_is_false() -> None:
    pages = Pages(page("a", "b", has_more=True), page("c", has_more=False))
    assert await collect(pages, page_size=2) == ["a", "b", "c"]
    assert pages.requests == [(None, 2), ("b", 2)]


async def test_empty_page_with_has_more_stops() -> None:
    pages = Pages(page("a", has_more=True), page(has_more=True), page("z", has_more=False))
    assert await collect(pages) == ["a"]
    assert len(pages.requests) == 2


async def test_cursor_coming_back_stops() -> None:
    pages = Pages(
        page("a", "b", has_more=True),
        page("c", "d", has_more=True),
        page("a", "b", has_more=True),
        page("never", has_more=False),
    )
    assert await collect(pages) == ["a", "b", "c", "d", "a", "b"]
    assert len(pages.requests) == 3


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
