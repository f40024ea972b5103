"""JSON Schemas of tool inputs and outputs, from the library's types. Pure.

``msgspec.json.schema`` describes a Struct by reference (``{"$ref": ...}``); MCP wants an
object schema at the top, so the referenced definition is lifted there with the others
under ``$defs``. Two touches make them fit an agent and the server: docstrings become
one-line descriptions, and the API's open enums (a status the server adds later still
decodes) become strings that list the known values instead of a closed ``enum``.
"""

from __future__ import annotations

from typing import Any

import msgspec

_REF_TEMPLATE = "#/$defs/{name}"


def schema_of(types: tuple[Any, ...]) -> dict[str, Any]:
    """The JSON Schema of a value of one of ``types`` (Structs), an object at the top."""
    tops, components = msgspec.json.schema_components(types, ref_template=_REF_TEMPLATE)
    definitions = {name: _tidied(schema) for name, schema in components.items()}
    if len(tops) == 1:
        name = tops[0]["$ref"].rsplit("/", 1)[1]
        schema = dict(definitions.pop(name))
    else:
        schema = {"type": "object", "anyOf": list(tops)}
    if definitions:
        schema["$defs"] = definitions
    return schema


def _tidied(schema: dict[str, Any]) -> dict[str, Any]:
    tidy = dict(schema)
    if "description" in tidy:
        tidy["description"] = _one_line(tidy["description"])
    if "enum" in tidy:  # the API's enums are open: newer values decode and are sent on
        known = ", ".join(str(value) for value in tidy.pop("enum"))
        tidy["type"] = "string"
        tidy["description"] = f"{tidy.get('description', '')} Known values: {known}.".strip()
    return tidy


def _one_line(text: str) -> str:
    return " ".join(text.replace("``", "`").split())
