"""Validate a model's answer (or a tool call's arguments) against a JSON Schema.

The validator is `fastjsonschema` (pure Python, no dependencies): each schema is compiled
once into a Python function and cached. A schema that cannot be compiled is a problem of
the workload; `schema_problem` names it, so loaders can reject the file before any request.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import fastjsonschema

Validator = Callable[[Any], Any]


@functools.lru_cache(maxsize=256)
def _compiled(schema_json: str) -> Validator:
    return fastjsonschema.compile(json.loads(schema_json))


def _validator(schema: dict[str, Any]) -> Validator:
    return _compiled(json.dumps(schema, sort_keys=True))


def schema_problem(schema: dict[str, Any]) -> str | None:
    """None when `schema` is a usable JSON Schema; else why not."""
    try:
        _validator(schema)
    except (fastjsonschema.JsonSchemaDefinitionException, TypeError, ValueError) as exc:
        return str(exc)
    return None


def problem(value: Any, schema: dict[str, Any]) -> str | None:
    """None when `value` validates; else the first reason, with `$` for the root."""
    try:
        _validator(schema)(value)
    except fastjsonschema.JsonSchemaValueException as exc:
        message = str(exc.message)
        return "$" + message[4:] if message.startswith("data") else message
    except fastjsonschema.JsonSchemaDefinitionException as exc:
        return f"the schema cannot be used: {exc}"
    return None


def check_answer(text: str, schema: dict[str, Any]) -> str | None:
    """None when `text` is JSON that validates; else the first reason it does not."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        return f"not JSON: {exc}"
    return problem(value, schema)
