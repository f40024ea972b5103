"""Unit tests for nebius_ft_async._errors: the hierarchy and the pure response mapping."""

from __future__ import annotations

import pytest

from nebius_ft_async._errors import (
    EXCERPT_BYTES,
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
    decode_error,
    error_class_for_status,
    parse_error_body,
    status_error,
)
from nebius_ft_async._models import ValidationErrorItem

VALIDATION_BODY = (
    b'{"detail": ['
    b'{"loc": ["body", "hyperparameters", "batch_size"], "msg": "Input should be less than'
    b' or equal to 64", "type": "less_than_equal", "ctx": {"le": 64}},'
    b'{"loc": ["body", "integrations", 0, "wandb", "project"], "msg": "Field required",'
    b' "type": "missing"}'
    b"]}"
)


# --- status -> class --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, InternalServerError),
        (502, InternalServerError),
        (503, InternalServerError),
        (418, APIStatusError),
    ],
)
def test_error_class_for_status(status: int, expected: type[APIStatusError]) -> None:
    assert error_class_for_status(status) is expected


# --- parse_error_body -------------------------------------------------------------------


def test_parse_fastapi_string_detail() -> None:
    summary, detail = parse_error_body(b'{"detail": "Fine-tuning job ftjob-1 not found"}')

    assert summary == "Fine-tuning job ftjob-1 not found"
    assert detail == "Fine-tuning job ftjob-1 not found"


def test_parse_fastapi_validation_list_detail() -> None:
    summary, detail = parse_error_body(VALIDATION_BODY)

    assert summary == (
        "body.hyperparameters.batch_size: Input should be less than or equal to 64; "
        "body.integrations.0.wandb.project: Field required"
    )
    assert isinstance(detail, list)
    assert len(detail) == 2
    assert detail[0]["loc"] == ["body", "hyperparameters", "batch_size"]
    assert detail[0]["type"] == "less_than_equal"
    assert detail[1]["msg"] == "Field required"


def test_parse_validation_item_without_loc_shows_only_msg() -> None:
    summary, _ = parse_error_body(b'{"detail": [{"msg": "bad", "type": "value_error"}]}')

    assert summary == "bad"


def test_parse_fastapi_object_detail_is_summarised_as_json() -> None:
    summary, detail = parse_error_body(b'{"detail": {"reason": "quota"}}')

    assert summary == '{"reason":"quota"}'
    assert detail == {"reason": "quota"}


def test_parse_openai_style_error() -> None:
    body = b'{"error": {"message": "Invalid API key", "type": "auth_error", "code": null}}'

    summary, detail = parse_error_body(body)

    assert summary == "Invalid API key"
    assert detail == {"error": {"message": "Invalid API key", "type": "auth_error", "code": None}}


def test_parse_top_level_message() -> None:
    summary, detail = parse_error_body(b'{"message": "Service unavailable"}')

    assert summary == "Service unavailable"
    assert detail == {"message": "Service unavailable"}


def test_parse_non_json_html_body() -> None:
    body = b"<html>\n  <body>\n    <h1>502 Bad Gateway</h1>\n  </body>\n</html>\n"

    summary, detail = parse_error_body(body)

    # The summary is one line with whitespace collapsed; the detail keeps the text.
    assert summary == "<html> <body> <h1>502 Bad Gateway</h1> </body> </html>"
    assert "\n" not in summary
    assert detail == body.decode()


def test_parse_long_non_json_body_summary_is_truncated() -> None:
    body = b"x" * 5000

    summary, detail = parse_error_body(body)

    assert summary == "x" * 200 + "..."
    assert detail == "x" * EXCERPT_BYTES


@pytest.mark.parametrize("body", [b"", b"   \r\n\t "])
def test_parse_empty_body(body: bytes) -> None:
    assert parse_error_body(body) == ("", None)


def test_parse_unrecognised_json_keeps_parsed_value() -> None:
    summary, detail = parse_error_body(b'["oops", 1]')

    assert summary == '["oops", 1]'
    assert detail == ["oops", 1]


