"""`costcli run`: measure targets on one workload, print the comparison, keep the results."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from costcli.cli.options import (
    command_of,
    live_display_allowed,
    parse_slo,
    plan_values,
    stderr_console,
)
from costcli.cli.spend import spend_cap_message, spend_preflight
from costcli.files.errors import BadInputError, CheckFailedError, UnreachableError
from costcli.render import FORMATS

if TYPE_CHECKING:
    from costcli.cli.progress import PlainObserver, QuietObserver, RichObserver
    from costcli.plan import RunPlan
    from costcli.results.document import RunResult

DEFAULT_TARGET = "llamacpp"


def _observer(quiet: bool, no_progress: bool) -> PlainObserver | QuietObserver | RichObserver:
    from costcli.cli.progress import PlainObserver, QuietObserver, RichObserver

    if quiet:
        return QuietObserver()
    if live_display_allowed(no_progress):
        return RichObserver(stderr_console())
    return PlainObserver()


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """`costcli run`'s options, each declared once: its flag, help and panel here, its plan
    field by name (`plan_options`)."""

    target: list[str] = typer.Option(
        [],
        "--target",
        "-t",
        help="PROVIDER[:MODEL]; repeat to compare. Default: the managed local llama.cpp server, swept at concurrency 1,2,4 within ttft=1000,tpot=50 when no load option is given.",
        rich_help_panel="Targets and workload",
    )
    workload: str = typer.Option(
        "chat-short",
        "--workload",
        "-w",
        help="Built-in name, synthetic:..., sharegpt:FILE, mooncake:FILE, or a JSONL file.",
        rich_help_panel="Targets and workload",
    )
    requests: int | None = typer.Option(
        None,
        "--requests",
        "-n",
        min=1,
        help="Stop after N measured requests (default 16 unless --duration; the default run: 8 per load point).",
        rich_help_panel="Load",
    )
    duration: float | None = typer.Option(
        None,
        "--duration",
        min=0.1,
        help="Stop sending after S seconds.",
        rich_help_panel="Load",
    )
    sessions: int | None = typer.Option(
        None,
        "--sessions",
        min=1,
        help="Conversational workloads: run N conversations.",
        rich_help_panel="Targets and workload",
    )
    max_turns: int | None = typer.Option(
        None,
        "--max-turns",
        min=1,
        help="Datasets: at most N turns per conversation.",
        rich_help_panel="Targets and workload",
    )
    sample: int | None = typer.Option(
        None,
        "--sample",
        min=1,
        help="Datasets: a seeded sample of N conversations.",
        rich_help_panel="Targets and workload",
    )
    concurrency: int | None = typer.Option(
        None,
        "--concurrency",
        "-c",
        min=1,
        help="Closed loop: requests in flight (default 1).",
        rich_help_panel="Load",
    )
    rate: float | None = typer.Option(
        None,
        "--rate",
        min=0.001,
        help="Open loop: requests per second.",
        rich_help_panel="Load",
    )
    arrival: str = typer.Option(
        "constant",
        "--arrival",
        help="Open-loop arrivals: constant, poisson or gamma.",
        rich_help_panel="Load",
    )
    burstiness: float = typer.Option(
        1.0,
        "--burstiness",
        min=0.01,
        help="Gamma shape (1 = poisson, <1 burstier).",
        rich_help_panel="Load",
    )
    max_concurrency: int | None = typer.Option(
        None,
        "--max-concurrency",
        min=1,
        help="Cap on in-flight requests in an open loop.",
        rich_help_panel="Load",
    )
    warmup: int = typer.Option(
        0, "--warmup", min=0, help="Requests sent first and not counted.", rich_help_panel="Load"
    )
    max_tokens: int | None = typer.Option(
        None,
        "--max-tokens",
        min=1,
        help="max_tokens for every request.",
        rich_help_panel="Targets and workload",
    )
    timeout: float = typer.Option(
        120.0,
        "--timeout",
        min=0.1,
        help="Seconds one request may take in all.",
        rich_help_panel="Load",
    )
    max_retries: int = typer.Option(
        0,
        "--max-retries",
        min=0,
        help="Retries after a 429 (honours retry-after).",
        rich_help_panel="Load",
    )
    max_error_rate: float | None = typer.Option(
        None,
        "--max-error-rate",
        min=0.0,
        max=1.0,
        help="Stop and exit 1 past this share of failures.",
        rich_help_panel="Load",
    )
    seed: int = typer.Option(
        0,
        "--seed",
        help="Fixes the workload order and sampled lengths.",
        rich_help_panel="Targets and workload",
    )
    unique_prefix: bool = typer.Option(
        False,
        "--unique-prefix",
        help="A unique prefix per request, so prompt caches cannot flatter TTFT.",
        rich_help_panel="Targets and workload",
    )
    slo: list[str] = typer.Option(
        [],
        "--slo",
        help="ttft=MS, tpot=MS, e2e=MS: goodput counts requests meeting all.",
        rich_help_panel="SLO and sweep",
    )
    sweep: str | None = typer.Option(
        None,
        "--sweep",
        help="concurrency=1,2,4 or rate=0.5,1,2: capacity within the SLO.",
        rich_help_panel="SLO and sweep",
    )
    search: str | None = typer.Option(
        None,
        "--search",
        help="concurrency or rate[=START[..LIMIT]]: find the highest load within --slo (bracket by doubling, then bisect to 10%).",
        rich_help_panel="SLO and sweep",
    )
    search_steps: int | None = typer.Option(
        None,
        "--search-steps",
        min=2,
        max=64,
        help="At most N steps in a --search (default 12).",
        rich_help_panel="SLO and sweep",
    )
    server_metrics: str | None = typer.Option(
        None,
        "--server-metrics",
        help="The server's Prometheus endpoint (http://host:port/metrics), read every second of the measured phase; the managed llama-server's is read without it.",
        rich_help_panel="SLO and sweep",
    )
    repeat: int = typer.Option(
        1,
        "--repeat",
        help="Run the plan N times, the targets interleaved in each round; each figure pools the runs, with a 95% interval over them (ci95).",
        rich_help_panel="SLO and sweep",
    )
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        help="Write the results document here (atomically).",
        rich_help_panel="Output",
    )
    fmt: str = typer.Option(
        "table", "--format", "-f", help="table, json, csv or markdown.", rich_help_panel="Output"
    )
    records: bool = typer.Option(
        False,
        "--records",
        help="Keep every request's record inline in the results document (for small runs: "
        "they are held in memory; the journal holds them for every run).",
        rich_help_panel="Output",
    )
    journal: Path | None = typer.Option(
        None,
        "--journal",
        help="Write every record as it completes to this JSONL journal (default: beside "
        "--output as NAME.journal.jsonl, else in the user's cache folder); a killed run is "
        "read back with costcli recover.",
        rich_help_panel="Journal",
    )
    resume: Path | None = typer.Option(
        None,
        "--resume",
        help="Continue the run of this journal: its plan and seeded schedule, skipping the "
        "requests it holds, appending to it.",
        rich_help_panel="Journal",
    )
    providers: list[Path] = typer.Option(
        [],
        "--providers",
        help="Extra provider file or folder (repeatable).",
        rich_help_panel="Targets and workload",
    )
    prices: Path | None = typer.Option(
        None,
        "--prices",
        help="A prices.toml to use instead of the bundled one.",
        rich_help_panel="Targets and workload",
    )
    hardware: str | None = typer.Option(
        None,
        "--hardware",
        help="Hardware profile for the self-hosted projection.",
        rich_help_panel="Projection after the run",
    )
    requests_per_month: float | None = typer.Option(
        None,
        "--requests-per-month",
        min=1,
        help="Scenario for the projection after the run.",
        rich_help_panel="Projection after the run",
    )
    processes: int = typer.Option(
        1,
        "--processes",
        min=1,
        max=256,
        help="Split the schedule across N worker processes.",
        rich_help_panel="Split runs",
    )
    shard: str | None = typer.Option(
        None,
        "--shard",
        help="i/N: run part i of N of the schedule (join with costcli merge).",
        rich_help_panel="Split runs",
    )
    engine: str = typer.Option(
        "local",
        "--engine",
        help="local (this machine, --processes) or ray (--workers tasks).",
        rich_help_panel="Split runs",
    )
    workers: int | None = typer.Option(
        None,
        "--workers",
        min=1,
        max=4096,
        help="--engine ray: shards, one Ray task each.",
        rich_help_panel="Split runs",
    )
    ray_address: str | None = typer.Option(
        None,
        "--ray-address",
        help="--engine ray: the cluster (else RAY_ADDRESS, else local).",
        rich_help_panel="Split runs",
    )
    no_progress: bool = typer.Option(
        False, "--no-progress", help="No live display.", rich_help_panel="Output"
    )
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="Only the final output.", rich_help_panel="Output"
    )
    max_spend_usd: float | None = typer.Option(
        None,
        "--max-spend-usd",
        min=0.000001,
        help="Send no request that could carry the run's spend past USD (each request's worst case: its prompt and max_tokens at list price); in-flight ones finish, exit 1. Split runs: each part holds USD/N.",
        rich_help_panel="Load",
    )
    yes: bool = typer.Option(
        False,
        "--yes",
        "-y",
        help="Run even though the worst-case spend is over $50 and no --max-spend-usd is given.",
        rich_help_panel="Load",
    )
    time_scale: float = typer.Option(
        1.0,
        "--time-scale",
        help="A fixed schedule (mooncake:FILE, JSONL with timestamp_ms): send times x this (0.5: twice as fast).",
        rich_help_panel="Trace replay",
    )
    trace_start_ms: float | None = typer.Option(
        None,
        "--trace-start-ms",
        help="Replay from this trace time on.",
        rich_help_panel="Trace replay",
    )
    trace_end_ms: float | None = typer.Option(
        None, "--trace-end-ms", help="Replay up to this trace time.", rich_help_panel="Trace replay"
    )
    block_tokens: int = typer.Option(
        512,
        "--block-tokens",
        help="mooncake: tokens per hash_ids block.",
        rich_help_panel="Trace replay",
    )
    trace_salt: str | None = typer.Option(
        None,
        "--trace-salt",
        help="mooncake: the block texts' salt (default: fresh per run; the same salt shares a prefix cache across runs).",
        rich_help_panel="Trace replay",
    )
    name: str | None = typer.Argument(
        None,
        help="A benchmark of the benchmark file (costcli.toml, [tool.costcli]); default: its `default`.",
    )
    config: Path | None = typer.Option(
        None,
        "--config",
        help="The benchmark file (default ./costcli.toml, else [tool.costcli] in ./pyproject.toml).",
        rich_help_panel="Benchmark file and history",
    )
    history: bool = typer.Option(
        False,
        "--history",
        help="Add the run to the history store as it finishes.",
        rich_help_panel="Benchmark file and history",
    )
    db: str | None = typer.Option(
        None,
        "--db",
        help="History store: a SQLite path or postgresql://... (default .costcli/history.sqlite).",
        rich_help_panel="Benchmark file and history",
    )
    label: list[str] = typer.Option(
        [],
        "--label",
        help="KEY=VALUE stored with the run in the history (repeatable).",
        rich_help_panel="Benchmark file and history",
    )

    def plan_options(self) -> dict[str, Any]:
        """The RunPlan options these flags give: a field named as a plan or load field goes
        there (PLAN_NAMES where the flag is spelled otherwise), converted by PARSE."""
        from costcli.load.schedule import LoadSettings
        from costcli.plan import RunPlan, embedded_default

        load_fields = LoadSettings.model_fields.keys()
        known = load_fields | RunPlan.model_fields.keys()
        values = plan_values(self, known, PLAN_NAMES, PARSE, PRESENTATION)
        plan: dict[str, Any] = {k: v for k, v in values.items() if k not in load_fields}
        plan["load"] = {k: v for k, v in values.items() if k in load_fields}
        given = (
            self.requests,
            self.duration,
            self.rate,
            self.concurrency,
            self.sweep,
            self.sessions,
            self.search,
        )
        if self.search_steps is not None:
            from costcli.load.search import with_steps

            plan["search"] = with_steps(plan.get("search"), self.search_steps)
        trace = self.workload.startswith("mooncake:")  # its own schedule, not the sweep
        return plan if self.target or trace or given != (None,) * 7 else embedded_default(plan)


# flags spelled otherwise than their plan field; how a flag's text becomes the field's value
PLAN_NAMES = {
    "target": "targets",
    "duration": "duration_s",
    "timeout": "timeout_s",
    "resume": "resume_from",  # the plan comes from the journal (journal_plan)
}
PRESENTATION = frozenset(
    {"output", "fmt", "no_progress", "quiet", "hardware", "requests_per_month", "resume"}
    | {"name", "config", "history", "db", "label"}  # the benchmark file and history
    | {"yes"}  # the spend preflight's answer, not the plan's
    | {"search_steps"}  # into the plan's search (search.with_steps)
)


def _parse_sweep(text: str | None) -> Any:
    from costcli.load.sweep import parse_sweep

    return parse_sweep(text) if text else None


def _parse_search(text: str | None) -> Any:
    from costcli.load.search import parse_search

    return parse_search(text) if text else None


def _parse_shard(text: str | None) -> Any:
    from costcli.engines.shards import parse_shard

    return parse_shard(text) if text else None


PARSE: dict[str, Callable[[Any], Any]] = {
    "target": lambda given: tuple(given) or (DEFAULT_TARGET,),
    "concurrency": lambda given: given or 1,
    "slo": parse_slo,
    "sweep": _parse_sweep,
    "search": _parse_search,
    "shard": _parse_shard,
    "providers": tuple,
}


def run(opts: RunOptions) -> None:
    """Send the same workload to each target and measure latency, throughput and cost."""
    from costcli.api import execute
    from costcli.engines.base import RunInterrupted
    from costcli.load.signals import interrupt_signals
    from costcli.render import renderer
    from costcli.results.document import check_writable

    if opts.fmt not in FORMATS:
        raise BadInputError(f"--format {opts.fmt}: use one of {', '.join(FORMATS)}")
    from costcli.cli.benchmark import run_plan
    from costcli.cli.history import after_run, history_target

    plan, bench, _ = run_plan(opts, PLAN_NAMES, PARSE, PRESENTATION)
    output = opts.output or (bench.output if bench else None)
    plan = journal_plan(opts, plan, output)
    if output is not None:
        check_writable(output, "--output")
    store = history_target(opts, bench)
    spend_preflight(plan, opts.yes, opts.quiet)
    observer: PlainObserver | QuietObserver | RichObserver | Announcing
    observer = _observer(opts.quiet, opts.no_progress)
    if plan.journal is not None and output is None and opts.journal is None and not opts.quiet:
        observer = Announcing(observer, f"costcli: journal: {plan.journal}")
    with interrupt_signals() as guard:
        try:
            result = execute(plan, observer)
        except RunInterrupted as stop:
            result = stop.result
        finally:
            observer.stop()
        with guard.deferred():  # a second signal cannot cut the results file short
            text = renderer(opts.fmt)(result)
            _emit(result, output, text, opts.quiet, warn=opts.fmt in ("json", "csv"))
    after_run(store, result, opts, bench)
    if opts.fmt == "table" and not opts.quiet and result.complete and guard.exit_code is None:
        hardware, volume = scenario_after_run(opts, bench)
        echo(projection_after_run(result, plan, hardware, volume))
    if not result.complete or guard.exit_code is not None:
        raise typer.Exit(guard.exit_code or incomplete_exit(result))
    exit_status(result)


run_command = command_of(RunOptions, run)


def scenario_after_run(opts: RunOptions, bench: Any) -> tuple[str | None, float | None]:
    """--hardware and --requests-per-month, else the benchmark's [project] table's."""
    project = bench.project if bench is not None else {}
    return (
        opts.hardware or project.get("hardware"),
        opts.requests_per_month or project.get("requests_per_month"),
    )


def journal_plan(opts: RunOptions, plan: RunPlan, output: Path | None) -> RunPlan:
    """The plan with its journal: beside --output, --journal, or the cache folder (said on
    stderr once the run starts); with --resume, the journal's own plan (an option that
    changes it refused)."""
    from costcli.engines.journaled import resumed_plan
    from costcli.files.locations import user_cache_dir
    from costcli.plan import JOURNALED, RunPlan
    from costcli.results.journal import journal_beside

    if opts.resume is not None:
        if opts.journal is not None:
            raise BadInputError(
                "--journal and --resume: give one (a resume appends to its journal)"
            )
        defaults: dict[str, Any] = {
            f.name: getattr(f.default, "default", None) for f in dataclasses.fields(opts)
        }
        bare = dataclasses.replace(opts, **defaults)
        return resumed_plan(opts.resume, plan, RunPlan.parse(**bare.plan_options()))
    if plan.distributed and plan.engine not in JOURNALED:
        return plan  # a plug-in engine's tasks journal nowhere (RunPlan says so)
    journal = opts.journal or (journal_beside(output) if output else None)
    if journal is None:
        from datetime import datetime, timezone

        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        journal = user_cache_dir() / "journals" / f"run-{stamp}-{os.getpid()}.journal.jsonl"
    update: dict[str, Any] = {"journal": journal.resolve()}
    if plan.shard is not None:  # a shard's file travels to `costcli merge` with its records
        update["records"] = True
    return plan.model_copy(update=update)


class Announcing:
    """An observer that says one line (where the journal is) once the first target starts:
    after the plan's files were read, so a bad one still gets its one-line error alone."""

    def __init__(self, inner: PlainObserver | QuietObserver | RichObserver, line: str) -> None:
        self.inner, self.line = inner, line

    def target_started(self, label: str, total: int | None) -> None:
        if self.line:
            stderr_console().print(self.line, highlight=False, soft_wrap=True)
            self.line = ""
        self.inner.target_started(label, total)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _emit(result: RunResult, output: Path | None, text: str, quiet: bool, warn: bool) -> None:
    """Keep the results (also after Ctrl-C or SIGTERM), then print the rendered comparison
    and any warning about the client itself. An interrupted run that measured nothing
    leaves an existing results file as it was."""
    kept = None
    if output is not None and measured_nothing(result) and output.exists():
        stderr_console().print(f"costcli: nothing was measured; {output} is left as it was")
    elif output is not None:
        kept = keep(result, output)
    echo(text)
    from costcli.render.rows import client_lines

    for line in client_lines(result) if warn else ():  # table and markdown carry them
        stderr_console().print(f"costcli: warning: {line}")
    if kept is not None and not quiet:
        stderr_console().print(f"results written to {kept}")


