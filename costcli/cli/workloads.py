"""`costcli workloads list|show`."""

from __future__ import annotations

import json

import typer

app = typer.Typer(help="Built-in workloads and what they send.", no_args_is_help=True)


@app.command("list")
def list_workloads() -> None:
    """The built-in workloads."""
    from costcli.workloads.builtin import BUILTINS, SYNTHETIC_HELP
    from costcli.workloads.jsonl import JSONL_KEYS

    for name, build in BUILTINS.items():
        wl = build()
        typer.echo(f"{name:14} {len(wl.items):3} requests  {wl.description}")
    typer.echo(f"{'synthetic':14}   -           {SYNTHETIC_HELP}")
    typer.echo(
        f"{'sharegpt:FILE':14}   -           ShareGPT JSON as conversations "
        "(--max-turns, --sample, --seed)"
    )
    typer.echo(f"{'FILE.jsonl':14}   -           one request per line: {JSONL_KEYS}")
    typer.echo(
        f"{'mooncake:FILE':14}   -           a Mooncake trace on its own schedule "
        "(--time-scale, --trace-start-ms, --block-tokens; `costcli trace analyze FILE`)"
    )


@app.command("show")
def show_workload(
    name: str = typer.Argument(..., help="Built-in name, synthetic:..., or a JSONL file."),
    seed: int = typer.Option(0, "--seed"),
    limit: int = typer.Option(3, "--limit", help="How many requests to print."),
) -> None:
    """What a workload sends, as JSON lines."""
    from costcli.workloads.sources import load_workload
    from costcli.workloads.spec import workload_facts

    wl = load_workload(name, seed=seed)
    typer.echo(
        f"# {wl.name}: {wl.description} · {len(wl.items)} requests · sha256 {wl.sha256[:16]}"
    )
    for line in workload_facts(wl):
        typer.echo(f"# {line}")
    for i in range(min(limit, len(wl.items))):
        spec = wl.request(i)
        row: dict[str, object] = {"messages": list(spec.messages), "max_tokens": spec.max_tokens}
        if spec.response_format:
            row["response_format"] = spec.response_format
        for key in ("session", "turn", "expected", "tool_choice"):
            if getattr(spec, key) is not None:
                row[key] = getattr(spec, key)
        if spec.tools:
            row["tools"] = [t.get("function", {}).get("name") for t in spec.tools]
        if spec.think_time_s:
            row["think_time_s"] = spec.think_time_s
        typer.echo(json.dumps(row)[:2000])
