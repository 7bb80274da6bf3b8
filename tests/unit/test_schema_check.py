"""The answer validator for JSON-schema tasks (json-extract)."""

from __future__ import annotations

import pytest

from costcli.schema_check import check_answer, problems
from costcli.workload import EXTRACT_SCHEMA


def test_a_matching_answer_passes() -> None:
    assert check_answer('{"name": "Aiko", "age": 27, "city": "Osaka"}', EXTRACT_SCHEMA) is None


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("Aiko, 27, Osaka", "not JSON"),
        ('{"name": "Aiko", "city": "Osaka"}', "missing 'age'"),
        ('{"name": "Aiko", "age": "27", "city": "Osaka"}', "$.age: expected integer"),
        ('{"name": "Aiko", "age": true, "city": "Osaka"}', "$.age: expected integer"),
        ('{"name": "Aiko", "age": 200, "city": "Osaka"}', "$.age: above 130"),
        ('{"name": "", "age": 27, "city": "Osaka"}', "$.name: shorter than 1"),
        ('{"name": "A", "age": 27, "city": "O", "x": 1}', "unexpected key 'x'"),
        ("[]", "expected object"),
    ],
)
def test_a_broken_answer_says_why(answer: str, reason: str) -> None:
    found = check_answer(answer, EXTRACT_SCHEMA)
    assert found is not None
    assert reason in found


def test_integer_accepts_a_whole_float_and_number_rejects_bool() -> None:
    assert problems(3.0, {"type": "integer"}) == []
    assert problems(3.5, {"type": "integer"})
    assert problems(False, {"type": "number"})
    assert problems(None, {"type": ["string", "null"]}) == []


def test_arrays_enums_patterns_and_combinators() -> None:
    schema = {"type": "array", "items": {"enum": ["a", "b"]}, "minItems": 1, "maxItems": 2}
    assert problems(["a"], schema) == []
    assert problems([], schema) == ["$: fewer than 1 items"]
    assert problems(["a", "b", "a"], schema) == ["$: more than 2 items"]
    assert problems(["c"], schema) == ["$[0]: 'c' is not one of ['a', 'b']"]
    assert problems("abc", {"pattern": "^a"}) == []
    assert problems("xbc", {"pattern": "^a"})
    assert problems(1, {"anyOf": [{"type": "string"}, {"type": "integer"}]}) == []
    assert problems(1.5, {"anyOf": [{"type": "string"}, {"type": "integer"}]})
    assert problems(1, {"oneOf": [{"type": "number"}, {"type": "integer"}]})  # both match
    assert problems(5, {"allOf": [{"minimum": 1}, {"maximum": 3}]}) == ["$: above 3"]
    assert problems({"k": 1}, {"additionalProperties": {"type": "string"}}) == [
        "$.k: expected string, got int"
    ]
    assert problems("x", {"const": "y"}) == ["$: expected 'y'"]
    assert problems("x", {"unknownKeyword": 1}) == []
