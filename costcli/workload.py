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


# --- built-in content ----------------------------------------------------------------------

_CHAT_PROMPTS = (
    "Explain in two sentences what a hash map is.",
    "Give three tips for writing a clear commit message.",
    "What is the difference between latency and throughput?",
    "Summarise the plot of Romeo and Juliet in one paragraph.",
    "Write a haiku about a server room at night.",
    "Why is the sky blue? Answer briefly.",
    "List four uses of a Raspberry Pi.",
    "How does HTTPS keep a connection private? Keep it short.",
    "Suggest a name for a coffee shop run by robots.",
    "What should I check before deploying a web app on Friday?",
    "Explain recursion to a ten-year-old.",
    "What are the pros and cons of working remotely?",
    "Translate 'good morning, how are you?' into French and Spanish.",
    "Describe the water cycle in three steps.",
    "Give me a short packing list for a weekend hike.",
    "What is a p99 latency, in plain words?",
)

_LONG_TOPICS = ("the history of the bicycle", "how compilers optimise loops", "tidal energy")

_WORDS = [
    "the",
    "system",
    "request",
    "model",
    "token",
    "server",
    "client",
    "latency",
    "cost",
    "month",
    "budget",
    "provider",
    "queue",
    "cache",
    "prompt",
    "answer",
    "stream",
    "chunk",
    "network",
    "load",
    "user",
    "team",
    "report",
    "metric",
    "value",
    "time",
    "scale",
    "price",
    "hardware",
    "energy",
    "replica",
    "peak",
    "mean",
    "share",
    "tier",
    "limit",
    "window",
    "record",
]

_EXTRACT_CASES = (
    ("Maria Lopez, 34, moved from Seville to Berlin last spring to work as a nurse.", 34),
    ("Age 52, Tom Becker runs a bakery in Hamburg and has lived there all his life.", 52),
    ("Aiko Tanaka is a 27-year-old architect based in Osaka.", 27),
    ("The pilot, Samuel Okafor (41), commutes between Lagos and London.", 41),
    ("Retired teacher Ingrid Nilsson, aged 68, now lives in Uppsala.", 68),
    ("Software engineer Priya Raman, 30, works remotely from Pune.", 30),
    ("At 45, Lucas Moreau opened a wine shop in Bordeaux.", 45),
    ("Chen Wei is 23 and studies physics in Shanghai.", 23),
)

EXTRACT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "age": {"type": "integer", "minimum": 0, "maximum": 130},
        "city": {"type": "string", "minLength": 1},
    },
    "required": ["name", "age", "city"],
    "additionalProperties": False,
}


def _filler(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(max(1, words)))


def _chat_short() -> Workload:
    items = tuple(
        RequestSpec(i, ({"role": "user", "content": p},), max_tokens=64, tags=("chat",))
        for i, p in enumerate(_CHAT_PROMPTS)
    )
    return Workload("chat-short", "short chat questions, answers up to 64 tokens", items)


def _long_context() -> Workload:
    rng = random.Random(7)
    items = []
    for i, topic in enumerate(_LONG_TOPICS * 2):
        doc = _filler(rng, 3000)
        content = f"Here are notes on {topic}:\n\n{doc}\n\nIn two sentences, what are they about?"
        items.append(RequestSpec(i, ({"role": "user", "content": content},), max_tokens=64))
    return Workload("long-context", "~4k-token prompts, answers up to 64 tokens", tuple(items))


def _json_extract() -> Workload:
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "person", "schema": EXTRACT_SCHEMA, "strict": True},
    }
    items = tuple(
        RequestSpec(
            i,
            (
                {"role": "system", "content": "Extract the person's name, age and city as JSON."},
                {"role": "user", "content": text},
            ),
            max_tokens=64,
            response_format=response_format,
            tags=("json",),
            extra={"expected_age": age},
        )
        for i, (text, age) in enumerate(_EXTRACT_CASES)
    )
    return Workload(
        "json-extract", "extract name/age/city; answers must match a JSON schema", items
    )


_HANDBOOK_TOPICS = (
    "refunds", "shipping", "warranty", "accounts", "privacy", "billing", "returns",
    "support hours", "escalation", "discounts", "gift cards", "subscriptions",
)  # fmt: skip

