"""Async client for the Nebius Token Factory fine-tuning API.

::

    from nebius_ft_async import AsyncSession

    async with AsyncSession() as session:          # key from NEBIUS_API_KEY
        job = await session.get_job("ftjob-abc")
        print(job.status, job.is_terminal)
"""

from ._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    InternalServerError,
    NebiusError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseDecodeError,
    UnprocessableEntityError,
)
from ._models import (
    CheckpointSource,
    DatasetFileResult,
    EventLevel,
    EventType,
    FineTuningCheckpoint,
    FineTuningJob,
    FineTuningJobCheckpoint,
    FineTuningJobEvent,
    HfExportConfig,
    Integration,
    JobError,
    JobStatus,
    MethodConfig,
    Metrics,
    MlflowConfig,
    Page,
    SpecDraftConfig,
    SpecDraftHyperparameters,
    SpecDraftLossParams,
    SupervisedConfig,
    SupervisedHyperparameters,
    ValidationErrorItem,
    WandbConfig,
)
from ._polling import (
    JobMonitor,
    JobWaitError,
    WaitTimeout,
    as_completed,
    follow_events,
    wait_for_job,
    wait_for_jobs,
)
from ._retry import RetryPolicy
from ._session import AsyncSession
from ._version import __version__

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncSession",
    "AuthenticationError",
    "BadRequestError",
    "CheckpointSource",
    "ConfigurationError",
    "ConflictError",
    "DatasetFileResult",
    "EventLevel",
    "EventType",
    "FineTuningCheckpoint",
    "FineTuningJob",
    "FineTuningJobCheckpoint",
    "FineTuningJobEvent",
    "HfExportConfig",
    "Integration",
    "InternalServerError",
    "JobError",
    "JobMonitor",
    "JobStatus",
    "JobWaitError",
    "MethodConfig",
    "Metrics",
    "MlflowConfig",
    "NebiusError",
    "NotFoundError",
    "Page",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseDecodeError",
    "RetryPolicy",
    "SpecDraftConfig",
    "SpecDraftHyperparameters",
    "SpecDraftLossParams",
    "SupervisedConfig",
    "SupervisedHyperparameters",
    "UnprocessableEntityError",
    "ValidationErrorItem",
    "WaitTimeout",
    "WandbConfig",
    "__version__",
    "as_completed",
    "follow_events",
    "wait_for_job",
    "wait_for_jobs",
]
