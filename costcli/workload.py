"""Workloads: the requests every target receives, in the same order.

Sources: built-in named workloads (`chat-short`, `long-context`, `json-extract`,
`shared-prefix`, `tool-call`, `conversation`, `extract-graded`), synthetic workloads
(`synthetic:input=512,output=128,input_std=64,dist=normal`), ShareGPT files
(`sharegpt:FILE`, costcli/datasets.py) and JSONL files (one request per line: `messages` or
`prompt`, optional `max_tokens`, `response_format`, `tools`, `tool_choice`, `expected`,
`session`, `think_time_s`, `tags`). A seed fixes the order and any sampled lengths; the same
name, seed and options always give the same requests (and the same sha256).

Lines with the same `session` are the turns of one conversation, in file order
(costcli/sessions.py runs them): each turn sends the earlier turns' messages with the
target's own answers as the assistant messages, so a session line's own assistant
messages are dropped.
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
import uuid
from dataclasses import dataclass, field, replace
from functools import cached_property
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

from costcli.errors import BadInputError
from costcli.readers import collect, parse_json, read_text, validate
from costcli.schema_check import schema_problem


@dataclass(frozen=True, slots=True)
class DatasetOptions:
    """How much of a dataset to use: at most `max_turns` turns per conversation, a seeded
    sample of `sample` conversations (None: all of them)."""

    max_turns: int | None = None
    sample: int | None = None


@dataclass(frozen=True, slots=True)
class RequestSpec:
    """One request of a workload, the same for every target."""

    index: int
    messages: tuple[dict[str, Any], ...]
    max_tokens: int | None = None
    response_format: dict[str, Any] | None = None
    tags: tuple[str, ...] = ()
    exact_output_tokens: bool = False  # ask servers that document it to ignore EOS
    cache_prompt: bool = False  # allow server-side prompt caching (llama.cpp)
    extra: dict[str, Any] = field(default_factory=dict)
    tools: tuple[dict[str, Any], ...] = ()  # OpenAI `tools`, sent as given
    tool_choice: Any = None
    expected: str | dict[str, Any] | None = None  # grades the answer (costcli/grading.py)
    session: str | None = None  # the conversation this turn belongs to
    turn: int | None = None  # 0-based turn index within its session
    think_time_s: float = 0.0  # pause before this turn, after the previous answer

    @property
    def keeps_answer(self) -> bool:
        """Whether the answer text is needed after the stream: checks, grading, history."""
        return self.schema is not None or self.expected is not None or self.session is not None

    @property
    def schema(self) -> dict[str, Any] | None:
        """The JSON schema the answer must validate against, if any."""
        rf = self.response_format or {}
        if rf.get("type") == "json_schema":
            schema = (rf.get("json_schema") or {}).get("schema")
            return schema if isinstance(schema, dict) else None
        return None

    def prompt_words(self) -> int:
        return sum(len(str(m.get("content", "")).split()) for m in self.messages)


@dataclass(frozen=True)
class Workload:
    """A named, hashed sequence of request templates; `request(i)` cycles through them."""

    name: str
    description: str
    items: tuple[RequestSpec, ...]
    unique_prefix: bool = False
    max_tokens: int | None = None  # overrides every item's max_tokens when set
    cache_prompt: bool = False
    # conversations: each a tuple of indices into `items`, its turns in order
    sessions: tuple[tuple[int, ...], ...] = ()

    def __post_init__(self) -> None:
        if not self.items:
            raise BadInputError(f"workload '{self.name}' has no requests; add at least one")

    def turns(self, k: int, first_index: int) -> tuple[RequestSpec, ...]:
        """The turns of the k-th conversation (cycling), numbered from `first_index`."""
        chosen = self.sessions[k % len(self.sessions)]
        return tuple(self.prepare(self.items[i], first_index + n) for n, i in enumerate(chosen))

    def request(self, i: int) -> RequestSpec:
        return self.prepare(self.items[i % len(self.items)], i)

    def prepare(self, base: RequestSpec, i: int) -> RequestSpec:
        """A template made into request `i`: run-wide options and `--unique-prefix` applied."""
        spec = replace(base, index=i, cache_prompt=self.cache_prompt)
        if self.max_tokens is not None:
            spec = replace(spec, max_tokens=self.max_tokens)
        if self.unique_prefix:
            # a unique first token defeats prefix caches, so TTFT is not flattered
            tag = uuid.UUID(int=random.Random(f"{self.sha256}:{i}").getrandbits(128))
            first, *rest = spec.messages
            first = {**first, "content": f"[request {tag}] {first.get('content', '')}"}
            spec = replace(spec, messages=(first, *rest))
        return spec

    @cached_property
    def sha256(self) -> str:
        canon = [
            {
                "messages": list(s.messages),
                "max_tokens": s.max_tokens,
                "response_format": s.response_format,
                "exact": s.exact_output_tokens,
                **_optional_identity(s),
            }
            for s in self.items
        ]
        blob = json.dumps(canon, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()


def _optional_identity(spec: RequestSpec) -> dict[str, Any]:
    """The keys that make a request different, only where set: older workloads keep their
    sha256."""
    keys = {
        "tools": list(spec.tools) or None,
        "tool_choice": spec.tool_choice,
        "expected": spec.expected,
        "session": spec.session,
        "think_time_s": spec.think_time_s or None,
    }
    return {k: v for k, v in keys.items() if v is not None}


ROLES = ("system", "developer", "user", "assistant", "tool")
MAX_OUTPUT_TOKENS = 2**31 - 1
JSONL_KEYS = (
    "messages or prompt, max_tokens, response_format, tools, tool_choice, expected, "
    "session, think_time_s, tags"
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


def _jsonl_line(where: str, line: str, index: int) -> RequestSpec:
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
    return RequestSpec(
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


def conversations(
    specs: list[RequestSpec],
) -> tuple[list[RequestSpec], tuple[tuple[int, ...], ...]]:
    """Specs numbered as turns of their sessions, and the sessions in order of first
    appearance (a line without a session is a conversation of one turn). No sessions: ()."""
    if all(s.session is None for s in specs):
        return specs, ()
    groups: dict[str, list[int]] = {}
    numbered = []
    for i, spec in enumerate(specs):
        key = spec.session if spec.session is not None else f"\0{i}"
        turns = groups.setdefault(key, [])
        numbered.append(replace(spec, turn=len(turns)) if spec.session is not None else spec)
        turns.append(i)
    return numbered, tuple(tuple(g) for g in groups.values())


def _jsonl(path: Path) -> Workload:
    """Every line checked; all the problems of the file reported at once."""
    text = read_text(path, JSONL_WHAT)
    # split on newlines only: a JSON string may hold U+2028 and the like
    lines = [(n, line) for n, line in enumerate(text.split("\n"), 1) if line.strip()]
    specs = collect(
        path,
        [
            functools.partial(_jsonl_line, f"{path}:{n}", line, i)
            for i, (n, line) in enumerate(lines)
        ],
    )
    items, sessions = conversations(specs)
    # conversations resend their history; a shared system message is a prefix: both are
    # what prompt caches serve, so llama.cpp is asked to keep its cache for them
    shared = len({json.dumps(s.messages[0], sort_keys=True) for s in items}) < len(items)
    return Workload(
        path.name,
        f"JSONL file {path}",
        tuple(items),
        sessions=sessions,
        cache_prompt=bool(sessions) or (shared and items[0].messages[0].get("role") == "system"),
    )


CACHE_PREFIX_WORDS = 256  # a common first message this long is worth caching


def workload_facts(wl: Workload) -> list[str]:
    """What the workload measures beyond plain chat, one line each."""
    items = wl.items
    lines = []
    if wl.sessions:
        low, high = min(map(len, wl.sessions)), max(map(len, wl.sessions))
        span = f"{low}" if low == high else f"{low}-{high}"
        lines.append(
            f"{len(wl.sessions)} conversations of {span} turns; each turn carries the "
            "target's own earlier answers (--sessions N)"
        )
    if any(s.tools for s in items):
        names = sorted({t["function"]["name"] for s in items for t in s.tools})
        lines.append(
            f"tools: {', '.join(names)}; arguments that are not JSON or break the tool's "
            "parameters are invalid_output"
        )
    graded = sum(1 for s in items if s.expected is not None)
    if graded:
        lines.append(f"{graded} graded answers (expected): accuracy, cost per correct answer")
    first = {json.dumps(s.messages[0], sort_keys=True) for s in items}
    words = len(str(items[0].messages[0].get("content", "")).split())
    if len(first) == 1 and len(items) > 1 and words >= CACHE_PREFIX_WORDS:
        lines.append(
            f"a common first message of {words} words (a prompt-cache prefix); "
            "--unique-prefix defeats caching"
        )
    if wl.cache_prompt:
        lines.append("asks llama.cpp to keep its prompt cache (cache_prompt)")
    return lines


def _shuffled(workload: Workload, seed: int) -> Workload:
    """The same requests in a seeded order: conversations keep their turns in order."""
    rng = random.Random(seed)
    if workload.sessions:
        sessions = list(workload.sessions)
        rng.shuffle(sessions)
        return replace(workload, sessions=tuple(sessions))
    items = list(workload.items)
    rng.shuffle(items)
    return replace(workload, items=tuple(items))


def load_workload(
    name: str,
    *,
    seed: int = 0,
    unique_prefix: bool = False,
    max_tokens: int | None = None,
    dataset: DatasetOptions | None = None,
) -> Workload:
    """A built-in name, `synthetic:...`, `sharegpt:FILE`, or a path to a JSONL file."""
    from costcli.builtin_workloads import BUILTINS, SYNTHETIC_HELP, synthetic

    if name in BUILTINS:
        workload = BUILTINS[name]()
        if seed:
            workload = _shuffled(workload, seed)
    elif name.startswith("synthetic"):
        workload = synthetic(name.partition(":")[2], seed)
    elif name.startswith("sharegpt:"):
        from costcli.datasets import sharegpt_workload

        workload = sharegpt_workload(Path(name.partition(":")[2]), dataset, seed)
    elif Path(name).exists():
        workload = _jsonl(Path(name))
        if seed and workload.sessions:
            workload = _shuffled(workload, seed)
    else:
        raise BadInputError(
            f"--workload {name}: no built-in workload or file of that name; use one of "
            f"{', '.join(BUILTINS)}, {SYNTHETIC_HELP}, sharegpt:FILE, or a path to a JSONL file"
        )
    # a workload built to measure prompt caching asks llama.cpp to keep its prefix
    # (`cache_prompt`); --unique-prefix defeats every cache anyway
    return replace(workload, unique_prefix=unique_prefix, max_tokens=max_tokens)