_SHARED_QUESTIONS = (
    "A customer asks how long a refund takes. Answer in one sentence.",
    "Can a gift card be used with a discount? Answer briefly.",
    "What are the support hours? One sentence.",
    "How does a customer escalate a complaint? Be brief.",
    "Is the warranty transferable? Answer in one sentence.",
    "How is shipping to another country billed? One sentence.",
    "Can a subscription be paused? Answer briefly.",
    "What happens to a return without a receipt? One sentence.",
)


def shared_system_prompt() -> str:
    """A long, fixed support handbook (about 1,500 words, over 1,100 tokens with any common
    tokenizer): the common prefix that prompt caches serve."""
    rng = random.Random(11)
    sections = [
        "You are the support assistant of Northwind Outfitters. Follow this handbook exactly."
    ]
    for n, topic in enumerate(_HANDBOOK_TOPICS, 1):
        rules = " ".join(f"Rule {n}.{k}: {_filler(rng, 18)}." for k in range(1, 7))
        sections.append(f"Section {n}, {topic}. {rules}")
    return "\n\n".join(sections)


def _shared_prefix() -> Workload:
    system = {"role": "system", "content": shared_system_prompt()}
    items = tuple(
        RequestSpec(i, (system, {"role": "user", "content": q}), max_tokens=48, tags=("cache",))
        for i, q in enumerate(_SHARED_QUESTIONS)
    )
    return Workload(
        "shared-prefix",
        "one long common system prompt (>1,100 tokens), then short questions: prompt caching",
        items,
        cache_prompt=True,
    )


WEATHER_TOOLS: tuple[dict[str, Any], ...] = (
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "minLength": 1},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["city"],
                "additionalProperties": False,
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Status of a customer order by its id, like AB-1234.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string", "pattern": "^[A-Z]{2}-[0-9]{4}$"}},
                "required": ["order_id"],
                "additionalProperties": False,
            },
        },
    },
)

_TOOL_PROMPTS = (
    "What is the weather in Lisbon right now, in celsius?",
    "Is it raining in Seattle? Use fahrenheit.",
    "Where is my order KT-4821?",
    "How warm is it in Nairobi today?",
    "Check the status of order ZX-0007 for me.",
    "Do I need a coat in Oslo this morning?",
)


def _tool_call() -> Workload:
    items = tuple(
        RequestSpec(
            i,
            (
                {"role": "system", "content": "Use a tool whenever one can answer."},
                {"role": "user", "content": prompt},
            ),
            max_tokens=96,
            tools=WEATHER_TOOLS,
            tool_choice="auto",
            tags=("tools",),
        )
        for i, prompt in enumerate(_TOOL_PROMPTS)
    )
    return Workload(
        "tool-call", "weather and order-lookup tools; arguments checked against the schema", items
    )


_CONVERSATIONS = (
    (
        "I am planning three days in Lisbon. Suggest one thing to do each day.",
        "Which of those would you skip if it rains?",
        "Sum up the final plan in one sentence.",
    ),
    (
        "Explain what a database index is, in two sentences.",
        "When would an index make writes slower?",
        "Give one rule of thumb that follows from your answers.",
    ),
    (
        "Name three houseplants that need little light.",
        "Which of them is safest for cats?",
        "Repeat that plant's name and one care tip.",
    ),
)


def _conversation() -> Workload:
    items: list[RequestSpec] = []
    for k, turns in enumerate(_CONVERSATIONS):
        for t, question in enumerate(turns):
            items.append(
                RequestSpec(
                    len(items),
                    ({"role": "user", "content": question},),
                    max_tokens=96,
                    tags=("conversation",),
                    session=f"c{k + 1}",
                    turn=t,
                )
            )
    n = len(_CONVERSATIONS[0])
    sessions = tuple(tuple(range(k * n, k * n + n)) for k in range(len(_CONVERSATIONS)))
    return Workload(
        "conversation",
        "3-turn conversations; each turn carries the target's own earlier answers",
        tuple(items),
        sessions=sessions,
        cache_prompt=True,
    )


