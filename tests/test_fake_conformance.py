"""FakeTokenFactory against the API documents: requests generated from them, answers checked
against them.

``tests/spec/`` holds copies of the API documents the fake plays (``nebius-ft-openapi.json``,
authoritative, ``nebius-ft-extra-openapi.json``, ``nebius-models-openapi.json`` and
``nebius-more-openapi.json``, from the project's shared ``spec/``; where two describe an
operation the first wins). Every operation they describe is either served or listed in
``NOT_SERVED`` with the reason. For every
operation the fake routes, hypothesis draws requests from the operation's parameters and body:
valid ones, valid ones with one part broken, and junk (any JSON, any bytes, other content
types, any query text). Every answer must be one the document lists for the operation (or 404
for an id the fake does not know, 400 where the API refuses a well-formed request), never a
5xx; a 422 must have the documented ``detail`` list; a 2xx must match the documented response
schema and decode with the library's own decoder. What FastAPI would refuse is computed
independently: each parameter and the job request body become pydantic models built from the
document, and the fake's 422 must name the same ``(loc, type)`` problems (pydantic runs with
``allow_inf_nan=False``: the fake refuses numbers that are not finite, which the API could not
write back).
"""

from __future__ import annotations

import enum
import http
import io
import json
import math
import re
import string
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

import aiohttp
import anyio
import anyio.from_thread
import jsonschema
import msgspec
import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from yarl import URL

from nebius_ft_async import _dataset_models, _models
from nebius_ft_async._routes import ROUTES
from nebius_ft_async._urls import path_segment
from nebius_ft_async.testing import FakeTokenFactory

SPEC = Path(__file__).with_name("spec")
DOCUMENTS = (
    "nebius-ft-openapi.json",
    "nebius-ft-extra-openapi.json",
    "nebius-models-openapi.json",
    "nebius-more-openapi.json",
)  # the first wins
VALIDATES_INPUT = {"nebius-models-openapi.json"}
"""Assembled documents that list a 422 only where their sources showed one: FastAPI answers
422 on every operation that takes input, so it is allowed on each of theirs that does."""
Problem = tuple[tuple[str | int, ...], str]
"""A 422 problem as compared here: its ``loc`` and its ``type``."""

# -- the documents -----------------------------------------------------------------------


