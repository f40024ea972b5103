"""Operations: long-running work the API tracks (``/v1/operations``)."""

from collections.abc import AsyncIterator
from typing import Unpack

from ._calls import CallPerformer, walk
from ._models import (
    DatasetFileResult,
    FineTuningCheckpoint,
    Operation,
    Page,
    operation_results_from,
)
from ._paging import DEFAULT_PAGE_SIZE
from ._routes import (
    GET_OPERATION,
    GET_OPERATION_ERRORS,
    GET_OPERATION_RESULTS,
    LIST_OPERATIONS,
    Call,
    CallOptions,
)
from ._urls import page_query, path_segment


def operation_path(operation_id: str) -> str:
    return f"/v1/operations/{path_segment(operation_id, 'operation_id')}"


class OperationEndpoints(CallPerformer):
    """Operations: get, list, their errors and results."""

    async def get_operation(self, operation_id: str, **options: Unpack[CallOptions]) -> Operation:
        """One operation: ``GET /v1/operations/{operation_id}``."""
        return await self._perform(Call(GET_OPERATION, operation_path(operation_id), **options))

    async def list_operations(
        self,
        *,
        limit: int | None = None,
        cursor_time: str | None = None,
        **options: Unpack[CallOptions],
    ) -> Page[Operation]:
        """Recent operations: ``GET /v1/operations``.

        ``cursor_time`` is the API's ISO 8601 pagination cursor; the API documents no
        ``has_more``, so ``Page.has_more`` stays false.
        """
        path = "/v1/operations" + page_query(limit, None, cursor_time=cursor_time)
        return await self._perform(Call(LIST_OPERATIONS, path, **options))

    async def get_operation_errors(
        self, operation_id: str, **options: Unpack[CallOptions]
    ) -> list[str]:
        """Why an operation failed: ``GET /v1/operations/{operation_id}/errors``."""
        errors = await self._perform(
            Call(GET_OPERATION_ERRORS, operation_path(operation_id) + "/errors", **options)
        )
        return errors.data

    async def get_operation_results(
        self,
        operation_id: str,
        *,
        limit: int | None = None,
        after: str | None = None,
        **options: Unpack[CallOptions],
    ) -> Page[FineTuningCheckpoint] | DatasetFileResult:
        """What an operation produced: ``GET /v1/operations/{operation_id}/results``.

        A page of checkpoints for a fine-tuning operation, or a ``DatasetFileResult`` with the
        output ``file_id`` for a dataset-to-file operation.
        """
        path = operation_path(operation_id) + "/results" + page_query(limit, after)
        body = await self._perform(Call(GET_OPERATION_RESULTS, path, **options))
        return operation_results_from(body)

    def iter_operation_results(
        self,
        operation_id: str,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        after: str | None = None,
    ) -> AsyncIterator[FineTuningCheckpoint]:
        """Every checkpoint a fine-tuning operation produced, across pages.

        Raises ``ValueError`` if the operation is a dataset-to-file one (it has a
        ``file_id``, not checkpoints; use ``get_operation_results``).
        """

        async def checkpoint_page(*, limit: int, after: str | None) -> Page[FineTuningCheckpoint]:
            result = await self.get_operation_results(operation_id, limit=limit, after=after)
            if isinstance(result, DatasetFileResult):
                raise ValueError(
                    f"operation {operation_id} is a dataset-to-file operation; its result is "
                    f"file {result.file_id}, not checkpoints"
                )
            return result

        return walk(checkpoint_page, page_size, limit, after)
