"""The public API: one entry point per use-case, shared by the CLI, scripts and pytest.

    import costcli

    plan = costcli.RunPlan(targets=["mock"], requests=20, concurrency=4, slo={"ttft_ms": 500})
    result = costcli.execute(plan)                      # -> RunResult (the results document)
    report = costcli.project(result, costcli.ProjectionPlan(requests_per_month=2e6))
    verdict = costcli.check(result, baseline, budgets=["ttft_p95_ms=+10%"])

Every command of the CLI is options -> plan -> one of these calls -> one renderer. They
raise `CostcliError` subclasses (costcli.errors) and never exit.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from costcli.cost import ProjectionReport
from costcli.errors import BadInputError, CostcliError
from costcli.load import LoadSettings, ProgressObserver, Shard, SilentObserver
from costcli.metrics import SLO
from costcli.projection import ProjectionPlan
from costcli.projection import project as _project
from costcli.regress import Bootstrap, Budget, Limit, RunNames, Verdict, parse_budget, parse_limit
from costcli.regress import check as _check
from costcli.results import RunResult
from costcli.sweep import SweepSpec

if TYPE_CHECKING:
    from costcli.runner import RunSetup
    from costcli.workload import Workload

DEFAULT_TARGET = "llamacpp"
_Plan = TypeVar("_Plan", bound=BaseModel)
EXIT_INTERRUPTED = 130
_LOAD_FIELDS = frozenset(LoadSettings.model_fields)


class RunPlan(BaseModel):
    """Everything one run needs, validated; serialisable (a worker or launcher receives it).

    Load settings may be given flat (`RunPlan(requests=20, concurrency=4)`) or as `load`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    targets: tuple[str, ...] = Field((DEFAULT_TARGET,), min_length=1)
    workload: str = "chat-short"
    unique_prefix: bool = False
    max_tokens: int | None = Field(None, ge=1)
    max_turns: int | None = Field(None, ge=1)  # datasets: turns per conversation
    sample: int | None = Field(None, ge=1)  # datasets: a seeded sample of conversations
    load: LoadSettings = Field(default_factory=LoadSettings)
    slo: SLO | None = None
    sweep: SweepSpec | None = None
    records: bool = False
    providers: tuple[Path, ...] = ()
    prices: Path | None = None
    # the schedule split across this many worker processes of this machine (costcli.shards)
    processes: int = Field(1, ge=1, le=256)
    # run one part of the schedule and write its records (`costcli merge` joins the parts)
    shard: Shard | None = None
    # "ray": the schedule split into `workers` shards, each a Ray task (costcli.ray_engine)
    engine: Literal["local", "ray"] = "local"
    workers: int | None = Field(None, ge=1, le=4096)
    ray_address: str | None = None  # a running cluster (ray://host:10001, auto); else local

    @property
    def parts(self) -> int:
        """How many shards the schedule is split into (1: not split)."""
        if self.engine == "ray":
            return self.workers or 1
        return self.processes if self.processes > 1 else (self.shard.count if self.shard else 1)

    @property
    def split(self) -> bool:
        """Whether the run goes through shards (`--engine ray` does, even with one)."""
        return self.parts > 1 or self.engine == "ray"

    @model_validator(mode="after")
    def _engine_fits(self) -> RunPlan:
        if self.engine == "local":
            for value, flag in ((self.workers, "--workers"), (self.ray_address, "--ray-address")):
                if value is not None:
                    raise ValueError(f"{flag} is for --engine ray; add --engine ray or drop it")
            return self
        if self.workers is None:
            raise ValueError("--engine ray needs --workers N (the shards, one Ray task each)")
        if self.processes > 1 or self.shard is not None:
            raise ValueError(
                "--engine ray splits the schedule into --workers shards itself; "
                "drop --processes and --shard"
            )
        return self

    @model_validator(mode="after")
    def _shards_fit(self) -> RunPlan:
        parts, split = self.parts, self.split
        if self.processes > 1 and self.shard is not None:
            raise ValueError("--processes and --shard: give one (a shard runs in one process)")
        if split and self.sweep is not None:
            raise ValueError("--sweep cannot be split into shards yet; run it in one process")
        cap = self.load.max_concurrency
        if parts > 1 and cap is not None and cap < parts:
            raise ValueError(
                f"--max-concurrency {cap} is fewer than the {parts} parts the schedule is split "
                "into; raise it or use fewer parts"
            )
        if split and len(self.targets) > 1:
            raise ValueError(
                "a split run measures one target (workers start each target on their own "
                "clocks); run one --target per run, then compare the results"
            )
        if parts > 1 and not self.load.rate and self.load.concurrency < parts:
            raise ValueError(
                f"--concurrency {self.load.concurrency} is fewer than the {parts} parts "
                "the schedule is split into; raise --concurrency or use fewer parts"
            )
        return self

    @model_validator(mode="before")
    @classmethod
    def _flat_load(cls, data: Any) -> Any:
        """Lift load settings given at the top level into `load`."""
        if not isinstance(data, dict) or not _LOAD_FIELDS & data.keys():
            return data
        flat = {k: v for k, v in data.items() if k in _LOAD_FIELDS}
        rest = {k: v for k, v in data.items() if k not in _LOAD_FIELDS}
        load = rest.get("load") or {}
        if isinstance(load, LoadSettings):
            load = load.model_dump(exclude_unset=True)
        return {**rest, "load": {**load, **flat}}

    @classmethod
    def parse(cls, **options: Any) -> RunPlan:
        """A plan from keyword options; every problem is one line of a BadInputError."""
        return parse_options(cls, **options)


