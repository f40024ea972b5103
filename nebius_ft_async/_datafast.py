"""The fast path of the data-file check: typed msgspec decoders that accept only clean lines.

A line that decodes into these Structs (unknown keys refused) and passes the few checks below
has no problem the full check could report, so only its counts are needed; anything else
(a tool conversation, an unknown key, a blank answer, bad JSON) returns ``None`` and goes
through the full check in ``_datacheck``, which says what is wrong. The fast path only saves
time: both paths give the same report (a property test holds them to it).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec


class _Clean(msgspec.Struct, forbid_unknown_fields=True):
    pass


class CleanMessage(_Clean):
    # tool messages and tool calls always take the full check (ids to match, arguments)
    role: Literal["system", "user", "assistant"]
    content: str


class CleanChat(_Clean):
    messages: Annotated[list[CleanMessage], msgspec.Meta(min_length=1)]


class CleanInstruction(_Clean):
    prompt: str
    completion: str


class CleanText(_Clean):
    text: str


class CleanTokens(_Clean):
    token_ids: Annotated[list[Annotated[int, msgspec.Meta(ge=0)]], msgspec.Meta(min_length=1)]
    labels: list[Annotated[int, msgspec.Meta(ge=-100)]] | None = None


Clean = CleanChat | CleanInstruction | CleanText | CleanTokens

_DECODERS: dict[str, msgspec.json.Decoder[Clean]] = {
    "conversational": msgspec.json.Decoder(CleanChat),
    "instruction": msgspec.json.Decoder(CleanInstruction),
    "text": msgspec.json.Decoder(CleanText),
    "pretokenized": msgspec.json.Decoder(CleanTokens),
}
_MASKED = frozenset({-100})


def clean_example(data_format: str, raw: bytes) -> Clean | None:
    """The example on ``raw`` if it is a clean example of ``data_format``, else ``None``."""
    try:
        example = _DECODERS[data_format].decode(raw)
    except (msgspec.DecodeError, ValueError, RecursionError):  # ValueError: bad UTF-8
        return None
    if isinstance(example, CleanChat):
        last = example.messages[-1]
        return example if last.role == "assistant" and not blank(last.content) else None
    if isinstance(example, CleanInstruction):
        clean = not (blank(example.prompt) or blank(example.completion))
        return example if clean else None
    if isinstance(example, CleanText):
        return None if blank(example.text) else example
    labels = example.labels
    if labels is None:
        return example
    if len(labels) != len(example.token_ids):
        return None
    # labels are token ids or -100; min() first spares the set for labels with no mask
    if labels and min(labels) < 0 and min(set(labels) - _MASKED, default=0) < 0:
        return None
    return example


def blank(text: str) -> bool:
    """Empty or only whitespace."""
    return not text or text.isspace()
