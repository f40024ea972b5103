"""The custom models part of the fake: scripting models (``add_model``) and ``/v0/models``
(created from a job's checkpoint, an uploaded archive or a Hugging Face link, ``validating``
for some polls, then ``active`` or ``error``)."""

from __future__ import annotations

import hashlib
import io
import time
import zipfile
from typing import Any

from aiohttp import web

from .. import _routes as routes
from ._answers import Routes, error_answer, json_answer, not_found
from ._requests import (
    CUSTOM_MODEL_REQUEST,
    MODEL_ARCHIVE_FORM,
    checked_body,
    checked_form,
    checked_query,
)
from ._state import FakeModel, FakeState, ModelOutcome
from ._validation import Upload, shown

_NAME_TAG_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


class ModelsAPI(FakeState):
    """Custom models, and the API's model endpoints."""

    def _model_routes(self) -> Routes:
        return [
            (routes.CREATE_MODEL, self._create_model),
            (routes.LIST_MODELS, self._list_models),
            (routes.UPLOAD_MODEL_ARCHIVE, self._upload_model_archive),
            (routes.GET_MODEL, self._get_model),
            (routes.GET_FULL_MODEL, self._get_model),
            (routes.DELETE_MODEL, self._delete_model),
            (routes.DELETE_FULL_MODEL, self._delete_model),
        ]

    def add_model(
        self,
        name: str,
        *,
        base_model: str = "meta-llama/Meta-Llama-3.1-8B-Instruct",
        source: str = "huggingface.co/fake/adapter",
        outcome: ModelOutcome = "active",
        status_reason: str | None = None,
        validating_polls: int = 2,
    ) -> str:
        """Script a custom model under exactly ``name`` (full, with a ``/``, or short) and
        return the name. Each poll of it moves it on: ``validating`` for
        ``validating_polls`` polls, then ``outcome`` (``error`` with ``status_reason``)."""
        if outcome not in ("active", "error"):
            raise ValueError(f"outcome must be 'active' or 'error', not {outcome!r}")
        self.models[name] = FakeModel(
            name=name,
            base_model=base_model,
            source=source,
            outcome=outcome,
            status_reason=status_reason,
            validating_polls=max(0, validating_polls),
        )
        return name

    def _model_name(self, name: str, base_model: str) -> str:
        digest = hashlib.sha256(f"{next(self._ids)}:{name}".encode()).digest()
        tag = "".join(_NAME_TAG_LETTERS[byte % len(_NAME_TAG_LETTERS)] for byte in digest[:4])
        if self.model_names == "short":
            return f"{name}-{tag}"
        return f"{base_model}-LoRa:{name}-{tag}"

    def _model_body(self, model: FakeModel, status: str | None = None) -> dict[str, Any]:
        job_id, colon, checkpoint_id = model.source.partition(":")
        from_checkpoint = bool(colon) and job_id in self.jobs
        status = status or model.status()
        return {
            "type": "text2text",
            "name": model.name,
            "base_model": model.base_model,
            "source": model.source,
            "status": status,
            "status_reason": model.status_reason if status == "error" else None,
            "checkpoint_id": checkpoint_id if from_checkpoint else None,
            "job_id": job_id if from_checkpoint else None,
            "file_id": model.source if model.source in self.files else None,
            "url": model.source if "huggingface.co/" in model.source else None,
            "created_at": model.created_at,
            "description": model.description,
            "vendor": model.base_model.partition("/")[0] or "custom",
            "tags": ["lora"],
            "use_cases": ["lora"],
            "context_window_k": 128,
            "size_b": 8.03,
        }

    def _source_problem(self, source: str) -> tuple[str | None, str | None]:
        """Why ``source`` cannot be deployed (a 400), and why the model will end in error."""
        if "huggingface.co/" in source:
            return None, None
        if source in self.files:
            content = self.file_contents.get(source, b"")
            try:
                with zipfile.ZipFile(io.BytesIO(content)) as archive:
                    names = set(archive.namelist())
            except zipfile.BadZipFile:
                return None, "the uploaded file is not a zip archive"
            if "adapter_config.json" not in names:
                return None, "adapter_config.json not found in the archive"
            return None, None
        job_id, colon, checkpoint_id = source.partition(":")
        job = self.jobs.get(job_id) if colon else None
        if job is None or all(c["id"] != checkpoint_id for c in job.checkpoints):
            return f"Source {source} not found", None
        return None, None

    async def _create_model(self, request: web.Request) -> web.Response:
        body = await checked_body(request, CUSTOM_MODEL_REQUEST, "create_model")
        refused, reason = self._source_problem(body["source"])
        if refused is not None:
            return error_answer(400, refused)
        name = self._model_name(body["name"], body["base_model"])
        model = FakeModel(
            name=name,
            base_model=body["base_model"],
            source=body["source"],
            description=body.get("description"),
            outcome="active" if reason is None else "error",
            status_reason=reason,
            validating_polls=self.model_validating_polls,
        )
        self.models[name] = model
        return json_answer(self._model_body(model))

    async def _list_models(self, request: web.Request) -> web.Response:
        checked_query(request, "list_models")
        return json_answer([self._model_body(model) for model in self.models.values()])

    async def _upload_model_archive(self, request: web.Request) -> web.Response:
        form = await checked_form(request, MODEL_ARCHIVE_FORM, "upload_model_archive")
        upload: Upload = form["file"]
        file_id = f"file-{next(self._ids):06d}"
        self.file_contents[file_id] = upload.content
        self.files[file_id] = {
            "id": file_id,
            "object": "file",
            "bytes": len(upload.content),
            "created_at": int(time.time()),
            "filename": shown(upload.filename) or "adapter.zip",
            "purpose": "custom-model",
            "status": "processed",
            "status_details": None,
        }
        return json_answer(self.files[file_id])

    def _model(self, request: web.Request) -> FakeModel:
        info = request.match_info
        name = f"{info['vendor']}/{info['full_name']}" if "vendor" in info else info["name"]
        model = self.models.get(name)
        if model is None and "vendor" not in info:
            model = next((m for m in self.models.values() if m.short_name == name), None)
        if model is None:
            raise not_found(f"Model {name} not found")
        return model

    async def _get_model(self, request: web.Request) -> web.Response:
        model = self._model(request)
        model.polls += 1
        return json_answer(self._model_body(model))

    async def _delete_model(self, request: web.Request) -> web.Response:
        model = self._model(request)
        del self.models[model.name]
        return json_answer(self._model_body(model, "deleted"))
