"""The built-in workloads: their content and how each is built (`costcli workloads list`).

`chat-short`, `long-context`, `json-extract`, `shared-prefix` (a long common system prompt:
prompt caching), `tool-call` (a small weather/order tool set), `conversation` (3-turn
sessions), `extract-graded` (JSON extraction with expected fields), and `synthetic:...`.
"""

from __future__ import annotations

import random
from typing import Any

from costcli.files.errors import BadInputError
from costcli.workloads.spec import RequestSpec, Workload

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


def synthetic(options: str, seed: int) -> Workload:
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