def incomplete_exit(result: RunResult) -> int:
    """An incomplete run without a signal: 3 where a Ray task died or failed (the run could
    not be done as planned), else 130 (Ctrl-C)."""
    from costcli.engines.base import EXIT_INTERRUPTED

    lost = any(w.state in ("died", "failed") for w in result.meta.workers or ())
    return 3 if lost else EXIT_INTERRUPTED


def measured_nothing(result: RunResult) -> bool:
    return not result.complete and not any(t.summary.requests.total for t in result.targets)


def echo(text: str) -> None:
    if text:
        typer.echo(text, nl=not text.endswith("\n"))


def projection_after_run(
    result: RunResult, plan: RunPlan, hardware: str | None, volume: float | None
) -> str:
    """The run's projection: every catalogued API model at the measured shape, and the
    measured self-hosted box; the same call as `costcli project RESULTS --all-models`."""
    from costcli.api import project
    from costcli.files.errors import BadInputError
    from costcli.pricing.projection import DEFAULT_REQUESTS_PER_MONTH, ProjectionPlan, answer
    from costcli.render.projection import answer_lines, render_table, run_heading

    if not any(t.summary.requests.ok for t in result.targets):
        return ""
    try:
        report = project(
            result,
            ProjectionPlan(
                requests_per_month=volume or DEFAULT_REQUESTS_PER_MONTH,
                all_models=True,
                hardware=hardware,
                providers=plan.providers,
                prices=plan.prices,
            ),
        )
    except BadInputError as exc:  # the run's own results stand; its projection cannot
        return f"no projection after this run: {exc.message}"
    slo = plan.slo.describe() if plan.slo else None
    table = render_table(report, break_even=False)
    return "\n".join([run_heading(report), table.rstrip(), *answer_lines(answer(report), slo)])


