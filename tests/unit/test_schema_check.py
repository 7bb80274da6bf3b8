"""The answer validator for JSON-schema tasks (json-extract) and tool-call arguments."""

from __future__ import annotations

import pytest

from costcli.workloads.builtin import EXTRACT_SCHEMA
from costcli.workloads.schema_check import check_answer, problem, schema_problem


def test_a_matching_answer_passes() -> None:
    assert check_answer('{"name": "Aiko", "age": 27, "city": "Osaka"}', EXTRACT_SCHEMA) is None


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("Aiko, 27, Osaka", "not JSON"),
        ('{"name": "Aiko", "city": "Osaka"}', "$ must contain ['age'] properties"),
        ('{"name": "Aiko", "age": "27", "city": "Osaka"}', "$.age must be integer"),
        ('{"name": "Aiko", "age": true, "city": "Osaka"}', "$.age must be integer"),
        ('{"name": "Aiko", "age": 200, "city": "Osaka"}', "$.age must be smaller than or equal"),
        ('{"name": "", "age": 27, "city": "Osaka"}', "$.name must be longer than or equal to 1"),
        ('{"name": "A", "age": 27, "city": "O", "x": 1}', "must not contain {'x'}"),
        ("[]", "$ must be object"),
    ],
)
def test_a_broken_answer_says_why(answer: str, reason: str) -> None:
    found = check_answer(answer, EXTRACT_SCHEMA)
    assert found is not None
    assert reason in found


def test_integer_accepts_a_whole_float_and_number_rejects_bool() -> None:
    assert problem(3.0, {"type": "integer"}) is None
    assert problem(3.5, {"type": "integer"})
    assert problem(False, {"type": "number"})
    assert problem(None, {"type": ["string", "null"]}) is None


def test_arrays_enums_patterns_and_combinators() -> None:
    schema = {"type": "array", "items": {"enum": ["a", "b"]}, "minItems": 1, "maxItems": 2}
    assert problem(["a"], schema) is None
    assert problem([], schema)
    assert problem(["a", "b", "a"], schema)
    assert problem(["c"], schema)
    assert problem("abc", {"pattern": "^a"}) is None
    assert problem("xbc", {"pattern": "^a"})
    assert problem(1, {"anyOf": [{"type": "string"}, {"type": "integer"}]}) is None
    assert problem(1.5, {"anyOf": [{"type": "string"}, {"type": "integer"}]})
    assert problem(1, {"oneOf": [{"type": "number"}, {"type": "integer"}]})  # both match
    assert problem(5, {"allOf": [{"minimum": 1}, {"maximum": 3}]})
    assert problem({"k": 1}, {"additionalProperties": {"type": "string"}}) == "$.k must be string"
    assert problem("x", {"const": "y"})
    assert problem("x", {"unknownKeyword": 1}) is None


def test_a_schema_that_cannot_be_compiled_is_named() -> None:
    bad = {"type": "object", "required": ["a"], "properties": {}, "additionalProperties": False}
    assert schema_problem(bad) is not None
    assert schema_problem(EXTRACT_SCHEMA) is None
    assert "cannot be used" in (problem({}, bad) or "")