def resolved(node: Any, document: dict[str, Any], seen: tuple[str, ...] = ()) -> Any:
    """``node`` with every ``$ref`` replaced by what it names (kept as ``x-name``; a schema
    met again within itself stands for any value there), and the
    members of a union with a ``discriminator`` requiring their tag, as OpenAPI means it."""
    if isinstance(node, list):
        return [resolved(item, document, seen) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        reference = node["$ref"]
        name = reference.rsplit("/", 1)[-1]
        if reference in seen:  # a type within itself (an option column's item): any value
            return {"x-name": name}
        target: Any = document
        for part in reference.removeprefix("#/").split("/"):
            target = target[part]
        return {**resolved(target, document, (*seen, reference)), "x-name": name}
    out = {key: resolved(value, document, seen) for key, value in node.items()}
    if "discriminator" in out:
        tag = out["discriminator"]["propertyName"]
        out["oneOf"] = [
            {**member, "required": sorted({*member.get("required", ()), tag})}
            for member in out["oneOf"]
        ]
    return out


@dataclass(frozen=True, repr=False)
class Operation:
    method: str
    path: str
    parameters: tuple[dict[str, Any], ...]
    body: tuple[str, dict[str, Any]] | None
    statuses: frozenset[int]
    response: dict[str, Any] | None
    error_schema: dict[str, Any]

    @property
    def query(self) -> list[dict[str, Any]]:
        return [p for p in self.parameters if p["in"] == "query"]

    @property
    def path_names(self) -> list[str]:
        return [p["name"] for p in self.parameters if p["in"] == "path"]

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    __repr__ = __str__


def load_operations() -> dict[tuple[str, str], Operation]:
    found: dict[tuple[str, str], Operation] = {}
    for name in reversed(DOCUMENTS):  # the authoritative document last, so that it wins
        document = json.loads((SPEC / name).read_text())
        errors = resolved({"$ref": "#/components/schemas/HTTPValidationError"}, document)
        for path, item in document["paths"].items():
            for method, raw in item.items():
                operation = resolved(raw, document)
                content = operation.get("requestBody", {}).get("content", {})
                body = next(iter(content.items()), None)
                ok = operation["responses"]["200"].get("content", {}).get("application/json")
                statuses = {int(status) for status in operation["responses"]}
                if name in VALIDATES_INPUT and (body or operation.get("parameters")):
                    statuses.add(422)
                found[method.upper(), path] = Operation(
                    method=method.upper(),
                    path=path,
                    parameters=tuple(operation.get("parameters", ())),
                    body=None if body is None else (body[0], body[1]["schema"]),
                    statuses=frozenset(statuses),
                    response=None if ok is None else ok["schema"],
                    error_schema=errors,
                )
    return found


OPERATIONS = load_operations()
VALIDATORS: dict[int, jsonschema.protocols.Validator] = {}


def validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    """A validator of ``schema`` (checked and built once)."""
    if id(schema) not in VALIDATORS:
        kind = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        kind.check_schema(schema)
        VALIDATORS[id(schema)] = kind(schema)
    return VALIDATORS[id(schema)]


def served_operations() -> list[Operation]:
    app = FakeTokenFactory()._app()
    routes = {(route.method, route.resource.canonical) for route in app.router.routes()}
    return [OPERATIONS[route] for route in sorted(routes) if route in OPERATIONS]


SERVED = served_operations()

DECODERS: dict[tuple[str, str], msgspec.json.Decoder[Any]] = {
    ("GET", "/v1/fine_tuning/jobs"): _models.job_page_decoder,
    ("POST", "/v1/fine_tuning/jobs"): _models.job_decoder,
    ("GET", "/v1/fine_tuning/jobs/{job_id}"): _models.job_decoder,
    ("POST", "/v1/fine_tuning/jobs/{job_id}/cancel"): _models.job_decoder,
    ("GET", "/v1/fine_tuning/jobs/{job_id}/events"): _models.event_page_decoder,
    ("GET", "/v1/fine_tuning/jobs/{job_id}/checkpoints"): _models.checkpoint_page_decoder,
    ("GET", "/v1/fine_tuning/jobs/{job_id}/checkpoints/{checkpoint_id}"): (
        _models.checkpoint_decoder
    ),
    ("POST", "/v1/files"): _models.file_decoder,
    ("GET", "/v1/files"): _models.file_page_decoder,
    ("GET", "/v1/files/{file_id}"): _models.file_decoder,
    ("GET", "/v1/operations"): _models.operation_page_decoder,
    ("GET", "/v1/operations/{operation_id}"): _models.operation_decoder,
    ("GET", "/v1/operations/{operation_id}/errors"): _models.operation_errors_decoder,
    ("GET", "/v1/operations/{operation_id}/results"): _models.operation_results_decoder,
    ("POST", "/v1/datasets"): _dataset_models.dataset_decoder,
    ("GET", "/v1/datasets/{dataset_id}"): _dataset_models.dataset_decoder,
    ("PATCH", "/v1/datasets/{dataset_id}"): _dataset_models.dataset_decoder,
    ("GET", "/v1/datasets/{dataset_id}/content"): _dataset_models.any_json_decoder,
    ("POST", "/v1/datasets/uploads"): _dataset_models.dataset_upload_decoder,
    ("GET", "/v1/datasets/uploads/{upload_id}/parts"): (
        _dataset_models.dataset_upload_parts_decoder
    ),
    ("POST", "/v1/datasets/uploads/{upload_id}/complete"): _dataset_models.any_json_decoder,
    ("GET", "/v1/datasets/uploads/{upload_id}"): _dataset_models.dataset_upload_decoder,
    ("POST", "/v1/datasets/uploads/{upload_id}/parts"): (
        _dataset_models.dataset_upload_part_decoder
    ),
    ("POST", "/v1/datasets/uploads/{upload_id}/cancel"): _dataset_models.dataset_upload_decoder,
    ("DELETE", "/v1/files/{file_id}"): _models.file_deleted_decoder,
    ("GET", "/v1/files/{file_id}/link"): _models.file_link_decoder,
    ("POST", "/v0/models"): _models.custom_model_decoder,
    ("GET", "/v0/models"): _models.custom_model_list_decoder,
    ("POST", "/v0/models/upload"): _models.file_decoder,
    ("GET", "/v0/models/{name}"): _models.custom_model_decoder,
    ("DELETE", "/v0/models/{name}"): _models.custom_model_decoder,
    ("GET", "/v0/models/{vendor}/{full_name}"): _models.custom_model_decoder,
    ("DELETE", "/v0/models/{vendor}/{full_name}"): _models.custom_model_decoder,
}
RAW_BODIES = {("GET", "/v1/files/{file_id}/content"), ("GET", "/v1/datasets/{dataset_id}/export")}
REFUSED_AS_BAD_REQUEST = {
    # 400 for a well-formed request the API refuses, and for a body FastAPI cannot parse
    ("POST", "/v1/fine_tuning/jobs"),  # an unknown training file; JSON not UTF-8, too deep
    ("POST", "/v1/fine_tuning/jobs/{job_id}/cancel"),  # a job already final
    ("POST", "/v1/files"),  # a broken multipart body
    ("POST", "/v1/datasets"),  # a body of the S3 kind (its fields are not documented)
    ("PATCH", "/v1/datasets/{dataset_id}"),  # JSON not UTF-8, too deep
    ("POST", "/v1/datasets/uploads"),  # JSON not UTF-8, too deep
    ("POST", "/v1/datasets/uploads/{upload_id}/complete"),  # unknown parts, done already
    ("POST", "/v1/datasets/uploads/{upload_id}/parts"),  # an empty part, an upload done
    ("POST", "/v1/datasets/uploads/{upload_id}/cancel"),  # an upload done already
    ("GET", "/v1/datasets/{dataset_id}/export"),  # a format other than jsonl and csv
    ("POST", "/v0/models"),  # a source that is no known checkpoint, file or repository
    ("POST", "/v0/models/upload"),  # a broken multipart body
}


NOT_SERVED = {
    ("GET", "/v1/models"): "the OpenAI-style model list: not called by the client",
    ("DELETE", "/v1/models/{model}"): "inferred from cookbook code only: not called",
    ("GET", "/v1/datasets"): "listing datasets: not called by the client yet",
    ("DELETE", "/v1/datasets/{dataset_id}"): "deleting datasets: not called by the client yet",
    ("GET", "/v1/datasets/{dataset_id}/query_templates"): "query templates: not called yet",
    ("POST", "/v1/operations"): "creating operations (batch inference): not called yet",
    ("POST", "/v1/operations/{operation_id}/cancel"): "cancelling operations: not called yet",
    ("GET", "/v1/fine_tuning/models/spec-draft"): "spec-draft base models: not called yet",
    ("GET", "/fine_tuning/models/spec-draft"): "the same list without /v1: not called",
    ("GET", "/v0/dedicated_endpoints/templates"): "dedicated endpoints: not called yet",
    ("GET", "/v0/dedicated_endpoints"): "dedicated endpoints: not called yet",
    ("POST", "/v0/dedicated_endpoints"): "dedicated endpoints: not called yet",
    ("PATCH", "/v0/dedicated_endpoints/{endpoint_id}"): "dedicated endpoints: not called yet",
    ("DELETE", "/v0/dedicated_endpoints/{endpoint_id}"): "dedicated endpoints: not called yet",
    ("POST", "/v1/batches"): "OpenAI-style batches: not called by the client",
    ("GET", "/v1/batches"): "OpenAI-style batches: not called by the client",
    ("GET", "/v1/batches/{batch_id}"): "OpenAI-style batches: not called by the client",
    ("POST", "/v1/batches/{batch_id}/cancel"): "OpenAI-style batches: not called by the client",
    ("GET", "/v1alpha1/fine_tuning/jobs/{job_id}/batches/{batch_index}"): "the alpha RL API",
    ("POST", "/v1alpha1/fine_tuning/jobs/{job_id}/batches"): "the alpha RL API",
    ("POST", "/v1alpha1/fine_tuning/jobs/{job_id}/batches/{batch_index}/samples"): "alpha RL",
    ("GET", "/v1alpha1/fine_tuning/jobs/{job_id}/status"): "the alpha RL API",
}
"""Operations of the documents the fake does not serve, each with why: what the client
does not call has nothing to play yet."""


def test_the_fake_serves_only_documented_operations() -> None:
    app = FakeTokenFactory()._app()
    routes = {(route.method, route.resource.canonical) for route in app.router.routes()}
    assert routes <= set(OPERATIONS), routes - set(OPERATIONS)
    assert {(op.method, op.path) for op in SERVED} == set(DECODERS) | RAW_BODIES


def test_every_documented_operation_is_served_or_listed_as_not() -> None:
    served = {(op.method, op.path) for op in SERVED}
    assert not served & set(NOT_SERVED), served & set(NOT_SERVED)
    assert set(OPERATIONS) == served | set(NOT_SERVED), set(OPERATIONS) - served - set(NOT_SERVED)
    called = {(route.method, route.template) for route in ROUTES}
    assert called <= served, called - served  # every route the client calls is played


# -- what FastAPI would refuse: pydantic models built from the documents -----------------

ORACLE_CONFIG = pydantic.ConfigDict(allow_inf_nan=False)


def annotation(schema: dict[str, Any]) -> Any:
    """The pydantic type the API's FastAPI app declares for ``schema``."""
    if "const" in schema:
        return Literal[schema["const"]]
    if "enum" in schema:
        return enum.Enum(schema.get("x-name", "Choice"), {v: v for v in schema["enum"]}, type=str)
    if "oneOf" in schema and "discriminator" in schema:
        members = tuple(annotation(member) for member in schema["oneOf"])
        tag = schema["discriminator"]["propertyName"]
        return Annotated[Union[members], pydantic.Field(discriminator=tag)]  # noqa: UP007
    if "anyOf" in schema:
        members = tuple(annotation(member) for member in schema["anyOf"])
        return Union[members]  # noqa: UP007
    kind = schema.get("type")
    bounds = {
        name: schema[key]
        for key, name in (
            ("minimum", "ge"),
            ("maximum", "le"),
            ("exclusiveMinimum", "gt"),
            ("exclusiveMaximum", "lt"),
            ("maxLength", "max_length"),
        )
        if key in schema
    }
    if kind == "null":
        return None
    if kind == "boolean":
        return bool
    if kind == "integer":
        bounds = {name: int(bound) for name, bound in bounds.items()}
        return Annotated[int, pydantic.Field(**bounds)]
    if kind == "number":
        return Annotated[float, pydantic.Field(allow_inf_nan=False, **bounds)]
    if kind == "string":
        return Annotated[str, pydantic.Field(**bounds)]
    if kind == "array":
        return list[annotation(schema.get("items", {}))]  # type: ignore[misc]
    if kind == "object" and "properties" in schema:
        required = set(schema.get("required", ()))
        fields: dict[str, Any] = {
            name: (annotation(sub), ... if name in required else sub.get("default"))
            for name, sub in schema["properties"].items()
        }
        name = schema.get("x-name", "Model").removesuffix("-Input")
        extra = "allow" if schema.get("additionalProperties") is True else "ignore"
        config = pydantic.ConfigDict(extra=extra, allow_inf_nan=False)
        with warnings.catch_warnings():  # a dataset's "schema" field shadows BaseModel.schema
            warnings.filterwarnings("ignore", "Field name .* shadows", UserWarning)
            return pydantic.create_model(name, __config__=config, **fields)
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return dict[str, annotation(schema["additionalProperties"])]  # type: ignore[misc]
    if kind == "object":
        return dict[str, Any]
    return Any


def refusals(
    kind: pydantic.TypeAdapter[Any], value: Any, loc: tuple[str | int, ...]
) -> list[Problem]:
    """The problems pydantic finds in ``value`` (FastAPI's way: lax, from attributes)."""
    try:
        kind.validate_python(value, from_attributes=True)
    except pydantic.ValidationError as error:
        return [((*loc, *e["loc"]), e["type"]) for e in error.errors(include_url=False)]
    return []


@dataclass
class Oracle:
    query: dict[str, pydantic.TypeAdapter[Any]]
    body: pydantic.TypeAdapter[Any]


ORACLES: dict[tuple[str, str], Oracle] = {}


def oracle(operation: Operation) -> Oracle:
    key = (operation.method, operation.path)
    if key not in ORACLES:
        query = {
            p["name"]: pydantic.TypeAdapter(Optional[annotation(p["schema"])])  # noqa: UP045
            for p in operation.query
        }
        body = None
        if operation.body is not None and operation.body[0] == "application/json":
            body = annotation(operation.body[1])
        ORACLES[key] = Oracle(query, pydantic.TypeAdapter(body))
    return ORACLES[key]


# -- requests ----------------------------------------------------------------------------

TEXT = st.text(st.characters(codec="utf-8"), max_size=12)
TRICKY_NUMBERS = st.sampled_from(
    [
        *("true", "1.5", "", " 7 ", "+3", "1_000", "0x10", "1e3", "-0", "NaN", "٣", "5.0", "00"),
        *("-1", "99999999999999999999", "-99999999999999999999"),
    ]
)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)


