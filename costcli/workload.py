"""Workloads: the requests every target receives, in the same order.

Sources: built-in named workloads (`chat-short`, `long-context`, `json-extract`),
synthetic workloads (`synthetic:input=512,output=128,input_std=64,dist=normal`) and JSONL
files (one request per line: `messages` or `prompt`, optional `max_tokens`,
`response_format`, `tags`). A seed fixes the order and any sampled lengths; the same
name, seed and options always give the same requests (and the same sha256).
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

    def __post_init__(self) -> None:
        if not self.items:
            raise BadInputError(f"workload '{self.name}' has no requests; add at least one")

    def request(self, i: int) -> RequestSpec:
        base = self.items[i % len(self.items)]
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
            }
            for s in self.items
        ]
        blob = json.dumps(canon, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()


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


BUILTINS = {
    "chat-short": _chat_short,
    "long-context": _long_context,
    "json-extract": _json_extract,
}
SYNTHETIC_HELP = (
    "synthetic:input=512,output=128[,input_std=0,output_std=0,dist=normal|uniform,n=100]"
)


def _synthetic(options: str, seed: int) -> Workload:  # noqa: C901 (issue 12 reworks workloads)
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
JSONL_KEYS = "messages or prompt, max_tokens, response_format, tags"
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
    tags: list[StrictStr] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_source(self) -> WorkloadLine:
        if self.messages is None and self.prompt is None:
            raise ValueError("missing key 'messages' or 'prompt'; add one")
        if self.messages is not None and self.prompt is not None:
            raise ValueError("both 'messages' and 'prompt' given; keep one")
        return self


def _jsonl_line(where: str, line: str, index: int) -> RequestSpec:
    row = parse_json(where, line, "write one JSON object per line")
    if not isinstance(row, dict):
        raise BadInputError(f"{where}: not a JSON object; write one object per line ({JSONL_KEYS})")
    parsed = cast(WorkloadLine, validate(WorkloadLine, row, where))
    messages = row["messages"] if parsed.messages is not None else None
    if messages is None:
        messages = [{"role": "user", "content": parsed.prompt}]
    return RequestSpec(
        index,
        tuple(messages),
        parsed.max_tokens,
        parsed.response_format,
        tuple(parsed.tags),
    )


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
    return Workload(path.name, f"JSONL file {path}", tuple(specs))


def load_workload(
    name: str,
    *,
    seed: int = 0,
    unique_prefix: bool = False,
    max_tokens: int | None = None,
    cache_prompt: bool = False,
) -> Workload:
    """A built-in name, `synthetic:...`, or a path to a JSONL file."""
    if name in BUILTINS:
        workload = BUILTINS[name]()
        if seed:
            items = list(workload.items)
            random.Random(seed).shuffle(items)
            workload = replace(workload, items=tuple(items))
    elif name.startswith("synthetic"):
        workload = _synthetic(name.partition(":")[2], seed)
    elif Path(name).exists():
        workload = _jsonl(Path(name))
    else:
        raise BadInputError(
            f"--workload {name}: no built-in workload or file of that name; use one of "
            f"{', '.join(BUILTINS)}, {SYNTHETIC_HELP}, or a path to a JSONL file"
        )
    return replace(
        workload, unique_prefix=unique_prefix, max_tokens=max_tokens, cache_prompt=cache_prompt
    )
