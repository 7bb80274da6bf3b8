"""JSONL workload files: one request per line (`messages` or `prompt`, optional
`max_tokens`, `response_format`, `tools`, `tool_choice`, `expected`, `session`,
`think_time_s`, `tags`, `timestamp_ms`).

`timestamp_ms` on every line makes the file a fixed schedule: each line is sent once, at
its time after the measured phase starts (times --time-scale, within --trace-start-ms and
--trace-end-ms), lines in time order (sorted, the description says so, where they were not).

Lines with the same `session` are the turns of one conversation, in file order: each turn
sends the earlier turns' messages with the target's own answers as the assistant
messages, so a session line's own assistant messages are dropped.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

from costcli.files.errors import BadInputError
from costcli.files.readers import collect, parse_json, read_text, validate
from costcli.workloads.schema_check import schema_problem
from costcli.workloads.spec import RequestSpec, Workload, conversations

ROLES = ("system", "developer", "user", "assistant", "tool")
MAX_OUTPUT_TOKENS = 2**31 - 1
JSONL_KEYS = (
    "messages or prompt, max_tokens, response_format, tools, tool_choice, expected, "
    "session, think_time_s, tags, timestamp_ms"
)
JSONL_WHAT = "a JSONL workload file (one JSON object per line)"


class WorkloadMessage(BaseModel):
    """One chat message of a JSONL line; other OpenAI message fields pass through."""

    model_config = ConfigDict(extra="allow", frozen=True)

    role: StrictStr
    content: Any = None

    @field_validator("role")
    @classmethod
    def _known_role(cls, role: str) -> str:
        if role not in ROLES:
            raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
        return role

    @field_validator("content")
    @classmethod
    def _text_or_parts(cls, content: Any) -> Any:
        parts = isinstance(content, list) and all(isinstance(p, dict) for p in content)
        if content is not None and not isinstance(content, str) and not parts:
            raise ValueError("content must be a string or a list of content-part objects")
        return content

    @model_validator(mode="after")
    def _has_content(self) -> WorkloadMessage:
        if self.content is None and self.role != "assistant":
            raise ValueError(f"a {self.role} message needs 'content'")
        return self


class WorkloadLine(BaseModel):
    """One line of a JSONL workload: `messages` or `prompt`, and the optional keys."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    messages: list[WorkloadMessage] | None = Field(default=None, min_length=1)
    prompt: StrictStr | None = None
    max_tokens: StrictInt | None = Field(default=None, ge=1, le=MAX_OUTPUT_TOKENS)
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: StrictStr | dict[str, Any] | None = None
    expected: Any = None  # a string or an object: `_expected_kind`
    session: StrictStr | None = Field(default=None, min_length=1)
    think_time_s: float | None = Field(default=None, ge=0, le=3600)
    tags: list[StrictStr] = Field(default_factory=list)
    timestamp_ms: float | None = Field(default=None, ge=0)  # a fixed schedule

    @model_validator(mode="after")
    def _one_source(self) -> WorkloadLine:
        if self.messages is None and self.prompt is None:
            raise ValueError("missing key 'messages' or 'prompt'; add one")
        if self.messages is not None and self.prompt is not None:
            raise ValueError("both 'messages' and 'prompt' given; keep one")
        return self

    @field_validator("expected")
    @classmethod
    def _expected_kind(cls, expected: Any) -> Any:
        if expected is not None and not isinstance(expected, str | dict):
            raise ValueError(
                "give a string (the answer must contain it) or an object (fields the JSON "
                "answer must have)"
            )
        return expected

    @field_validator("tools")
    @classmethod
    def _usable_tools(cls, tools: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        for n, tool in enumerate(tools or ()):
            function = tool.get("function")
            if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                raise ValueError(
                    f"tool {n} needs a 'function' object with a 'name' (OpenAI format)"
                )
            params = function.get("parameters")
            why = schema_problem(params) if isinstance(params, dict) else None
            if why:
                raise ValueError(f"tool {n} '{function['name']}': parameters: {why}")
        return tools


def _jsonl_line(where: str, line: str, index: int) -> tuple[RequestSpec, float | None]:
    row = parse_json(where, line, "write one JSON object per line")
    if not isinstance(row, dict):
        raise BadInputError(f"{where}: not a JSON object; write one object per line ({JSONL_KEYS})")
    parsed = cast(WorkloadLine, validate(WorkloadLine, row, where))
    messages = row["messages"] if parsed.messages is not None else None
    if messages is None:
        messages = [{"role": "user", "content": parsed.prompt}]
    if parsed.session is not None:  # history comes from the target's own answers
        messages = [m for m in messages if m.get("role") != "assistant"]
        if not messages:
            raise BadInputError(
                f"{where}: key 'messages': a session turn needs a non-assistant message"
            )
    spec = RequestSpec(
        index,
        tuple(messages),
        parsed.max_tokens,
        parsed.response_format,
        tuple(parsed.tags),
        tools=tuple(parsed.tools or ()),
        tool_choice=parsed.tool_choice,
        expected=parsed.expected,
        session=parsed.session,
        think_time_s=parsed.think_time_s or 0.0,
    )
    return spec, parsed.timestamp_ms


def read_jsonl(path: Path) -> Workload:
    """Every line checked; all the problems of the file reported at once."""
    text = read_text(path, JSONL_WHAT)
    # split on newlines only: a JSON string may hold U+2028 and the like
    lines = [(n, line) for n, line in enumerate(text.split("\n"), 1) if line.strip()]
    parsed = collect(
        path,
        [
            functools.partial(_jsonl_line, f"{path}:{n}", line, i)
            for i, (n, line) in enumerate(lines)
        ],
    )
    specs = [spec for spec, _ in parsed]
    times = _schedule(path, [n for n, _ in lines], [at for _, at in parsed], specs)
    description = f"JSONL file {path}"
    if times is not None:
        order = sorted(range(len(specs)), key=times.__getitem__)  # stable
        if order != sorted(order):
            description += " (lines out of timestamp_ms order, sorted)"
        specs = [specs[i] for i in order]
        times = [times[i] for i in order]
    items, sessions = conversations(specs)
    # conversations resend their history; a shared system message is a prefix: both are
    # what prompt caches serve, so llama.cpp is asked to keep its cache for them
    shared = len({json.dumps(s.messages[0], sort_keys=True) for s in items}) < len(items)
    return Workload(
        path.name,
        description,
        tuple(items),
        sessions=sessions,
        cache_prompt=bool(sessions) or (shared and items[0].messages[0].get("role") == "system"),
        schedule_ms=tuple(times) if times is not None else None,
    )


def _schedule(
    path: Path, numbers: list[int], times: list[float | None], specs: list[RequestSpec]
) -> list[float] | None:
    """The lines' timestamp_ms, when they give them: all of them, and no conversations."""
    if all(at is None for at in times):
        return None
    for n, at, spec in zip(numbers, times, specs, strict=True):
        if at is None:
            raise BadInputError(
                f"{path}:{n}: missing key 'timestamp_ms' (other lines have it); give every "
                "line its send time, or none"
            )
        if spec.session is not None:
            raise BadInputError(
                f"{path}:{n}: key 'timestamp_ms' with 'session': a conversation's turns wait "
                "for the answers; drop one of them"
            )
    return [at for at in times if at is not None]
