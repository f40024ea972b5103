"""Waits for a deployed custom model and for an uploaded file, on the polling machinery of
``_polling``: the same deadline, ``on_update``, transient-failure and cancellation rules as
``wait_for_job``. Unlike a job, a model that ends in ``error`` and a file whose processing
failed are raised: there is nothing else to return.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._calls import PollingSession
from ._errors import FileProcessingError, ModelDeploymentError
from ._models import CustomModel, FileObject, ModelStatus
from ._polling import (
    DEFAULT_POLL_INTERVAL,
    WaitState,
    poll_options,
    poll_until_final,
    timeout_error,
)


async def wait_for_model(
    session: PollingSession,
    name: str,
    *,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    timeout: float | None = None,
    on_update: Callable[[CustomModel], Any] | None = None,
    poll_timeout: float | None = None,
) -> CustomModel:
    """Poll a custom model until it is ``active`` and return it.

    ::

        model = await session.create_model_from_checkpoint(job, name="support-bot")
        model = await wait_for_model(session, model.name, timeout=1800)

    A model in ``error`` (or ``deleted`` meanwhile) raises ``ModelDeploymentError`` with the
    server's ``status_reason``; a status this library does not know is waited through. The
    rest is as in ``wait_for_job``: the first poll is immediate, then every
    ``poll_interval`` (±10%); ``on_update`` (plain or async) is called when the status or
    its reason changes; transient failures keep the wait going, permanent ones are raised;
    ``timeout`` raises ``WaitTimeout`` with the last model seen in ``.model``; each poll
    gives up after ``poll_timeout``; cancelling the caller stops it at once.
    """
    options = poll_options(session, poll_interval, timeout, poll_timeout)
    watch: WaitState[CustomModel] = WaitState("model", name)

    async def poll() -> CustomModel:
        model = await session.get_model(name, timeout=options.poll_timeout)
        return await watch.record(model, (model.status, model.status_reason), on_update)

    model = await poll_until_final(poll, name, options)
    if model is None:
        raise timeout_error(watch, options.timeout)
    if model.status != ModelStatus.ACTIVE:
        raise ModelDeploymentError(model)
    return model


async def wait_for_file(
    session: PollingSession,
    file_id: str,
    *,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    timeout: float | None = None,
    on_update: Callable[[FileObject], Any] | None = None,
    poll_timeout: float | None = None,
) -> FileObject:
    """Poll an uploaded file until the server has processed it, and return it.

    The file is done when its ``status`` is ``processed`` (or it has none); ``error``
    raises ``FileProcessingError`` with the server's ``status_details``; any other status
    (``uploaded``, ...) is waited through. ``on_update`` is called when the status or its
    details change; the other rules are those of ``wait_for_job`` (``WaitTimeout`` carries
    the last file seen in ``.file``).
    """
    options = poll_options(session, poll_interval, timeout, poll_timeout)
    watch: WaitState[FileObject] = WaitState("file", file_id)

    async def poll() -> FileObject:
        file = await session.get_file(file_id, timeout=options.poll_timeout)
        return await watch.record(file, (file.status, file.status_details), on_update)

    file = await poll_until_final(poll, file_id, options)
    if file is None:
        raise timeout_error(watch, options.timeout)
    if file.status == "error":
        raise FileProcessingError(file)
    return file
