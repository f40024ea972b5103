"""Async client for the Nebius Token Factory fine-tuning API.

::

    from nebius_ft_async import AsyncSession

    async with AsyncSession() as session:          # key from NEBIUS_API_KEY
        job = await session.get_job("ftjob-abc")
        print(job.status, job.is_terminal)
"""

import logging

from ._budget import AdaptiveBudget, RequestBudget
from ._custom_models import plan_model_from_checkpoint
from ._datacheck import DataFileReport, check_data_file, check_data_file_async
from ._dataformats import DataFormat, DataProblem
from ._dataset_models import (
    Dataset,
    DatasetStatus,
    DatasetUpload,
    DatasetUploadInfo,
    DatasetUploadPart,
    DatasetUploadParts,
    DatasetUploadStatus,
)
from ._dataset_upload import DatasetUploadError
from ._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BudgetRefusalError,
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
from ._hooks import Hooks, RequestEvent, ResponseEvent, RetryEvent
from ._models import (
    CheckpointSource,
    CustomModel,
    DatasetFileResult,
    EventLevel,
    EventType,
    FileDeleted,
    FileLink,
    FileObject,
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
    ModelStatus,
    Operation,
    OperationStatus,
    OperationType,
    Page,
    SpecDraftConfig,
    SpecDraftHyperparameters,
    SpecDraftLossParams,
    SupervisedConfig,
    SupervisedHyperparameters,
    ValidationErrorItem,
    WandbConfig,
)
from ._monitor import JobMonitor, as_completed, wait_for_jobs
from ._polling import (
    JobWaitError,
    WaitTimeout,
    follow_events,
    wait_for_job,
    wait_for_operation,
)
from ._raw import RawResponse, undeclared_fields
from ._requests import (
    CustomModelRequest,
    FineTuningRequest,
    FtCheckpoint,
    HfCheckpoint,
    HfExportIntegration,
    HfExportSettings,
    MlflowIntegration,
    MlflowSettings,
    SpecDraftMethod,
    SupervisedMethod,
    WandbIntegration,
    WandbSettings,
)
from ._retry import RetryPolicy
from ._routes import CallOptions
from ._session import AsyncSession
from ._version import __version__
from ._waits import FileProcessingError, ModelDeploymentError, wait_for_file, wait_for_model

# a library logs, the application decides where that goes (see README: Logging)
logging.getLogger("nebius_ft_async").addHandler(logging.NullHandler())

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AdaptiveBudget",
    "AsyncSession",
    "AuthenticationError",
    "BadRequestError",
    "BudgetRefusalError",
    "CallOptions",
    "CheckpointSource",
    "ConfigurationError",
    "ConflictError",
    "CustomModel",
    "CustomModelRequest",
    "DataFileReport",
    "DataFormat",
    "DataProblem",
    "Dataset",
    "DatasetFileResult",
    "DatasetStatus",
    "DatasetUpload",
    "DatasetUploadError",
    "DatasetUploadInfo",
    "DatasetUploadPart",
    "DatasetUploadParts",
    "DatasetUploadStatus",
    "EventLevel",
    "EventType",
    "FileDeleted",
    "FileLink",
    "FileObject",
    "FileProcessingError",
    "FineTuningCheckpoint",
    "FineTuningJob",
    "FineTuningJobCheckpoint",
    "FineTuningJobEvent",
    "FineTuningRequest",
    "FtCheckpoint",
    "HfCheckpoint",
    "HfExportConfig",
    "HfExportIntegration",
    "HfExportSettings",
    "Hooks",
    "Integration",
    "InternalServerError",
    "JobError",
    "JobMonitor",
    "JobStatus",
    "JobWaitError",
    "MethodConfig",
    "Metrics",
    "MlflowConfig",
    "MlflowIntegration",
    "MlflowSettings",
    "ModelDeploymentError",
    "ModelStatus",
    "NebiusError",
    "NotFoundError",
    "Operation",
    "OperationStatus",
    "OperationType",
    "Page",
    "PermissionDeniedError",
    "RateLimitError",
    "RawResponse",
    "RequestBudget",
    "RequestEvent",
    "ResponseDecodeError",
    "ResponseEvent",
    "RetryEvent",
    "RetryPolicy",
    "SpecDraftConfig",
    "SpecDraftHyperparameters",
    "SpecDraftLossParams",
    "SpecDraftMethod",
    "SupervisedConfig",
    "SupervisedHyperparameters",
    "SupervisedMethod",
    "UnprocessableEntityError",
    "ValidationErrorItem",
    "WaitTimeout",
    "WandbConfig",
    "WandbIntegration",
    "WandbSettings",
    "__version__",
    "as_completed",
    "check_data_file",
    "check_data_file_async",
    "follow_events",
    "plan_model_from_checkpoint",
    "undeclared_fields",
    "wait_for_file",
    "wait_for_job",
    "wait_for_jobs",
    "wait_for_model",
    "wait_for_operation",
]
