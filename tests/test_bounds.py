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
    MockTransport,
    SpecDraftConfig,
    SpecDraftHyperparameters,
    SpecDraftMethod,
    SupervisedConfig,
    SupervisedHyperparameters,
    SupervisedMethod,
    WireResponse,
)
from nebius_ft_async._bounds import (
    SPEC_DRAFT_BOUNDS,
    SUPERVISED_BOUNDS,
    Bound,
    check_hyperparameters,
)
from nebius_ft_async._requests import encode_request
from nebius_ft_async.testing import FakeTokenFactory

from .mocks import mock_session

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


# -- each bound's edges, with plain calls --------------------------------------------------

SUPERVISED = "supervised"
SPEC_DRAFT = "spec-draft"
TABLES = {SUPERVISED: SUPERVISED_BOUNDS, SPEC_DRAFT: SPEC_DRAFT_BOUNDS}

ACCEPTED = [
    (SUPERVISED, "batch_size", 1),
    (SUPERVISED, "batch_size", 64),
    (SUPERVISED, "n_epochs", 1),
    (SUPERVISED, "n_epochs", 20),
    (SUPERVISED, "warmup_ratio", 0),
    (SUPERVISED, "warmup_ratio", 1.0),
    (SUPERVISED, "weight_decay", 0.0),
    (SUPERVISED, "weight_decay", 1e300),  # no upper bound
    (SUPERVISED, "max_grad_norm", 1e-12),  # just above its exclusive 0
    (SUPERVISED, "context_length", 8192),
    (SUPERVISED, "context_length", 131072),
    (SUPERVISED, "learning_rate", 0),
    (SUPERVISED, "lora_r", 8),
    (SUPERVISED, "lora_r", 128),
    (SUPERVISED, "lora_alpha", 8),
    (SUPERVISED, "lora_alpha", 10**6),  # no upper bound
    (SUPERVISED, "lora_dropout", 0),
    (SUPERVISED, "lora_dropout", 1),
    (SUPERVISED, "batch_size", None),  # not set: the server's default
    (SPEC_DRAFT, "learning_rate", 1e-9),
    (SPEC_DRAFT, "learning_rate", 0.999999),
    (SPEC_DRAFT, "num_decoding_heads", 1),
    (SPEC_DRAFT, "num_decoding_heads", 10),
]

REFUSED = [
    (SUPERVISED, "batch_size", True, "must be a whole number, got True"),  # a bool is no int
    (SUPERVISED, "batch_size", 8.0, "must be a whole number, got 8.0"),
    (SUPERVISED, "batch_size", "8", "must be a whole number, got '8'"),
    (SUPERVISED, "batch_size", 0, "must be a whole number at least 1 and at most 64, got 0"),
    (SUPERVISED, "batch_size", 65, "at most 64, got 65"),
    (SUPERVISED, "n_epochs", 0, "at least 1 and at most 20, got 0"),
    (SUPERVISED, "n_epochs", 21, "at most 20, got 21"),
    (SUPERVISED, "warmup_ratio", False, "must be a number, got False"),
    (SUPERVISED, "warmup_ratio", -0.001, "at least 0 and at most 1, got -0.001"),
    (SUPERVISED, "warmup_ratio", 1.001, "at most 1, got 1.001"),
    (SUPERVISED, "weight_decay", -1e-9, "must be a number at least 0, got -1e-09"),
    (SUPERVISED, "max_grad_norm", 0, "must be a number above 0, got 0"),
    (SUPERVISED, "max_grad_norm", -1.0, "above 0, got -1.0"),
    (SUPERVISED, "max_grad_norm", float("inf"), "must be a finite number, got inf"),
    (SUPERVISED, "context_length", 8191, "at least 8192 and at most 131072, got 8191"),
    (SUPERVISED, "context_length", 131073, "got 131073"),
    (SUPERVISED, "learning_rate", -1e-12, "at least 0, got -1e-12"),
    (SUPERVISED, "learning_rate", float("nan"), "must be a finite number, got nan"),
    (SUPERVISED, "learning_rate", float("-inf"), "must be a finite number, got -inf"),
    (SUPERVISED, "lora_r", 7, "at least 8 and at most 128, got 7"),
    (SUPERVISED, "lora_r", 129, "got 129"),
    (SUPERVISED, "lora_alpha", 7, "must be a whole number at least 8, got 7"),
    (SUPERVISED, "lora_dropout", 1.5, "at least 0 and at most 1, got 1.5"),
    (SPEC_DRAFT, "learning_rate", 0, "must be a number above 0 and below 1, got 0"),
    (SPEC_DRAFT, "learning_rate", 1.0, "above 0 and below 1, got 1.0"),
    (SPEC_DRAFT, "num_decoding_heads", 0, "at least 1 and at most 10, got 0"),
    (SPEC_DRAFT, "num_decoding_heads", 11, "got 11"),
    (SPEC_DRAFT, "num_decoding_heads", True, "must be a whole number, got True"),
    (SPEC_DRAFT, "max_grad_norm", 0.0, "above 0, got 0.0"),
]


@pytest.mark.parametrize(("method", "field", "value"), ACCEPTED)
def test_a_value_at_a_documented_edge_is_accepted(method: str, field: str, value: Any) -> None:
    check_hyperparameters("hyperparameters", {field: value}, TABLES[method])


@pytest.mark.parametrize(("method", "field", "value", "problem"), REFUSED)
def test_a_value_past_an_edge_is_refused_naming_its_field(
    method: str, field: str, value: Any, problem: str
) -> None:
    with pytest.raises(ValueError) as caught:
        check_hyperparameters("hyperparameters", {field: value}, TABLES[method])
    message = str(caught.value)
    assert message.startswith(f"hyperparameters.{field} must be ")
    assert message.endswith(problem)


def test_the_first_field_out_of_bounds_is_the_one_named() -> None:
    values = {"n_epochs": 3, "lora_r": 4, "batch_size": 0}  # two out: the table's order wins
    with pytest.raises(ValueError, match=r"^hyperparameters\.batch_size "):
        check_hyperparameters("hyperparameters", values, SUPERVISED_BOUNDS)


def test_a_value_that_is_not_an_object_is_left_to_the_server() -> None:
    check_hyperparameters("hyperparameters", [("batch_size", 0)], SUPERVISED_BOUNDS)
    check_hyperparameters("hyperparameters", "batch_size=0", SUPERVISED_BOUNDS)


async def test_a_bool_batch_size_in_a_struct_is_refused_unsent() -> None:
    transport = MockTransport(lambda request: WireResponse.of(500))
    async with mock_session(transport) as session:
        with pytest.raises(ValueError, match=r"hyperparameters\.batch_size must be a whole"):
            await session.create_job(
                model="m",
                training_file="file-1",
                hyperparameters=SupervisedHyperparameters(batch_size=True),  # type: ignore[arg-type]
            )
    assert transport.requests == []
