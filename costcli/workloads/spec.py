"""The requests every target receives: `RequestSpec` (one request's template) and
`Workload` (a named, hashed sequence of them; conversations as index tuples).

A seed fixes the order and any sampled lengths; the same name, seed and options always
give the same requests (and the same sha256). Lines with the same `session` are the turns
of one conversation, in order (costcli/load/sessions.py runs them).
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from costcli.files.errors import BadInputError


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
    # a fixed schedule: item i is sent once, at schedule_ms[i] after the phase starts
    # (a trace, or JSONL lines with timestamp_ms); None: the load settings schedule it
    schedule_ms: tuple[float, ...] | None = None

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


def shuffled(workload: Workload, seed: int) -> Workload:
    """The same requests in a seeded order: conversations keep their turns in order."""
    rng = random.Random(seed)
    if workload.sessions:
        sessions = list(workload.sessions)
        rng.shuffle(sessions)
        return replace(workload, sessions=tuple(sessions))
    items = list(workload.items)
    rng.shuffle(items)
    return replace(workload, items=tuple(items))