STRATEGIES: dict[int, tuple[dict[str, Any], st.SearchStrategy[Any]]] = {}


def valid(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values ``schema`` accepts (one strategy per schema, built once)."""
    if id(schema) not in STRATEGIES:
        STRATEGIES[id(schema)] = (schema, build(schema))  # the schema kept: its id stays its own
    return STRATEGIES[id(schema)][1]


def build(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return st.one_of([valid(member) for member in schema[key]])
    kind = schema.get("type")
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        low, high = schema.get("minimum"), schema.get("maximum")
        return st.integers(
            min_value=None if low is None else math.ceil(low),
            max_value=None if high is None else math.floor(high),
        )
    if kind == "number":
        return st.floats(
            min_value=schema.get("minimum", schema.get("exclusiveMinimum")),
            max_value=schema.get("maximum", schema.get("exclusiveMaximum")),
            exclude_min="exclusiveMinimum" in schema,
            exclude_max="exclusiveMaximum" in schema,
            allow_nan=False,
            allow_infinity=False,
        )
    if kind == "string":
        return st.text(st.characters(codec="utf-8"), max_size=schema.get("maxLength", 12))
    if kind == "array":
        return st.lists(valid(schema.get("items", {})), max_size=3)
    if kind == "object" and "properties" in schema:
        properties = schema["properties"]
        required = set(schema.get("required", ()))
        declared = st.fixed_dictionaries(
            {name: valid(sub) for name, sub in properties.items() if name in required},
            optional={name: valid(sub) for name, sub in properties.items() if name not in required},
        )
        if schema.get("additionalProperties", True) is False:
            return declared
        unknown = st.dictionaries(TEXT.filter(lambda key: key not in properties), JSON, max_size=2)
        return declared | st.builds(lambda d, u: {**u, **d}, declared, unknown)
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return st.dictionaries(TEXT, valid(schema["additionalProperties"]), max_size=3)
    return JSON


EVERYTHING: dict[int, dict[str, Any]] = {}


def everything(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with every property required."""
    if id(schema) not in EVERYTHING:
        EVERYTHING[id(schema)] = {**schema, "required": list(schema["properties"])}
    return EVERYTHING[id(schema)]


@st.composite
def broken(draw: st.DrawFn, value: Any) -> Any:
    """``value`` with one part replaced by any JSON, or one field left out."""
    spots: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, item in list(items):
            spots.append((node, key))
            if isinstance(item, dict | list):
                walk(item)

    if not isinstance(value, dict | list) or not value:
        return draw(JSON)
    walk(value)
    node, key = draw(st.sampled_from(spots))
    if isinstance(node, dict) and draw(st.booleans()):
        del node[key]
    else:
        node[key] = draw(JSON | TRICKY_NUMBERS)
    return value


@dataclass
class Request:
    operation: Operation
    path_values: dict[str, str]
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes = b""
    form: list[tuple[str, str | None, bytes]] | None = None
    """The parts of a form body: name, file name (``None`` for a plain field), content."""
    key: str = "right"

    def url(self, base: str) -> URL:
        path = self.operation.path
        for name, value in self.path_values.items():
            path = path.replace("{" + name + "}", path_segment(value))
        query = "&".join(f"{quote(k)}={quote(v)}" for k, v in self.query)
        return URL(base + path + ("?" + query if query else ""), encoded=True)


def quote(text: str) -> str:
    return "".join(
        c
        if c.isascii() and (c.isalnum() or c in "-._~")
        else "".join(f"%{b:02X}" for b in c.encode())
        for c in text
    )


@dataclass
class Known:
    """Ids the fake knows, so that requests reach past the 404s."""

    jobs: list[str]
    checkpoints: list[tuple[str, str]]
    """(job id, checkpoint id)"""
    files: list[str]
    models: list[str]
    """Model names, full and short."""
    sources: list[str]
    """Sources a model can be deployed from."""
    datasets: list[str]
    uploads: list[str]


ANY_ID = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12)