def parse_options(model: type[_Plan], **options: Any) -> _Plan:
    """A plan model from keyword options; every problem is one line of a BadInputError."""
    try:
        return model(**options)
    except ValidationError as exc:
        raise BadInputError(plan_problems(exc)) from None


# plan fields whose command-line option is spelled otherwise
OPTION_NAMES = {"targets": "--target", "duration_s": "--duration", "timeout_s": "--timeout"}


def plan_problems(exc: ValidationError) -> str:
    """One problem per line, naming the option (`load.concurrency` -> --concurrency)."""
    lines = []
    for err in exc.errors():
        msg = err["msg"].removeprefix("Value error, ")
        path = [str(p) for p in err["loc"] if p != "load"]
        if not path:  # a rule across options: its message names them
            lines.append(msg)
            continue
        option = OPTION_NAMES.get(path[0], "--" + path[0].replace("_", "-"))
        rest = "." + ".".join(path[1:]) if len(path) > 1 else ""
        lines.append(f"{option}{rest}: {msg}; fix that option")
    return "\n".join(lines)


# The embedded default (`costcli run` with no target and no load given): the local box
# swept over a few concurrencies within a chat SLO, so the projection after it has a
# measured capacity rather than a floor; 8 requests a point keep it well under a minute.
DEFAULT_SWEEP = SweepSpec(kind="concurrency", values=(1, 2, 4))
DEFAULT_SWEEP_REQUESTS = 8
DEFAULT_SLO = SLO(ttft_ms=1000, tpot_ms=50)


def embedded_default(options: dict[str, Any]) -> dict[str, Any]:
    """Plan options for the default run: the default target, swept (DEFAULT_SWEEP), with
    DEFAULT_SLO unless an SLO was given. `options` are the caller's other plan options."""
    load = {**options.get("load", {}), "requests": DEFAULT_SWEEP_REQUESTS}
    return {
        **options,
        "targets": (DEFAULT_TARGET,),
        "load": load,
        "sweep": DEFAULT_SWEEP,
        "slo": options.get("slo") or DEFAULT_SLO,
    }


class RunInterrupted(CostcliError):
    """Ctrl-C (or SIGINT) during a run; `result` holds what was measured (complete=False)."""

    exit_code = EXIT_INTERRUPTED

    def __init__(self, result: RunResult, exit_code: int = EXIT_INTERRUPTED) -> None:
        super().__init__("interrupted; what was measured is kept")
        self.result = result
        self.exit_code = exit_code  # 130 for Ctrl-C; 143 SIGTERM, 129 SIGHUP (costcli.signals)


