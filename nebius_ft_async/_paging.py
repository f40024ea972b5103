"""Walking an ``after``/``limit`` paged list, item by item."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol, TypeVar

import msgspec

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

    No item is yielded twice in one walk: the ids yielded so far are remembered (one string
    per item) and an item whose id was already yielded is skipped, so a server that repeats
    a page, overlaps pages or cycles its cursors gives each item once. A page that starts
    with items already seen and goes on with new ones yields the new ones. An item with an
    empty ``id`` is recognised by its whole content instead (an identical copy is the same
    item); one that cannot be encoded is never taken for another. ``limit`` counts only the
    items actually yielded; once it is near, a page is asked for with room for as many
    repeats as the page before had, so overlapping pages still bring the items left.

    The walk ends when ``has_more`` is false, on an empty page, after ``limit`` items, when
    the next cursor does not advance or comes back to one already used, and when two pages
    in a row bring nothing new. A page of nothing new is not the end by itself: the same
    cursor is asked for once more, so a server that answers one request with a page it
    already gave (a stale replica, a cursor ignored once) and then goes on properly loses
    nothing. A second page of nothing new ends the walk, so a server that repeats itself
    costs one extra request and cannot make the walk loop: of any two requests in a row at
    least one yields a new item, and each of those moves the cursor to an id never used as
    a cursor before or ends the walk, so a walk asks for at most about twice as many pages
    as the list has distinct ids.
    """
    if page_size < 1:
        raise ValueError(f"page_size must be at least 1, got {page_size}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must not be negative, got {limit}")
    remaining = limit
    cursors_seen = {after}
    seen: set[str | bytes] = set()
    repeated = 0  # items of the last page already yielded: the next page may repeat as many
    stale_before = False
    while remaining is None or remaining > 0:
        size = page_size if remaining is None else min(page_size, remaining + repeated)
        page = await fetch_page(after, size)
        fresh = False
        repeated = 0
        for item in page.data:
            key = _key(item)
            if key is not None:
                if key in seen:
                    repeated += 1
                    continue
                seen.add(key)
            fresh = True
            yield item
            if remaining is not None:
                remaining -= 1
                if remaining == 0:
                    return
        if not page.has_more or not page.data:
            return
        if not fresh:
            if stale_before:
                return
            stale_before = True
            continue  # ask for the same cursor once more
        stale_before = False
        next_cursor = _cursor_after(page)
        if next_cursor is None or next_cursor in cursors_seen:
            return
        after = next_cursor
        cursors_seen.add(after)


def _key(item: _HasId) -> str | bytes | None:
    """What tells an item apart: its id, else its encoded content, else nothing (``None``)."""
    if item.id:
        return item.id
    try:
        return msgspec.json.encode(item)
    except (TypeError, msgspec.EncodeError):
        return None


def _cursor_after(page: Page[ItemT]) -> str | None:
    """The ``after`` for the page that follows: its last item's id, else the page's
    ``last_id``, else the id of the last item that has one (the next page then overlaps
    this one, which costs nothing but a repeat that is skipped)."""
    if page.data[-1].id:
        return page.data[-1].id
    if page.last_id:
        return page.last_id
    return next((item.id for item in reversed(page.data) if item.id), None)
