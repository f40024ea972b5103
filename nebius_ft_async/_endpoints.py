"""Every endpoint of the fine-tuning workflow, as methods of AsyncSession.

Each group of endpoints lives in a module of its own (``_jobs``, ``_operations``,
``_files``, ``_datasets``, ``_dataset_upload``) and only describes its calls
(``_routes.Call``); the session performs them.
"""

from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from ._custom_models import CustomModelEndpoints
from ._dataset_upload import DatasetUploads
from ._errors import NebiusError
from ._files import FileEndpoints
from ._jobs import JobEndpoints
from ._models import CustomModel, FileObject, FineTuningJob, Operation
from ._operations import OperationEndpoints
from ._polling import wait_for_job, wait_for_operation
from ._raw import Exchange, RawResponse, captured
from ._waits import wait_for_file, wait_for_model

P = ParamSpec("P")
T = TypeVar("T")


class Endpoints(
    JobEndpoints,
    OperationEndpoints,
    FileEndpoints,
    CustomModelEndpoints,
    DatasetUploads,
):
    """Every endpoint, and the waits built on them."""

    async def with_raw_response(
        self, method: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> RawResponse[T]:
        """Call an endpoint ``method`` of this session and return what the server answered
        (status, headers, request id, body, every field as JSON) along with its result.

        ::

            response = await session.with_raw_response(session.get_job, "ftjob-abc")
            print(response.request_id, response.json().get("tags"))
            job = response.parse()

        For a call that sends more than one request (a wait, say), the last answer is kept.
        Errors are raised as by the method itself (an ``APIStatusError`` carries its own
        status, body and request id).
        """
        answers: list[Exchange] = []
        token = captured.set(answers)
        try:
            result = await method(*args, **kwargs)
        finally:
            captured.reset(token)
        if not answers:
            name = getattr(method, "__name__", repr(method))
            raise NebiusError(f"{name} sent no request to this session: nothing to show")
        return RawResponse(answers[-1], result)

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
        return await wait_for_file(
            self,
            file_id,
            poll_interval=poll_interval,
            timeout=timeout,
            on_update=on_update,
            poll_timeout=poll_timeout,
        )