_GRADED_CASES = (
    ("Maria Lopez, 34, moved from Seville to Berlin last spring to work as a nurse.",
     "Maria Lopez", 34, "Berlin"),
    ("Age 52, Tom Becker runs a bakery in Hamburg and has lived there all his life.",
     "Tom Becker", 52, "Hamburg"),
    ("Aiko Tanaka is a 27-year-old architect based in Osaka.", "Aiko Tanaka", 27, "Osaka"),
    ("Retired teacher Ingrid Nilsson, aged 68, now lives in Uppsala.",
     "Ingrid Nilsson", 68, "Uppsala"),
    ("Software engineer Priya Raman, 30, works remotely from Pune.", "Priya Raman", 30, "Pune"),
    ("At 45, Lucas Moreau opened a wine shop in Bordeaux.", "Lucas Moreau", 45, "Bordeaux"),
    ("Chen Wei is 23 and studies physics in Shanghai.", "Chen Wei", 23, "Shanghai"),
    ("Fatima Zahra, 39, teaches chemistry at a school in Casablanca.",
     "Fatima Zahra", 39, "Casablanca"),
)  # fmt: skip


def _extract_graded() -> Workload:
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "person", "schema": EXTRACT_SCHEMA, "strict": True},
    }
    system = "Extract the person's name, age and the city they live or work in, as JSON."
    items = tuple(
        RequestSpec(
            i,
            ({"role": "system", "content": system}, {"role": "user", "content": text}),
            max_tokens=64,
            response_format=response_format,
            tags=("graded",),
            expected={"name": name, "age": age, "city": city},
        )
        for i, (text, name, age, city) in enumerate(_GRADED_CASES)
    )
    return Workload(
        "extract-graded",
        "JSON extraction graded against expected fields: accuracy, cost per correct answer",
        items,
    )


BUILTINS = {
    "chat-short": _chat_short,
    "long-context": _long_context,
    "json-extract": _json_extract,
    "shared-prefix": _shared_prefix,
    "tool-call": _tool_call,
    "conversation": _conversation,
    "extract-graded": _extract_graded,
}
SYNTHETIC_HELP = (
    "synthetic:input=512,output=128[,input_std=0,output_std=0,dist=normal|uniform,n=100]"
)


def _synthetic_options(options: str) -> dict[str, str]:
    opts: dict[str, str] = {}
    for part in filter(None, options.split(",")):
        key, sep, value = part.partition("=")
        if not sep:
            raise BadInputError(
                f"--workload synthetic: '{part}' is not KEY=VALUE; use {SYNTHETIC_HELP}"
            )
        opts[key.strip()] = value.strip()
    known = {"input", "output", "input_std", "output_std", "dist", "n"}
    for key in opts:
        if key not in known:
            raise BadInputError(f"--workload synthetic: unknown key '{key}'; use {SYNTHETIC_HELP}")
    return opts


def _synthetic(options: str, seed: int) -> Workload:
    opts = _synthetic_options(options)
    try:
        mean_in, mean_out = int(opts.get("input", 256)), int(opts.get("output", 64))
        std_in, std_out = float(opts.get("input_std", 0)), float(opts.get("output_std", 0))
        n = int(opts.get("n", 100))
    except ValueError as exc:
        raise BadInputError(f"--workload synthetic: {exc}; use {SYNTHETIC_HELP}") from None
    dist = opts.get("dist", "normal")
    if dist not in ("normal", "uniform"):
        raise BadInputError(f"--workload synthetic: key 'dist' is '{dist}'; use normal or uniform")
    rng = random.Random(seed)

    def sample(mean: int, std: float) -> int:
        if std <= 0:
            return mean
        if dist == "uniform":
            return max(1, round(rng.uniform(mean - std * 3**0.5, mean + std * 3**0.5)))
        return max(1, round(rng.gauss(mean, std)))

    items = []
    for i in range(max(1, n)):
        words, out = sample(mean_in, std_in), sample(mean_out, std_out)
        content = _filler(rng, words)
        msg = ({"role": "user", "content": content},)
        items.append(RequestSpec(i, msg, max_tokens=out, exact_output_tokens=True))
    name = f"synthetic:input={mean_in},output={mean_out},input_std={std_in:g},output_std={std_out:g},dist={dist},n={n}"
    return Workload(
        name, "synthetic prompts (~1 token per word), fixed output lengths", tuple(items)
    )


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
    if name in BUILTINS:
        workload = BUILTINS[name]()
        if seed:
            workload = _shuffled(workload, seed)
    elif name.startswith("synthetic"):
        workload = _synthetic(name.partition(":")[2], seed)
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