def path_values(operation: Operation, known: Known) -> st.SearchStrategy[dict[str, str]]:
    """Ids for the path: known ones (a job and one of its checkpoints), or any text."""
    names = operation.path_names
    if names == ["job_id", "checkpoint_id"]:
        pairs = st.sampled_from(known.checkpoints) | st.tuples(st.sampled_from(known.jobs), ANY_ID)
        return (pairs | st.tuples(ANY_ID, ANY_ID)).map(
            lambda pair: dict(zip(names, pair, strict=True))
        )
    if names == ["vendor", "full_name"]:
        split = [tuple(name.split("/", 1)) for name in known.models if "/" in name]
        return (st.sampled_from(split) | st.tuples(ANY_ID, ANY_ID)).map(
            lambda pair: dict(zip(names, pair, strict=True))
        )
    sample = {
        "job_id": known.jobs,
        "operation_id": known.jobs,
        "file_id": known.files,
        "name": [name for name in known.models if "/" not in name],
        "dataset_id": known.datasets,
        "upload_id": known.uploads,
    }
    return st.fixed_dictionaries({name: st.sampled_from(sample[name]) | ANY_ID for name in names})


def query_value(schema: dict[str, Any]) -> st.SearchStrategy[str | None]:
    """A parameter's value as query text: a valid one, a tricky one or any text; ``None``
    leaves it out."""

    def text(value: Any) -> str | None:
        return None if value is None else str(value)

    return st.none() | valid(schema).map(text) | TRICKY_NUMBERS | TEXT


CONTENT_TYPES = st.sampled_from(
    [
        None,
        "application/json",
        "application/json; charset=utf-8",
        "application/merge-patch+json",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
    ]
)


@st.composite
def requests(draw: st.DrawFn, operation: Operation, known: Known) -> Request:
    values = draw(path_values(operation, known))
    query: list[tuple[str, str]] = []
    for parameter in operation.query:
        for _ in range(draw(st.sampled_from([1, 1, 1, 2]))):  # now and then given twice
            value = draw(query_value(parameter["schema"]))
            if value is not None:
                query.append((parameter["name"], value))
    if draw(st.booleans()):
        query.append((draw(TEXT), draw(TEXT)))  # one the operation does not have
    headers: dict[str, str] = {}
    request = Request(operation, values, query, headers)
    request.key = draw(st.sampled_from(["right"] * 30 + ["wrong", "none"]))
    if operation.body is None:
        return request
    media, schema = operation.body
    if media == "multipart/form-data":
        request.form = draw(forms())
        if draw(st.integers(0, 9)) == 0:
            headers["Content-Type"] = draw(CONTENT_TYPES.filter(lambda t: t is not None))
        return request
    how = draw(st.sampled_from(["valid"] * 2 + ["broken"] * 4 + ["json", "bytes"]))
    if how in ("valid", "broken"):
        if how == "broken" and "properties" in schema:  # every field there, to break one
            schema = everything(schema)
        value = draw(valid(schema))
        if isinstance(value, dict) and "training_file" in value and draw(st.integers(0, 3)):
            value["training_file"] = draw(st.sampled_from(known.files))
        if isinstance(value, dict) and "source" in value and draw(st.integers(0, 3)):
            value["source"] = draw(st.sampled_from(known.sources))
        if how == "broken":
            value = draw(broken(value))
        request.body = json.dumps(value).encode()
    elif how == "json":
        request.body = json.dumps(draw(JSON)).encode()
    else:
        request.body = draw(st.binary(max_size=20))
    content_type = draw(st.sampled_from(["application/json"] * 4 + [None]) | CONTENT_TYPES)
    if content_type is not None:
        headers["Content-Type"] = content_type
    return request