def keep(result: RunResult, output: Path) -> Path:
    """Write the results; if that fails after all, keep them in the temp folder instead."""
    import tempfile

    from costcli.results.document import dumps, write_atomic

    text = dumps(result)
    try:
        write_atomic(output, text)
        return output
    except OSError as exc:
        fallback = Path(tempfile.gettempdir()) / f"costcli-results-{os.getpid()}.json"
        write_atomic(fallback, text)
        stderr_console().print(
            f"costcli: could not write {output} ({exc.strerror}); kept the results in {fallback}"
        )
        return fallback


def exit_status(result: RunResult) -> None:
    """Exit 1 past --max-error-rate; 2 when every request was refused as a client error (a
    wrong key or model name); 3 when no request got an answer at all."""
    for t in result.targets:
        if t.stopped == "max_error_rate":
            raise CheckFailedError(
                f"{t.label}: error rate {t.summary.error_rate:.0%} passed --max-error-rate; stopped"
            )
        if t.stopped == "spend_cap":
            raise CheckFailedError(spend_cap_message(t))
    for t in result.targets:
        s = t.summary
        if not s.requests.total or s.requests.ok or s.errors.get("invalid_output"):
            continue  # something succeeded, or the server answered (the answers failed a check)
        found = ", ".join(f"{cls} {n}" for cls, n in s.errors.items() if n)
        if s.errors.get("connection") == s.requests.total:
            raise UnreachableError(
                f"{t.label}: no request reached {t.base_url}; is the server running?"
            )
        if s.errors.get("client") == s.requests.total:
            raise BadInputError(
                f"{t.label}: every request was refused ({found}); check the model name and the "
                "API key (--records shows each error)"
            )
        raise UnreachableError(
            f"{t.label}: no request succeeded ({found}); --records shows each error"
        )
