"""Where a workload comes from, by its name: a built-in (`chat-short`, `long-context`,
`json-extract`, `shared-prefix`, `tool-call`, `conversation`, `extract-graded`), a
synthetic shape (`synthetic:input=512,output=128,input_std=64,dist=normal`), a ShareGPT
file (`sharegpt:FILE`), a Mooncake trace (`mooncake:FILE`) or a JSONL file.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from costcli.files.errors import BadInputError
from costcli.workloads.builtin import BUILTINS, SYNTHETIC_HELP, synthetic
from costcli.workloads.jsonl import read_jsonl
from costcli.workloads.mooncake import TraceOptions, fixed_window, mooncake_workload
from costcli.workloads.sharegpt import sharegpt_workload
from costcli.workloads.spec import DatasetOptions, Workload, shuffled


def load_workload(
    name: str,
    *,
    seed: int = 0,
    unique_prefix: bool = False,
    max_tokens: int | None = None,
    dataset: DatasetOptions | None = None,
    trace: TraceOptions | None = None,
) -> Workload:
    """A built-in name, `synthetic:...`, `sharegpt:FILE`, `mooncake:FILE`, or a path to a
    JSONL file. `trace`: how a fixed schedule (a trace, JSONL with timestamp_ms) is
    replayed."""

    if name in BUILTINS:
        workload = BUILTINS[name]()
        if seed:
            workload = shuffled(workload, seed)
    elif name.startswith("synthetic"):
        workload = synthetic(name.partition(":")[2], seed)
    elif name.startswith("sharegpt:"):
        workload = sharegpt_workload(Path(name.partition(":")[2]), dataset, seed)
    elif name.startswith("mooncake:"):
        workload = mooncake_workload(name, trace)
    elif Path(name).exists():
        workload = read_jsonl(Path(name))
        if seed and workload.sessions:
            workload = shuffled(workload, seed)
        if workload.schedule_ms is not None:
            workload = fixed_window(workload, trace or TraceOptions())
    else:
        raise BadInputError(
            f"--workload {name}: no built-in workload or file of that name; use one of "
            f"{', '.join(BUILTINS)}, {SYNTHETIC_HELP}, sharegpt:FILE, mooncake:FILE, or a path to a JSONL file"
        )
    # a workload built to measure prompt caching asks llama.cpp to keep its prefix
    # (`cache_prompt`); --unique-prefix defeats every cache anyway
    return replace(workload, unique_prefix=unique_prefix, max_tokens=max_tokens)