NAME = st.text(st.sampled_from(string.ascii_letters + string.digits + "._- "), max_size=10)
"""Field and file names that need no quoting in a Content-Disposition header."""


@st.composite
def forms(draw: st.DrawFn) -> list[tuple[str, str | None, bytes]]:
    purpose = st.sampled_from([b"fine-tune", b"batch", b"", b"fine-tune-results", b"\xff"])
    file = st.tuples(st.just("file"), st.none() | NAME, st.binary(max_size=20))
    parts = st.tuples(
        st.sampled_from(["file", "purpose"]) | NAME,
        st.none() | NAME,
        purpose | st.binary(max_size=20),
    )
    if draw(st.booleans()):  # what a client sends, in either order
        form = [draw(file.filter(lambda p: p[1] is not None)), ("purpose", None, draw(purpose))]
        return form if draw(st.booleans()) else form[::-1]
    return draw(st.lists(parts | file, max_size=3))


def multipart(form: list[tuple[str, str | None, bytes]]) -> bytes:
    out = b""
    for name, filename, content in form:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += b"--xyz\r\nContent-Disposition: " + disposition.encode() + b"\r\n\r\n"
        out += content + b"\r\n"
    return out + b"--xyz--\r\n"


# -- the expected answer -----------------------------------------------------------------

JSON_MEDIA = re.compile(r"application/(json|[^;]*\+json)\s*(;.*)?", re.IGNORECASE)


def expected_problems(request: Request) -> list[Problem] | Literal["json", "parse"]:
    """The 422 problems FastAPI would list for ``request`` (``"json"``: only a
    ``json_invalid``; ``"parse"``: a 400, the body not parsable)."""
    operation = request.operation
    checks = oracle(operation)
    problems: list[Problem] = []
    given = dict(request.query)  # the last of a repeated parameter counts
    for name, kind in checks.query.items():
        if name in given:
            problems += refusals(kind, given[name], ("query", name))
    if operation.body is None or operation.body[0] == "application/octet-stream":
        return problems  # raw bytes: whatever they are, FastAPI reads them as they came
    if request.form is not None:
        return problems + form_problems(request)
    if not request.body:
        return [*problems, (("body",), "missing")]
    content_type = request.headers.get("Content-Type")
    if content_type and not JSON_MEDIA.fullmatch(content_type):
        return problems + refusals(checks.body, request.body, ("body",))
    try:
        body = json.loads(request.body)
    except json.JSONDecodeError:
        return "json"
    except (ValueError, RecursionError):
        return "parse"
    if body is None:
        return [*problems, (("body",), "missing")]
    return problems + refusals(checks.body, body, ("body",))


def choices(schema: dict[str, Any], name: str) -> list[str]:
    return list(schema["properties"][name]["enum"])


def form_problems(request: Request) -> list[Problem]:
    """A form's problems the way FastAPI finds them: each field on its own, an empty one
    missing; ``file`` must be a file part and ``purpose`` one of the document's values."""
    assert request.form is not None and request.operation.body is not None
    schema = request.operation.body[1]
    content_type = request.headers.get("Content-Type", "multipart/form-data")
    fields: dict[str, tuple[str | None, bytes]] = {}
    if content_type.startswith("multipart/form-data"):
        fields = {name: (filename, content) for name, filename, content in request.form}
    problems: list[Problem] = []
    for name in schema["required"]:
        filename, content = fields.get(name, (None, b""))
        loc = ("body", name)
        if filename is None and not content:
            problems.append((loc, "missing"))
        elif schema["properties"][name].get("format") == "binary":
            if filename is None:
                problems.append((loc, "value_error"))
        elif filename is not None or content.decode("latin-1") not in choices(schema, name):
            problems.append((loc, "enum"))
    return problems


@dataclass
class Answer:
    status: int
    content_type: str
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def check(request: Request, answer: Answer, known_before: set[str]) -> None:
    operation = request.operation
    key = (operation.method, operation.path)
    shown = f"{operation}: {answer.status} {answer.body[:300]!r}"
    assert answer.status < 500, shown
    if request.key != "right":
        assert answer.status == 401, shown
        assert answer.json() == {"detail": "Invalid or missing API key"}, shown
        return
    allowed = set(operation.statuses)
    if operation.path_names:
        allowed.add(404)
    if key in REFUSED_AS_BAD_REQUEST:
        allowed.add(400)
    assert answer.status in allowed, shown
    if answer.status != 200 or key not in RAW_BODIES:
        assert answer.content_type == "application/json", shown
    expected = expected_problems(request)
    if expected == "parse":
        assert answer.status == 400, shown
        assert answer.json() == {"detail": "There was an error parsing the body"}, shown
        return
    if answer.status == 422:
        body = answer.json()
        validator(operation.error_schema).validate(body)
        assert body["detail"], shown
        found = [(tuple(problem["loc"]), problem["type"]) for problem in body["detail"]]
        if expected == "json":
            assert [problem for _, problem in found] == ["json_invalid"], shown
        else:
            assert Counter(found) == Counter(expected), f"{shown}\nexpected {expected}"
        return
    assert expected == [], f"{shown}\nexpected {expected}"
    if key == ("POST", "/v1/fine_tuning/jobs"):
        known_file = json.loads(request.body)["training_file"] in known_before
        assert answer.status == (200 if known_file else 400), shown
    if answer.status == 404:
        detail = answer.json()["detail"]
        assert isinstance(detail, str), shown
        unknown = set(request.path_values.values()) - known_before  # a checkpoint id always
        assert unknown, shown
    elif answer.status == 200 and key not in RAW_BODIES:
        body = answer.json()
        if operation.response is not None:
            validator(operation.response).validate(body)
        DECODERS[key].decode(answer.body)