def check_workload_options(plan: RunPlan, workload: Workload) -> None:
    """Options that only some workloads use are refused where they would do nothing."""
    if plan.load.sessions is not None and not workload.sessions:
        raise BadInputError(
            f"--sessions {plan.load.sessions}: workload '{workload.name}' has no conversations; "
            "use --requests, or a workload with sessions (conversation, sharegpt:FILE)"
        )
    if workload.sessions and plan.split:
        raise BadInputError(
            f"workload '{workload.name}' holds conversations, which cannot be split across "
            "--processes, --shard or --workers yet; run it in one process"
        )
    dataset = not plan.workload.startswith("sharegpt:")
    for flag, value in (("--max-turns", plan.max_turns), ("--sample", plan.sample)):
        if value is not None and dataset:
            raise BadInputError(f"{flag} {value}: only a dataset uses it (sharegpt:FILE)")


def resolve(plan: RunPlan) -> RunSetup:
    """The plan's files read and targets found: a `runner.RunSetup` (bad input exits 2)."""
    from costcli.catalog import load_catalog
    from costcli.prices import load_prices
    from costcli.runner import RunSetup
    from costcli.workload import DatasetOptions, load_workload

    catalog = load_catalog(plan.providers)
    # a Ray task reads its key from its own node's environment, not the driver's
    keyed_here = plan.engine == "local"
    targets = tuple(catalog.resolve(spec, require_key=keyed_here) for spec in plan.targets)
    workload = load_workload(
        plan.workload,
        seed=plan.load.seed,
        unique_prefix=plan.unique_prefix,
        max_tokens=plan.max_tokens,
        dataset=DatasetOptions(max_turns=plan.max_turns, sample=plan.sample),
    )
    check_workload_options(plan, workload)
    return RunSetup(
        targets=targets,
        workload=workload,
        load=plan.load,
        sweep=plan.sweep,
        slo=plan.slo,
        with_records=plan.records or plan.shard is not None,  # a shard's records are its result
        prices=load_prices(plan.prices),
        shard=plan.shard or Shard(index=1, count=1),
        processes=plan.processes,
    )


def execute(plan: RunPlan, observer: ProgressObserver | None = None) -> RunResult:
    """Run the plan: every target over every load point. Raises RunInterrupted on Ctrl-C
    (with the partial result), UnreachableError when a target cannot start."""
    from costcli import runner

    if plan.engine == "ray":
        from costcli.ray_engine import run_ray

        return run_ray(plan, resolve(plan), observer or SilentObserver())
    if plan.processes > 1:
        from costcli.shards import run_processes

        resolve(plan)  # bad input is found here, before any worker starts
        return run_processes(plan, observer or SilentObserver())
    setup = resolve(plan)
    state = runner.RunState()
    try:
        runner.run(setup, state, observer or SilentObserver())
    except KeyboardInterrupt:
        raise RunInterrupted(runner.build_result(setup, state, complete=False)) from None
    return runner.build_result(setup, state, complete=True)


def project(result: RunResult | None, plan: ProjectionPlan | None = None) -> ProjectionReport:
    """A month of the plan's traffic on each option -> `cost.ProjectionReport`.

    `result` gives the token shape and self-hosted capacity; without one, the plan's
    `input_tokens`/`output_tokens` do.
    """
    return _project(result, plan or ProjectionPlan())


def check(
    result: RunResult,
    baseline: RunResult | None = None,
    budgets: Sequence[str | Budget] = (),
    limits: Sequence[str | Limit] = (),
    **options: Any,
) -> Verdict:
    """Gate a run: budgets against a baseline ("ttft_p95_ms=+10%"), limits on the run alone
    ("error_rate=0.01"). `options`: current_name, baseline_name, resamples, confidence,
    seed."""
    parsed_budgets = [parse_budget(b) if isinstance(b, str) else b for b in budgets]
    parsed_limits = [parse_limit(v) if isinstance(v, str) else v for v in limits]
    names = RunNames(
        options.pop("current_name", "results"), options.pop("baseline_name", "baseline")
    )
    bootstrap = Bootstrap(**options)
    return _check(result, baseline, parsed_budgets, parsed_limits, names=names, bootstrap=bootstrap)


def read_result(path: Path | str) -> RunResult:
    """A results file, validated (BadInputError naming the file and key)."""
    from costcli.results import read_result as _read

    return _read(Path(path))


def write_result(result: RunResult, path: Path | str) -> None:
    """Write the results document atomically: the same bytes as `costcli run -o`."""
    from costcli.results import dumps, write_atomic

    write_atomic(Path(path), dumps(result))
