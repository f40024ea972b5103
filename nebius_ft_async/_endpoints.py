"""Every endpoint of the fine-tuning workflow, as methods of AsyncSession.

Each group of endpoints lives in a module of its own (``_jobs``, ``_operations``,
``_files``) and only describes its calls (``_routes.Call``); the session performs them.
"""

from collections.abc import Callable
from typing import Any

from ._files import FileEndpoints
from ._jobs import JobEndpoints
from ._models import FineTuningJob, Operation
from ._operations import OperationEndpoints


class Endpoints(JobEndpoints, OperationEndpoints, FileEndpoints):
    """Every endpoint, and the waits built on them."""

    async def wait_for_job(
        self,
        job_id: str,
        *,
        poll_interval: float = 5.0,
        timeout: float | None = None,
        on_update: Callable[[FineTuningJob], Any] | None = None,
        poll_timeout: float | None = None,
    ) -> FineTuningJob:
        """Poll a job until it is final and return it; see ``nebius_ft_async.wait_for_job``."""
        from ._polling import wait_for_job  # the polling layer sits above the session

        return await wait_for_job(
            self,
            job_id,
            poll_interval=poll_interval,
            timeout=timeout,
            on_update=on_update,
            poll_timeout=poll_timeout,
        )

    async def wait_for_operation(
        self,
        operation_id: str,
        *,
        poll_interval: float = 5.0,
        timeout: float | None = None,
        on_update: Callable[[Operation], Any] | None = None,
        poll_timeout: float | None = None,
    ) -> Operation:
        """Poll an operation until it is final; see ``nebius_ft_async.wait_for_operation``."""
        from ._polling import wait_for_operation

        return await wait_for_operation(
            self,
            operation_id,
            poll_interval=poll_interval,
            timeout=timeout,
            on_update=on_update,
            poll_timeout=poll_timeout,
        )