# -- the fake, served from a thread of its own ------------------------------------------


@dataclass(repr=False)
class Served:
    portal: anyio.from_thread.BlockingPortal
    fake: FakeTokenFactory
    client: aiohttp.ClientSession
    known: Known

    def send(self, request: Request) -> Answer:
        return self.portal.call(self._send, request)

    async def _send(self, request: Request) -> Answer:
        headers = dict(request.headers)
        if request.key == "right":
            headers["Authorization"] = f"Bearer {self.fake.api_key}"
        elif request.key == "wrong":
            headers["Authorization"] = "Bearer not-the-key"
        body = request.body
        if request.form is not None:
            body = multipart(request.form)
            headers.setdefault("Content-Type", "multipart/form-data; boundary=xyz")
        async with self.client.request(
            request.operation.method,
            request.url(self.fake.url),
            data=body,
            headers=headers,
            skip_auto_headers={"Content-Type"},
        ) as response:
            content = await response.read()
            return Answer(response.status, response.content_type, content)


async def seeded(fake: FakeTokenFactory) -> Known:
    jobs = [
        fake.add_job("ftjob-running", running_steps=20),
        fake.add_job("ftjob-failed", outcome="failed", running_steps=3),
        fake.add_job("ftjob-new"),
    ]
    for job_id in jobs[:2]:
        for _ in range(8):
            fake._advance(fake.jobs[job_id], polled=True)
    checkpoints = [(job_id, c["id"]) for job_id in jobs for c in fake.jobs[job_id].checkpoints]
    columns = [{"name": "text", "type": {"name": "string"}}]
    async with fake.session() as session:
        uploaded = await session.upload_file(b'{"messages": []}\n', filename="train.jsonl")
        job = fake.jobs["ftjob-running"]
        full = await session.create_model_from_checkpoint(job.id, name="deployed")
        archive = await session.upload_model_archive(b"PK not quite a zip", filename="a.zip")
        dataset = await session.create_dataset(
            name="seed", schema=columns, folder="/seed", rows=[{"text": "a"}]
        )
        upload = await session.create_dataset_upload(name="parts", schema=columns, folder="/seed")
    fake.dataset_uploads[upload.id]["parts"].append({"id": "part-1", "part_number": 1})
    short = fake.add_model("Sofrony-Test-hfjV", source=archive.id)
    models = [full.name, short, full.name.rpartition("-LoRa:")[2]]
    sources = [f"{job_id}:{checkpoint}" for job_id, checkpoint in checkpoints]
    sources += [archive.id, "huggingface.co/org/adapter"]
    files = [uploaded.id, *list(fake.files)[:2]]
    return Known(jobs, checkpoints, files, models, sources, [dataset.id], [upload.id])


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with anyio.from_thread.start_blocking_portal() as portal:
        fake = FakeTokenFactory()
        portal.call(fake.start)

        async def client() -> aiohttp.ClientSession:
            return aiohttp.ClientSession()

        session = portal.call(client)
        try:
            yield Served(portal, fake, session, portal.call(seeded, fake))
        finally:
            portal.call(session.close)
            portal.call(fake.stop)


EXAMPLES = {("POST", "/v1/fine_tuning/jobs"): 600, ("POST", "/v1/files"): 200}
"""Requests per operation: more where the body is rich (100 for the others)."""


@pytest.mark.parametrize("operation", SERVED, ids=str)
def test_answers_conform_to_the_documents(served: Served, operation: Operation) -> None:
    @settings(
        max_examples=EXAMPLES.get((operation.method, operation.path), 100),
        deadline=None,
        derandomize=True,  # the same requests on every run
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.data())
    def run(data: st.DataObject) -> None:
        request = data.draw(requests(operation, served.known))
        models = dict(served.fake.models)
        known_before = set(served.fake.jobs) | set(served.fake.files) | set(models)
        known_before |= {model.short_name for model in models.values()}
        known_before |= set(served.fake.datasets) | set(served.fake.dataset_uploads)
        files, contents = dict(served.fake.files), dict(served.fake.file_contents)
        check(request, served.send(request), known_before)
        # what a request deleted, completed or cancelled is back for the next one
        served.fake.models.update(models)
        served.fake.files.update(files)
        served.fake.file_contents.update(contents)
        for upload in served.fake.dataset_uploads.values():
            upload["upload_info"]["status"] = "PENDING"

    run()


# -- cases by hand -----------------------------------------------------------------------


@pytest.fixture
async def fake() -> Any:
    async with FakeTokenFactory() as fake:
        yield fake


async def call(
    fake: FakeTokenFactory, method: str, path: str, **options: Any
) -> tuple[int, Any, Any]:
    """Status, headers and JSON body of one request to the fake (with its key)."""
    headers = {"Authorization": f"Bearer {fake.api_key}", **options.pop("headers", {})}
    async with (
        aiohttp.ClientSession() as client,
        client.request(method, URL(fake.url + path, encoded=True), headers=headers, **options) as r,
    ):
        assert r.content_type == "application/json", await r.text()
        return r.status, r.headers, await r.json()


def int_parsing(value: str, name: str = "limit") -> dict[str, Any]:
    message = "Input should be a valid integer, unable to parse string as an integer"
    return {"type": "int_parsing", "loc": ["query", name], "msg": message, "input": value}


@pytest.mark.anyio
@pytest.mark.parametrize(
    "path",
    [
        "/v1/fine_tuning/jobs",
        "/v1/fine_tuning/jobs/{job}/checkpoints",
        "/v1/fine_tuning/jobs/{job}/events",
        "/v1/operations",
        "/v1/operations/{job}/results",
        "/v1/files",
    ],
)
async def test_a_limit_that_is_not_an_integer_is_a_422(fake: FakeTokenFactory, path: str) -> None:
    job_id = fake.add_job()
    status, _, body = await call(fake, "GET", path.format(job=job_id) + "?limit=true")
    assert (status, body) == (422, {"detail": [int_parsing("true")]})


