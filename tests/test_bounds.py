"""A job request is held to the bounds the API documents before anything is sent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from nebius_ft_async import (
    MlflowIntegration,
    MlflowSettings,
    SpecDraftConfig,
    SpecDraftHyperparameters,
    SpecDraftMethod,
    SupervisedConfig,
    SupervisedHyperparameters,
    SupervisedMethod,
)
from nebius_ft_async._bounds import SPEC_DRAFT_BOUNDS, SUPERVISED_BOUNDS, Bound
from nebius_ft_async._requests import encode_request
from nebius_ft_async.testing import FakeTokenFactory

pytestmark = pytest.mark.anyio

SPEC = json.loads((Path(__file__).parent / "spec" / "nebius-ft-extra-openapi.json").read_text())


def documented(schema: str) -> dict[str, Bound]:
    bounds = {}
    for name, field in SPEC["components"]["schemas"][schema]["properties"].items():
        if field.get("type") not in ("integer", "number"):
            continue
        limits = {
            "minimum": field.get("minimum"),
            "maximum": field.get("maximum"),
            "above": field.get("exclusiveMinimum"),
            "below": field.get("exclusiveMaximum"),
        }
        if any(value is not None for value in limits.values()):
            bounds[name] = Bound(whole=field["type"] == "integer", **limits)
    return bounds


@pytest.mark.parametrize(
    ("schema", "table"),
    [("SupervisedHParameters", SUPERVISED_BOUNDS), ("SpecDraftHParameters", SPEC_DRAFT_BOUNDS)],
)
def test_the_tables_are_the_documents_bounds(schema: str, table: Any) -> None:
    assert dict(table) == documented(schema)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"hyperparameters": SupervisedHyperparameters(n_epochs=0)}, r"hyperparameters\.n_epochs"),
        ({"hyperparameters": {"batch_size": 65}}, r"hyperparameters\.batch_size .* at most 64"),
        ({"hyperparameters": {"lora_r": 8.5}}, r"lora_r must be a whole number"),
        ({"hyperparameters": {"learning_rate": float("nan")}}, r"learning_rate must be a finite"),
        (
            {
                "method": SupervisedMethod(
                    SupervisedConfig(SupervisedHyperparameters(context_length=4096))
                )
            },
            r"method\.supervised\.hyperparameters\.context_length .* at least 8192",
        ),
        (
            {"method": SpecDraftMethod(SpecDraftConfig(SpecDraftHyperparameters(learning_rate=1)))},
            r"method\.spec_draft\.hyperparameters\.learning_rate .* below 1",
        ),
        (
            {"method": {"type": "spec-draft", "spec_draft": {"hyperparameters": {"n_epochs": 21}}}},
            r"method\.spec_draft\.hyperparameters\.n_epochs",
        ),
        (
            {"integrations": [{"type": "mlflow", "mlflow": {"tracking_uri": "https://ml"}}]},
            r"integrations\[0\]\.mlflow\.certificate_file is required",
        ),
        (
            {
                "integrations": [
                    MlflowIntegration(
                        MlflowSettings(tracking_uri="u", certificate_file="c", password="p")
                    )
                ]
            },
            r"integrations\[0\]\.mlflow\.username is required",
        ),
    ],
)
async def test_out_of_bounds_requests_are_refused_unsent(
    options: dict[str, Any], message: str
) -> None:
    async with FakeTokenFactory() as fake, fake.session() as session:
        with pytest.raises(ValueError, match=message):
            await session.create_job(model="m", training_file="file-1", **options)
        assert fake.requests == {}


async def test_the_documented_edges_are_accepted() -> None:
    async with FakeTokenFactory() as fake, fake.session() as session:
        uploaded = await session.upload_file(b'{"text": "x"}\n', filename="t.jsonl")
        job = await session.create_job(
            model="meta-llama/Llama-3.1-8B-Instruct",
            training_file=uploaded.id,
            hyperparameters=SupervisedHyperparameters(
                n_epochs=20, batch_size=1, learning_rate=0, context_length=131072, lora_r=128
            ),
            integrations=[
                MlflowIntegration(
                    MlflowSettings(
                        tracking_uri="https://ml",
                        username="me",
                        password="pw",
                        certificate_file="ca.pem",
                    )
                )
            ],
        )
    assert job.training_file == uploaded.id


def test_mlflow_fields_the_api_requires_but_allows_null_are_always_sent() -> None:
    settings = MlflowSettings(tracking_uri="u", username="a", password="p", certificate_file="c")
    body = msgspec.json.decode(encode_request(MlflowIntegration(settings)))
    assert body["mlflow"]["experiment_name"] is None
    assert body["mlflow"]["run_name"] is None
    assert "tags" not in body["mlflow"]
