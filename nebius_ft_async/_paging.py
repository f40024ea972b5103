"""Walking an ``after``/``limit`` paged list, item by item."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol, TypeVar

from ._models import Page

DEFAULT_PAGE_SIZE = 100
"""Items asked for per page by the ``iter_*`` methods."""


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


ItemT = TypeVar("ItemT", bound=_HasId)

FetchPage = Callable[[str | None, int], Awaitable[Page[ItemT]]]
"""Fetches one page given the cursor (``after``) and the page size."""


async def iterate_items(
    fetch_page: FetchPage[ItemT],
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    limit: int | None = None,
    after: str | None = None,
) -> AsyncIterator[ItemT]:
    """Yield every item across pages, each page asked for with ``after`` = the last item's id.

    Stops when ``has_more`` is false, on an empty page, when the cursor does not advance or
    comes back to one already used (so a misbehaving server cannot make it loop forever), and
    after ``limit`` items when a limit is given.
    """
    if page_size < 1:
        raise ValueError(f"page_size must be at least 1, got {page_size}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must not be negative, got {limit}")
    remaining = limit
    cursors_seen = {after}
    while remaining is None or remaining > 0:
        size = page_size if remaining is None else min(page_size, remaining)
        page = await fetch_page(after, size)
        items = page.data if remaining is None else page.data[:remaining]
        for item in items:
            yield item
        if remaining is not None:
            remaining -= len(items)
        if not page.has_more or not page.data:
            return
        after = page.data[-1].id
        if after in cursors_seen:
            return
        cursors_seen.add(after)
