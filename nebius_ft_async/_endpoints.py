"""Every endpoint of the fine-tuning workflow, as methods of AsyncSession.

Each group of endpoints lives in a module of its own (``_jobs``, ``_operations``,
``_files``) and only describes its calls (``_routes.Call``); the session performs them.
"""

from collections.abc import Callable
from typing import Any

from ._custom_models import CustomModelEndpoints
from ._files import FileEndpoints
from ._jobs import JobEndpoints
from ._models import CustomModel, FileObject, FineTuningJob, Operation
from ._operations import OperationEndpoints


class Endpoints(
    JobEndpoints,
    OperationEndpoints,
    FileEndpoints,
    CustomModelEndpoints,
):
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

    async def wait_for_model(
        self,
        name: str,
        *,
        poll_interval: float = 5.0,
        timeout: float | None = None,
        on_update: Callable[[CustomModel], Any] | None = None,
        poll_timeout: float | None = None,
    ) -> CustomModel:
        """Poll a custom model until it is active; see ``nebius_ft_async.wait_for_model``."""
        from ._waits import wait_for_model

        return await wait_for_model(
            self,
            name,
            poll_interval=poll_interval,
            timeout=timeout,
            on_update=on_update,
            poll_timeout=poll_timeout,
        )

    async def wait_for_file(
        self,
        file_id: str,
        *,
        poll_interval: float = 5.0,
        timeout: float | None = None,
        on_update: Callable[[FileObject], Any] | None = None,
        poll_timeout: float | None = None,
    ) -> FileObject:
        """Poll an uploaded file until it is processed; see ``nebius_ft_async.wait_for_file``."""
        from ._waits import wait_for_file

        return await wait_for_file(
            self,
            file_id,
            poll_interval=poll_interval,
            timeout=timeout,
            on_update=on_update,
            poll_timeout=poll_timeout,
        )
