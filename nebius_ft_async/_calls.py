"""What the layers above the endpoints need of a session, as a ``Protocol``.

The polling helpers and the waits (``_polling``, ``_waits``) are built on a handful of reads;
typing their ``session`` with ``PollingSession`` rather than with the concrete endpoints
keeps the imports one-way: the endpoints offer the waits as methods, and the waits do not
import them back. ``AsyncSession`` satisfies it, and so does anything with these calls.
"""

from typing import Protocol, Unpack

from ._models import CustomModel, FileObject, FineTuningJob, FineTuningJobEvent, Operation, Page
from ._routes import CallOptions


class PollingSession(Protocol):
    """The reads the polling helpers make, and the shortest poll interval they may use."""

    @property
    def min_poll_interval(self) -> float:
        """The shortest ``poll_interval`` a wait accepts with this session."""
        ...

    async def get_job(self, job_id: str, **options: Unpack[CallOptions]) -> FineTuningJob: ...

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