# --- status_error -----------------------------------------------------------------------


def test_status_error_message_names_status_request_detail_and_request_id() -> None:
    error = status_error(
        404,
        "Not Found",
        b'{"detail": "Fine-tuning job ftjob-1 not found"}',
        method="GET",
        path="/v1/fine_tuning/jobs/ftjob-1",
        request_id="req-abc",
    )

    assert isinstance(error, NotFoundError)
    message = str(error)
    assert "404" in message
    assert "Not Found" in message
    assert "GET" in message
    assert "/v1/fine_tuning/jobs/ftjob-1" in message
    assert "Fine-tuning job ftjob-1 not found" in message
    assert "req-abc" in message
    assert message == (
        "HTTP 404 Not Found on GET /v1/fine_tuning/jobs/ftjob-1: "
        "Fine-tuning job ftjob-1 not found [request id req-abc]"
    )


def test_status_error_keeps_attributes() -> None:
    error = status_error(
        429,
        "Too Many Requests",
        b'{"error": {"message": "slow down"}}',
        method="POST",
        path="/v1/fine_tuning/jobs",
        request_id="req-1",
        retry_after=3.5,
    )

    assert isinstance(error, RateLimitError)
    assert error.status_code == 429
    assert error.request_id == "req-1"
    assert error.retry_after == 3.5
    assert error.method == "POST"
    assert error.path == "/v1/fine_tuning/jobs"
    assert error.detail == {"error": {"message": "slow down"}}
    assert error.attempts == 1
    assert "slow down" in str(error)


def test_status_error_without_body_reason_or_request_id() -> None:
    error = status_error(
        503, "", b"", method="DELETE", path="/v1/fine_tuning/jobs/x", request_id=None
    )

    assert isinstance(error, InternalServerError)
    assert str(error) == "HTTP 503 on DELETE /v1/fine_tuning/jobs/x"
    assert error.detail is None
    assert error.request_id is None
    assert error.retry_after is None


def test_unprocessable_entity_errors_are_parsed() -> None:
    error = status_error(
        422,
        "Unprocessable Entity",
        VALIDATION_BODY,
        method="POST",
        path="/v1/fine_tuning/jobs",
        request_id=None,
    )

    assert isinstance(error, UnprocessableEntityError)
    assert error.errors == [
        ValidationErrorItem(
            loc=["body", "hyperparameters", "batch_size"],
            msg="Input should be less than or equal to 64",
            type="less_than_equal",
        ),
        ValidationErrorItem(
            loc=["body", "integrations", 0, "wandb", "project"],
            msg="Field required",
            type="missing",
        ),
    ]
    assert "body.hyperparameters.batch_size" in str(error)


def test_unprocessable_entity_errors_empty_when_detail_is_not_a_list() -> None:
    error = status_error(
        422,
        "Unprocessable Entity",
        b'{"detail": "bad input"}',
        method="POST",
        path="/v1/fine_tuning/jobs",
        request_id=None,
    )

    assert isinstance(error, UnprocessableEntityError)
    assert error.errors == []


def test_unprocessable_entity_errors_empty_when_list_is_malformed() -> None:
    error = UnprocessableEntityError("x", status_code=422, detail=[{"loc": {"not": "a list"}}])

    assert error.errors == []


# --- decode_error -----------------------------------------------------------------------


def test_decode_error_keeps_at_most_2048_bytes_and_a_short_message() -> None:
    body = b"<html>" + b"a" * 10_000 + b"</html>"

    error = decode_error(
        200,
        "text/html",
        body,
        "expected JSON",
        method="GET",
        path="/v1/fine_tuning/jobs/x",
        request_id="req-9",
    )

    assert isinstance(error, ResponseDecodeError)
    assert EXCERPT_BYTES == 2048
    assert len(error.body_excerpt.encode()) == 2048
    assert error.body_excerpt == body[:2048].decode()
    assert len(str(error)) < 500
    assert "..." in str(error)
    assert error.status_code == 200
    assert error.content_type == "text/html"
    assert error.request_id == "req-9"
    assert error.method == "GET"
    assert error.path == "/v1/fine_tuning/jobs/x"