@pytest.mark.anyio
async def test_query_parameters_are_read_the_fastapi_way(fake: FakeTokenFactory) -> None:
    job_id = fake.add_jobs(5)[0]
    fake.jobs[job_id].step = 0
    async with fake.session() as session:
        await session.upload_file(b"x")
    for query, count in [("limit=%207%20", 5), ("limit=+2", 2), ("limit=3.0", 3), ("limit=1_0", 5)]:
        status, _, body = await call(fake, "GET", f"/v1/fine_tuning/jobs?{query}")
        assert (status, len(body["data"])) == (200, count), query
    status, _, body = await call(fake, "GET", "/v1/fine_tuning/jobs?limit=1&limit=x")
    assert (status, body) == (422, {"detail": [int_parsing("x")]})  # the last one counts
    status, _, body = await call(fake, "GET", "/v1/files?limit=&purpose=fine-tune-results")
    assert status == 422
    assert [(p["loc"], p["type"]) for p in body["detail"]] == [
        (["query", "limit"], "int_parsing"),
        (["query", "purpose"], "enum"),
    ]
    for path in ("/v1/fine_tuning/jobs", "/v1/files", f"/v1/fine_tuning/jobs/{job_id}/events"):
        status, _, body = await call(fake, "GET", f"{path}?limit={10**30}")  # past sys.maxsize
        assert status == 200 and body["data"]
    status, _, body = await call(fake, "GET", "/v1/operations?limit=101")
    assert status == 422 and body["detail"][0]["type"] == "less_than_equal"
    assert body["detail"][0]["ctx"] == {"le": 100}


@pytest.mark.anyio
async def test_a_bad_query_is_a_422_even_for_an_unknown_job(fake: FakeTokenFactory) -> None:
    status, _, body = await call(fake, "GET", "/v1/fine_tuning/jobs/nope/events?limit=x")
    assert (status, body) == (422, {"detail": [int_parsing("x")]})  # checked before the lookup
    status, _, body = await call(fake, "GET", "/v1/fine_tuning/jobs/%7Bnope%7D/events")
    assert (status, body) == (404, {"detail": "Job {nope} not found"})


JSON_TYPE = {"Content-Type": "application/json"}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "headers", "status", "types"),
    [
        (b"", JSON_TYPE, 422, [(["body"], "missing")]),
        (b"null", JSON_TYPE, 422, [(["body"], "missing")]),
        (b"{", JSON_TYPE, 422, [(["body", 1], "json_invalid")]),
        (b"[1]", JSON_TYPE, 422, [(["body"], "model_attributes_type")]),
        (b'{"model": "m"}', {}, 422, [(["body", "training_file"], "missing")]),  # no type: JSON
        (
            b'{"model": "m"}',
            {"Content-Type": "text/plain"},
            422,
            [(["body"], "model_attributes_type")],
        ),
        (b'"\xc3("', JSON_TYPE, 400, None),  # not UTF-8
        (b"[" * 100_000, JSON_TYPE, 400, None),  # nested too deep
        (b"1" * 5000, JSON_TYPE, 400, None),  # a number too long
    ],
)
async def test_bodies_json_cannot_describe(
    fake: FakeTokenFactory,
    body: bytes,
    headers: dict[str, str],
    status: int,
    types: list[tuple[list[Any], str]] | None,
) -> None:
    answer, _, served = await call(
        fake,
        "POST",
        "/v1/fine_tuning/jobs",
        data=body,
        headers=headers,
        skip_auto_headers={"Content-Type"},
    )
    assert answer == status
    if types is None:
        assert served == {"detail": "There was an error parsing the body"}
    else:
        assert [(p["loc"], p["type"]) for p in served["detail"]] == types


@pytest.mark.anyio
async def test_a_job_request_is_checked_field_by_field(fake: FakeTokenFactory) -> None:
    body = {
        "model": 7,
        "training_file": "f",
        "seed": 1.5,
        "suffix": "x" * 65,
        "hyperparameters": {"batch_size": 0, "learning_rate": "fast", "packing": "maybe"},
        "method": {"type": "dpo"},
        "integrations": [{"type": "wandb", "wandb": {"project": "p"}}, 5],
        "from_checkpoint": 5,
    }
    status, _, served = await call(fake, "POST", "/v1/fine_tuning/jobs", json=body)
    assert status == 422
    jsonschema.validate(served, OPERATIONS["POST", "/v1/fine_tuning/jobs"].error_schema)
    assert {(tuple(p["loc"][1:]), p["type"]) for p in served["detail"]} == {
        (("model",), "string_type"),
        (("seed",), "int_from_float"),
        (("suffix",), "string_too_long"),
        (("hyperparameters", "batch_size"), "greater_than_equal"),
        (("hyperparameters", "learning_rate"), "float_parsing"),
        (("hyperparameters", "packing"), "bool_parsing"),
        (("method",), "union_tag_invalid"),
        (("integrations", 0, "WandbIntegrationRequest", "wandb", "api_key"), "missing"),
        (("integrations", 0, "MlflowIntegrationRequest", "type"), "literal_error"),
        (("integrations", 0, "MlflowIntegrationRequest", "mlflow"), "missing"),
        (("integrations", 0, "HfExportIntegrationRequest", "hf"), "missing"),
        (("integrations", 1, "WandbIntegrationRequest"), "model_attributes_type"),
        (("integrations", 1, "MlflowIntegrationRequest"), "model_attributes_type"),
        (("integrations", 1, "HfExportIntegrationRequest"), "model_attributes_type"),
        (("from_checkpoint", "HFCheckpointParametersRequest"), "model_attributes_type"),
        (("from_checkpoint", "FTCheckpointParameters"), "model_attributes_type"),
    }
    assert fake.jobs == {}


