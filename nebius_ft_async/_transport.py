"""The seam between the endpoints and the session: one method that performs a call.

The endpoint modules (``_jobs``, ``_operations``, ``_files``) only describe calls; the
session (``_session``) is the one ``Transport`` that sends them. Nothing here does I/O.
"""

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from ._checks import MIN_POLL_INTERVAL
from ._models import Page
from ._paging import ItemT, iterate_items
from ._routes import Call

T = TypeVar("T")


class Transport(ABC):
    """What every group of endpoints is built on."""

    min_poll_interval: float = MIN_POLL_INTERVAL
    """The shortest ``poll_interval`` the polling helpers accept with this session: 1 s
    against a remote API, so one typo cannot flood it (1 ms on loopback, for tests)."""

    @abstractmethod
    def _perform(self, call: Call[T]) -> Awaitable[T]:
        """Send ``call`` (retried as its route allows) and read its answer."""


def walk(
    list_page: Callable[..., Awaitable[Page[ItemT]]],
    page_size: int,
    limit: int | None,
    after: str | None,
) -> AsyncIterator[ItemT]:
    """Every item of a list, from a ``list_*(limit=, after=)`` method."""

    async def fetch(cursor: str | None, size: int) -> Page[ItemT]:
        return await list_page(limit=size, after=cursor)

    return iterate_items(fetch, page_size=page_size, limit=limit, after=after)