def test_decode_error_message_names_the_problem() -> None:
    error = decode_error(
        200,
        "application/json",
        b'{"id": 1}',
        "Expected `str`, got `int` - at `$.id`",
        method="GET",
        path="/v1/fine_tuning/jobs/x",
        request_id="req-2",
    )

    message = str(error)
    assert "GET /v1/fine_tuning/jobs/x" in message
    assert "HTTP 200" in message
    assert "application/json" in message
    assert "Expected `str`, got `int`" in message
    assert '{"id": 1}' in message
    assert "req-2" in message
    assert error.body_excerpt == '{"id": 1}'


def test_decode_error_with_empty_body_and_no_content_type() -> None:
    error = decode_error(204, "", b"", "empty body", method="GET", path="/v1/x", request_id=None)

    assert "<empty body>" in str(error)
    assert "content type none" in str(error)
    assert "request id" not in str(error)
    assert error.body_excerpt == ""


def test_decode_error_replaces_invalid_utf8() -> None:
    error = decode_error(
        200, "application/json", b"\xff\xfeabc", "bad", method="GET", path="/v1/x", request_id=None
    )

    assert error.body_excerpt == "\ufffd\ufffdabc"


# --- APIError.__str__ and the hierarchy -------------------------------------------------


def test_api_error_str_mentions_attempts_when_more_than_one() -> None:
    error = APIConnectionError("connection refused", method="GET", path="/v1/x", attempts=3)

    assert str(error) == "connection refused (after 3 attempts)"
    assert error.message == "connection refused"


def test_api_error_str_without_retries_is_the_message() -> None:
    error = APIError("boom", attempts=1)

    assert str(error) == "boom"
    assert "attempt" not in str(error)


def test_api_error_attempts_can_be_updated_after_creation() -> None:
    error = status_error(
        500, "Internal Server Error", b"", method="GET", path="/x", request_id=None
    )
    error.attempts = 3

    assert str(error).endswith("(after 3 attempts)")


@pytest.mark.parametrize(
    ("child", "parent"),
    [
        (RateLimitError, APIStatusError),
        (APIStatusError, APIError),
        (APIError, NebiusError),
        (NebiusError, Exception),
        (APITimeoutError, APIConnectionError),
        (APIConnectionError, APIError),
        (ResponseDecodeError, APIError),
        (ConfigurationError, ValueError),
        (ConfigurationError, NebiusError),
        (BadRequestError, APIStatusError),
        (AuthenticationError, APIStatusError),
        (PermissionDeniedError, APIStatusError),
        (NotFoundError, APIStatusError),
        (ConflictError, APIStatusError),
        (UnprocessableEntityError, APIStatusError),
        (InternalServerError, APIStatusError),
    ],
)
def test_hierarchy(child: type[Exception], parent: type[Exception]) -> None:
    assert issubclass(child, parent)


@pytest.mark.parametrize(
    ("cls", "not_parent"),
    [
        (APIConnectionError, APIStatusError),
        (ResponseDecodeError, APIStatusError),
        (ResponseDecodeError, APIConnectionError),
        (APIError, ValueError),
        (ConfigurationError, APIError),
    ],
)
def test_hierarchy_branches_are_separate(cls: type[Exception], not_parent: type[Exception]) -> None:
    assert not issubclass(cls, not_parent)


def test_rate_limit_error_is_caught_as_every_ancestor() -> None:
    error = status_error(429, "Too Many Requests", b"", method="GET", path="/v1/x", request_id=None)

    for ancestor in (RateLimitError, APIStatusError, APIError, NebiusError):
        with pytest.raises(ancestor):
            raise error
