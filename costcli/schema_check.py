"""Validate a model's answer against the JSON schema of a `json-extract`-style task.

A small validator for the JSON Schema keywords that structured-output APIs accept
(OpenAI strict mode, llama.cpp grammars): type, properties, required,
additionalProperties, items, enum, const, min/maxItems, min/maxLength, minimum/maximum,
pattern, anyOf/oneOf/allOf. Unknown keywords are ignored, as a validator must.
"""

from __future__ import annotations

import json
import re
from typing import Any

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def _is_type(value: Any, name: str) -> bool:
    if name in ("integer", "number") and isinstance(value, bool):
        return False
    if name == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES.get(name, (object,)))


def problems(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:  # noqa: C901 (replaced by a JSON Schema library, issue 12)
    """Every way `value` breaks `schema`, as 'path: reason' lines (empty when valid)."""
    out: list[str] = []
    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        if not any(_is_type(value, k) for k in kinds):
            return [f"{path}: expected {'/'.join(kinds)}, got {type(value).__name__}"]
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if "const" in schema and value != schema["const"]:
        out.append(f"{path}: expected {schema['const']!r}")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        out += [f"{path}: missing '{k}'" for k in schema.get("required", []) if k not in value]
        for key, item in value.items():
            if key in props:
                out += problems(item, props[key], f"{path}.{key}")
            elif schema.get("additionalProperties") is False:
                out.append(f"{path}: unexpected key '{key}'")
            elif isinstance(schema.get("additionalProperties"), dict):
                out += problems(item, schema["additionalProperties"], f"{path}.{key}")
    if isinstance(value, list):
        if "items" in schema and isinstance(schema["items"], dict):
            for i, item in enumerate(value):
                out += problems(item, schema["items"], f"{path}[{i}]")
        if len(value) < schema.get("minItems", 0):
            out.append(f"{path}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            out.append(f"{path}: more than {schema['maxItems']} items")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            out.append(f"{path}: shorter than {schema['minLength']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            out.append(f"{path}: longer than {schema['maxLength']}")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            out.append(f"{path}: does not match {schema['pattern']!r}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            out.append(f"{path}: below {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            out.append(f"{path}: above {schema['maximum']}")
    for sub in schema.get("allOf", []):
        out += problems(value, sub, path)
    if "anyOf" in schema and all(problems(value, s, path) for s in schema["anyOf"]):
        out.append(f"{path}: matches none of anyOf")
    if "oneOf" in schema and sum(not problems(value, s, path) for s in schema["oneOf"]) != 1:
        out.append(f"{path}: does not match exactly one of oneOf")
    return out


def check_answer(text: str, schema: dict[str, Any]) -> str | None:
    """None when `text` is JSON that validates; else the first reason it does not."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        return f"not JSON: {exc}"
    found = problems(value, schema)
    return found[0] if found else None