@pytest.mark.anyio
async def test_what_the_api_could_not_write_back_is_refused(fake: FakeTokenFactory) -> None:
    raw = b'{"model": "m\\ud800", "training_file": "f", "hyperparameters": {"weight_decay": 1e400}}'
    status, _, served = await call(
        fake, "POST", "/v1/fine_tuning/jobs", data=raw, headers=JSON_TYPE
    )
    assert status == 422
    assert [(p["loc"], p["type"], p["input"]) for p in served["detail"]] == [
        (["body", "model"], "string_unicode", "m\ufffd"),  # shown without the lone surrogate
        (["body", "hyperparameters", "weight_decay"], "finite_number", None),
    ]


@pytest.mark.anyio
async def test_a_job_request_is_read_the_lax_way_and_echoed_as_read(
    fake: FakeTokenFactory,
) -> None:
    async with fake.session() as session:
        uploaded = await session.upload_file(b"{}\n", filename="t.jsonl")
    body = {
        "model": "m",
        "training_file": uploaded.id,
        "seed": "7",
        "hyperparameters": {"n_epochs": 2.0, "packing": "no", "not_a_field": 1},
        "integrations": [{"wandb": {"project": "p", "api_key": "secret"}}],
        "from_checkpoint": {"repo": "me/base", "token": "hub-secret"},
        "unknown": {"kept": False},
    }
    status, _, served = await call(fake, "POST", "/v1/fine_tuning/jobs", json=body)
    assert status == 200, served
    assert served["seed"] == 7
    assert (
        served["hyperparameters"]["n_epochs"] == 2 and served["hyperparameters"]["packing"] is False
    )
    assert served["hyperparameters"]["batch_size"] == 8  # the documented default
    assert "not_a_field" not in served["hyperparameters"]
    assert served["integrations"] == [
        {"type": "wandb", "wandb": {"project": "p", "name": None, "entity": None}}
    ]
    assert served["from_checkpoint"] == {"type": "hf", "repo": "me/base", "revision": None}
    _models.job_decoder.decode(json.dumps(served).encode())


@pytest.mark.anyio
async def test_an_mlflow_integration_needs_what_the_document_requires(
    fake: FakeTokenFactory,
) -> None:
    from nebius_ft_async import MlflowIntegration, MlflowSettings

    async with fake.session() as session:
        uploaded = await session.upload_file(b"{}\n", filename="t.jsonl")
        settings = MlflowSettings(tracking_uri="https://ml", password="pw")
        with pytest.raises(ValueError, match=r"integrations\[0\]\.mlflow\.certificate_file"):
            await session.create_job(  # refused before it is sent
                model="m", training_file=uploaded.id, integrations=[MlflowIntegration(settings)]
            )
        body = {
            "model": "m",
            "training_file": uploaded.id,
            "integrations": [{"type": "mlflow", "mlflow": {"tracking_uri": "https://ml"}}],
        }
    # the fake answers such a body, sent around the client's check, as the API documents
    async with (
        aiohttp.ClientSession() as client,
        client.post(
            fake.url + "/v1/fine_tuning/jobs",
            json=body,
            headers={"Authorization": f"Bearer {fake.api_key}"},
        ) as response,
    ):
        assert response.status == 422
        errors = (await response.json())["detail"]
    missing = {
        str(error["loc"][-1])
        for error in errors
        if error["loc"][3:5] == ["MlflowIntegrationRequest", "mlflow"]
        and error["type"] == "missing"
    }
    assert missing == {"experiment_name", "run_name", "certificate_file", "username", "password"}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("form", "types"),
    [
        ({}, [(["body", "file"], "missing"), (["body", "purpose"], "missing")]),
        ({"file": "text, not a file", "purpose": "batch"}, [(["body", "file"], "value_error")]),
        ({"file": b"x", "purpose": ""}, [(["body", "purpose"], "missing")]),
        ({"file": b"x", "purpose": "fine-tune-results"}, [(["body", "purpose"], "enum")]),
    ],
)
async def test_an_upload_needs_a_file_and_a_purpose(
    fake: FakeTokenFactory, form: dict[str, Any], types: list[tuple[list[str], str]]
) -> None:
    data = aiohttp.FormData()
    for name, value in form.items():
        if isinstance(value, bytes):
            data.add_field(name, value, filename="t.jsonl")
        else:
            data.add_field(name, value)
    data.add_field("ignored", "so that the body is a multipart one")
    status, _, served = await call(fake, "POST", "/v1/files", data=data)
    assert status == 422
    assert [(p["loc"], p["type"]) for p in served["detail"]] == types
    assert fake.files == {}


@pytest.mark.anyio
async def test_a_broken_multipart_body_is_a_400(fake: FakeTokenFactory) -> None:
    headers = {"Content-Type": "multipart/form-data; boundary=b"}
    status, _, served = await call(
        fake, "POST", "/v1/files", data=b"--a\r\nnot it", headers=headers
    )
    assert (status, served) == (400, {"detail": "There was an error parsing the body"})


@pytest.mark.anyio
async def test_aiohttp_never_answers_with_its_own_pages(fake: FakeTokenFactory) -> None:
    status, _, body = await call(fake, "GET", "/v1/no/such/path")
    assert (status, body) == (404, {"detail": "Not Found"})
    status, headers, body = await call(fake, "DELETE", "/v1/fine_tuning/jobs")
    assert (status, body) == (405, {"detail": "Method Not Allowed"})
    assert set(headers["Allow"].split(",")) == {"GET", "POST"}
    status, _, body = await call(
        fake, "POST", "/v1/fine_tuning/jobs", data=io.BytesIO(b" " * (2 << 20)), headers=JSON_TYPE
    )
    # the phrase is the running Python's: "Content Too Large" from 3.13 on (RFC 9110)
    assert (status, body["detail"]) == (413, http.HTTPStatus(413).phrase)


@pytest.mark.anyio
async def test_a_422_carries_the_rate_limit_headers() -> None:
    async with FakeTokenFactory(rate_limit=0.1, rate_burst=3) as limited:
        status, headers, _ = await call(limited, "GET", "/v1/operations?limit=0")
    assert status == 422 and headers["x-ratelimit-remaining-requests"] == "2"
