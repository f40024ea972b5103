"""The seams around the endpoints, so imports run one way.

Below them, ``CallPerformer``: the endpoint modules (``_jobs``, ``_operations``, ``_files``,
...) only describe calls (``_routes.Call``), and the session is the one ``CallPerformer``
that sends them. Above them, ``PollingSession``: the polling helpers, the waits, fleet
refresh and the monitor (``_polling``, ``_waits``, ``_fleet``, ``_monitor``) are built on
a handful of reads, and typing their ``session``
with this ``Protocol`` rather than with the concrete endpoints lets the endpoints offer the
waits as methods without the waits importing them back. Nothing here does I/O.
"""

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol, TypeVar, Unpack

from ._checks import MIN_POLL_INTERVAL
from ._models import CustomModel, FileObject, FineTuningJob, FineTuningJobEvent, Operation, Page
from ._paging import ItemT, iterate_items
from ._routes import Call, CallOptions

T = TypeVar("T")


class Performer(Protocol):
    """What sends a call and gives back its decoded answer."""

    def __call__(self, call: Call[T], /) -> Awaitable[T]: ...


class CallPerformer(ABC):
    """What every group of endpoints is built on: one method that performs a call."""

    min_poll_interval: float = MIN_POLL_INTERVAL
    """The shortest ``poll_interval`` the polling helpers accept with this session: 1 s
    against a remote API, so one typo cannot flood it (1 ms on loopback, for tests)."""

    @property
    @abstractmethod
    def ai_project_id(self) -> str | None:
        """The AI Studio project that creating and listing work within (``None``: the
        account's default)."""

    _perform: "Performer"
    """Sends a call (retried as its route allows) and reads its answer: set by the session."""


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


class PollingSession(Protocol):
    """The reads the polling helpers, the waits, fleet refresh and the monitor make, and the
    shortest poll interval they may use."""

    @property
    def min_poll_interval(self) -> float:
        """The shortest ``poll_interval`` a wait accepts with this session."""
        ...

    async def get_job(self, job_id: str, **options: Unpack[CallOptions]) -> FineTuningJob: ...

    async def list_jobs(
        self,
        *,
        limit: int | None = None,
        after: str | None = None,
        **options: Unpack[CallOptions],
    ) -> Page[FineTuningJob]: ...

    async def list_events(
        self,
        job_id: str,
        *,
        limit: int | None = None,
        after: str | None = None,
        **options: Unpack[CallOptions],
    ) -> Page[FineTuningJobEvent]: ...

    async def get_operation(
        self, operation_id: str, **options: Unpack[CallOptions]
    ) -> Operation: ...

    async def get_model(self, name: str, **options: Unpack[CallOptions]) -> CustomModel: ...

    async def get_file(self, file_id: str, **options: Unpack[CallOptions]) -> FileObject: ...
