"""What a finished answer is worth: schema checks, tool-call checks and graded answers.

- A JSON-schema task (`response_format` with a schema): the answer must validate, else the
  request is `invalid_output`.
- Tool calls: each streamed call must name one of the request's `tools`, and its assembled
  arguments must be JSON that validates against that tool's `parameters`, else the request
  is `invalid_output`. `output_valid` says whether the calls were valid.
- `expected` grades the answer: a string must occur in it (case-insensitive); an object's
  fields must all be in the answer parsed as JSON, with those values. A request that failed
  is graded wrong (it was scheduled to answer and did not).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Protocol

from costcli.workloads.schema_check import check_answer, problem

if TYPE_CHECKING:
    from costcli.workloads.spec import RequestSpec


class Graded(Protocol):
    """What grading reads and writes of a finished request (load.measure.Measurement)."""

    answer: str | None
    tool_calls: dict[int, list[str]]
    output_valid: bool | None
    error: str | None
    error_message: str | None
    correct: bool | None


def grade(rec: Graded, spec: RequestSpec, answer: str) -> None:
    """Fold the checks of a finished answer into `rec` (it succeeded on the wire)."""
    if spec.keeps_answer:
        rec.answer = answer
    found: str | None = None
    if spec.schema is not None:
        found = check_answer(answer, spec.schema)
        rec.output_valid = found is None
    if rec.tool_calls:
        calls = tool_call_problem(rec.tool_calls, spec.tools)
        rec.output_valid = calls is None and rec.output_valid is not False
        found = found or calls
    if found:
        rec.error, rec.error_message = "invalid_output", found
    if spec.expected is not None:
        rec.correct = found is None and is_correct(answer, spec.expected)


def tool_call_problem(calls: dict[int, list[str]], tools: tuple[dict[str, Any], ...]) -> str | None:
    """None when every call names a known tool with valid arguments; else the first reason."""
    schemas = {}
    for tool in tools:
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            params = function.get("parameters")
            schemas[function["name"]] = params if isinstance(params, dict) else {}
    for index in sorted(calls):
        name, *pieces = calls[index]
        if name not in schemas:
            return f"tool call {index}: '{name}' is not one of the request's tools"
        text = "".join(pieces)
        try:
            arguments = json.loads(text or "{}")
        except ValueError as exc:
            return f"tool call {index} ({name}): arguments are not JSON: {exc}"
        wrong = problem(arguments, schemas[name])
        if wrong:
            return f"tool call {index} ({name}): {wrong}"
    return None


def answer_json(answer: str) -> Any:
    """The answer as JSON: whole, else the outermost {...} in it (models wrap JSON in prose
    or code fences); None when neither parses."""
    for text in (answer, answer[answer.find("{") : answer.rfind("}") + 1]):
        try:
            return json.loads(text)
        except ValueError:
            continue
    return None


def is_correct(answer: str, expected: str | dict[str, Any]) -> bool:
    if isinstance(expected, str):
        return expected.casefold() in answer.casefold()
    value = answer_json(answer)
    if not isinstance(value, dict):
        return False
    return all(key in value and _same(value[key], want) for key, want in expected.items())


def _same(got: Any, want: Any) -> bool:
    """Equal values; strings compared case-insensitively and trimmed, 1 == 1.0, not True."""
    if isinstance(want, str) and isinstance(got, str):
        return got.strip().casefold() == want.strip().casefold()
    if isinstance(want, bool) or isinstance(got, bool):
        return got is want
    return bool(got == want)
