"""JSON Schemas of tool inputs and outputs, from the library's types. Pure.

``msgspec.json.schema`` describes a Struct by reference (``{"$ref": ...}``); MCP wants an
object schema at the top, so the referenced definition is lifted there with the others
under ``$defs``. A few touches make them fit an agent, whose context every byte of
``tools/list`` takes: docstrings become one-line descriptions; titles (the class names,
already the ``$defs`` keys) are left out, and so are the defaults of outputs (the library
fills them in; a caller only needs them for inputs); and the API's open enums (a status
the server adds later still decodes) become strings that list the known values instead of
a closed ``enum``.
"""

from __future__ import annotations

from typing import Any

import msgspec

_REF_TEMPLATE = "#/$defs/{name}"
_SUBSCHEMA_MAPS = frozenset({"properties", "$defs"})
_SUBSCHEMA_LISTS = frozenset({"anyOf", "allOf", "oneOf"})


def schema_of(types: tuple[Any, ...], *, defaults: bool = True) -> dict[str, Any]:
    """The JSON Schema of a value of one of ``types`` (Structs), an object at the top.

    ``defaults=False`` leaves out each field's default (for an output schema).
    """
    tops, components = msgspec.json.schema_components(types, ref_template=_REF_TEMPLATE)
    left_out = {"title"} if defaults else {"title", "default"}
    definitions = {name: _opened(_tidied(schema, left_out)) for name, schema in components.items()}
    if len(tops) == 1:
        name = tops[0]["$ref"].rsplit("/", 1)[1]
        schema = dict(definitions.pop(name))
    else:
        schema = {"type": "object", "anyOf": list(tops)}
    if definitions:
        schema["$defs"] = definitions
    return schema


def _tidied(schema: dict[str, Any], left_out: set[str]) -> dict[str, Any]:
    tidy: dict[str, Any] = {}
    for keyword, value in schema.items():
        if keyword in left_out:
            continue
        if keyword in _SUBSCHEMA_MAPS:
            value = {name: _tidied(sub, left_out) for name, sub in value.items()}
        elif keyword in _SUBSCHEMA_LISTS:
            value = [_tidied(sub, left_out) for sub in value]
        elif keyword == "items" and isinstance(value, dict):
            value = _tidied(value, left_out)
        elif keyword == "description":
            value = " ".join(value.replace("``", "`").split())
        tidy[keyword] = value
    return tidy


def _opened(definition: dict[str, Any]) -> dict[str, Any]:
    """An enum definition as an open string (the API's enums all are); others as they are."""
    if "enum" not in definition:
        return definition
    opened = {keyword: value for keyword, value in definition.items() if keyword != "enum"}
    known = ", ".join(str(value) for value in definition["enum"])
    opened["type"] = "string"
    opened["description"] = f"{definition.get('description', '')} Known values: {known}.".strip()
    return opened
