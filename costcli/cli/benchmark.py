"""A command's options over the benchmark file: which options were given on the command
line (the parameter source Typer records), the file's values under them, and where each came from.

`costcli run [NAME]`, `costcli config show [NAME]`, `costcli check` and `costcli project`
read the benchmark file (costcli/files/benchmark.py) through here. An option given on the
command line (or through its environment variable) wins over the file; the file wins over
the option's default.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from costcli.cli.options import GIVEN
from costcli.files.benchmark import Benchmark, BenchmarkFile, build, find_file, path_fields
from costcli.files.benchmark import resolve_paths as _resolve_paths
from costcli.files.benchmark import unknown_keys as _unknown_keys
from costcli.files.errors import BadInputError

if TYPE_CHECKING:
    from costcli.plan import RunPlan

DEFAULT = "default"
NO_FILE = (
    "no benchmark file here (costcli.toml, or [tool.costcli] in pyproject.toml); "
    "create one or pass --config FILE"
)


def given_options(opts: Any) -> set[str]:
    """The options dataclass's fields given by the user, not left at their defaults.

    Under a command built by `command_of`, each option's parameter source says so; called
    from Python, a field that differs from its declared default counts as given."""
    named = GIVEN.get()
    if named is not None:
        return set(named)
    return {
        f.name
        for f in dataclasses.fields(opts)
        if getattr(opts, f.name) != getattr(f.default, "default", f.default)
    }


def flag_of(opts: Any, name: str) -> str:
    """The option's first long flag (`--concurrency`), for "where it came from"."""
    for f in dataclasses.fields(opts):
        if f.name == name:
            decls = getattr(f.default, "param_decls", ()) or ()
            longs = [d for d in decls if d.startswith("--")]
            return longs[0] if longs else name
    return name


def benchmark_file(config: Path | None, name: str | None, command: str) -> BenchmarkFile | None:
    """The file in force; a NAME without a file is refused in one line."""
    found = find_file(config)
    if found is None and name is not None:
        raise BadInputError(f"costcli {command} {name}: {NO_FILE}")
    return found


def _workload(bench: Benchmark, text: Any) -> Any:
    """A workload naming a file (JSONL, sharegpt:FILE) is read from the file's folder."""
    from costcli.workloads.builtin import BUILTINS

    if not isinstance(text, str) or text in BUILTINS or text.startswith("synthetic"):
        return text
    if text.startswith("sharegpt:"):
        return "sharegpt:" + str(bench.path(text.partition(":")[2]))
    return str(bench.path(text)) if bench.path(text).exists() else text


def file_values(bench: Benchmark) -> tuple[dict[str, Any], dict[str, str]]:
    """The benchmark's plan fields (flat: load settings beside the others), relative paths
    read from its folder, and the source of each."""
    from costcli.load.schedule import LoadSettings
    from costcli.plan import RunPlan

    raw = dict(bench.plan)
    nested = raw.pop("load", None)
    if isinstance(nested, dict):
        _unknown_keys(f"{bench.file} [{bench.table}.load]", nested, LoadSettings.model_fields)
        raw = {**nested, **raw}
    elif nested is not None:
        raise BadInputError.at(bench.where, "load", "is not a table", "write load = { ... }")
    known = RunPlan.model_fields.keys() | LoadSettings.model_fields.keys()
    _unknown_keys(bench.where, raw, known)
    values = _resolve_paths(bench, raw, path_fields(RunPlan, LoadSettings))
    if "workload" in values:
        values["workload"] = _workload(bench, values["workload"])
    return values, dict.fromkeys(values, bench.where)


def run_plan(
    opts: Any, names: dict[str, str], parse: dict[str, Any], presentation: frozenset[str]
) -> tuple[RunPlan, Benchmark | None, dict[str, str]]:
    """`costcli run`'s plan: from its options alone where no benchmark file is found, else
    the named (or default) benchmark with the options given on the command line over it.
    Returns the plan, the benchmark, and where each plan field came from. `opts` is
    `cli.run.RunOptions`; `names`, `parse` and `presentation` (cli.run's PLAN_NAMES, PARSE,
    PRESENTATION) say how each flag becomes its plan field."""
    from costcli.cli.options import plan_values
    from costcli.load.schedule import LoadSettings
    from costcli.plan import RunPlan

    found = benchmark_file(opts.config, opts.name, "run")
    given = given_options(opts)
    if found is None:
        plan = RunPlan.parse(**opts.plan_options())
        return (
            plan,
            None,
            {names.get(g, g): f"command line ({flag_of(opts, g)})" for g in given},
        )
    bench = found.benchmark(opts.name)
    values, sources = file_values(bench)
    known = RunPlan.model_fields.keys() | LoadSettings.model_fields.keys()
    options = plan_values(opts, known, names, parse, presentation)
    for flag in sorted(given):
        name = names.get(flag, flag)
        if name in options:
            values[name] = options[name]
            sources[name] = f"command line ({flag_of(opts, flag)})"
    if getattr(opts, "search_steps", None) is not None:  # a field of the plan's search
        from costcli.load.search import with_steps

        values["search"] = with_steps(values.get("search"), opts.search_steps)
        sources["search"] = "command line (--search-steps)"
    return build(RunPlan, values, bench.where), bench, sources


def plan_rows(plan: RunPlan, sources: dict[str, str]) -> list[tuple[str, Any, str]]:
    """(field, value, source) for every plan field, load settings flat among them."""
    dumped = plan.model_dump(mode="json")
    load = dumped.pop("load")
    rows = [(k, v, sources.get(k, DEFAULT)) for k, v in dumped.items()]
    rows += [(k, v, sources.get(k, DEFAULT)) for k, v in load.items()]
    return rows


def projection_values(bench: Benchmark, options: dict[str, Any], given: set[str]) -> dict[str, Any]:
    """ProjectionPlan options: the benchmark's [project] table (its providers and prices
    those of the benchmark's plan unless it names its own) under the given options."""
    from costcli.pricing.projection import ProjectionPlan

    plan_files: dict[str, Any] = {
        k: bench.plan[k] for k in ("providers", "prices") if k in bench.plan
    }
    values = _resolve_paths(bench, {**plan_files, **bench.project}, path_fields(ProjectionPlan))
    values.update({k: v for k, v in options.items() if k in given})
    return values


def benchmark_scenario(opts: Any, names: dict[str, str]) -> tuple[Any, dict[str, Any]]:
    """`costcli project`'s options and ProjectionPlan values over the benchmark file: its
    results file (where it exists) and its [project] table, under the flags given
    (`names`: cli.project's flags spelled otherwise than their plan field)."""
    found = benchmark_file(opts.config, opts.benchmark, "project --benchmark")
    if found is None:
        return opts, opts.plan_options()
    bench = found.benchmark(opts.benchmark)
    from costcli.pricing.projection import ProjectionPlan

    where = f"{bench.file} [{bench.table}.project]"
    _unknown_keys(where, bench.project, ProjectionPlan.model_fields)
    given = given_options(opts)
    volume_flags = {"requests_per_month", "requests_per_day"}
    if not volume_flags & given and "requests_per_month" in bench.project:
        opts = dataclasses.replace(opts, requests_per_month=bench.project["requests_per_month"])
        given |= {"requests_per_month"}
    if opts.results is None and bench.output.exists():
        opts = dataclasses.replace(opts, results=bench.output)
    fields = {names.get(g, g) for g in given} | (
        {"requests_per_month"} if volume_flags & given else set()
    )
    return opts, projection_values(bench, opts.plan_options(), fields)
