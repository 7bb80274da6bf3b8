"""The validated requests: `RunPlan` (one run) and `ProjectionPlan` (a month priced).

A plan is plain data: serialisable (a worker process or a launcher receives it), frozen,
and checked like the CLI checks its options, one line per problem naming the option.
`resolve(plan)` reads the files it names (providers, prices, the workload) into a
`RunSetup`, the form every engine runs. Imports nothing above it: engines and the API
import the plan.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from costcli.adapters.catalog import load_catalog
from costcli.files.errors import BadInputError
from costcli.load import replay
from costcli.load.repeat import Rounds
from costcli.load.runner import RunSetup
from costcli.load.schedule import WHOLE, LoadSettings, Shard
from costcli.load.search import SearchSpec
from costcli.load.spend import check_cap
from costcli.load.sweep import SweepSpec
from costcli.pricing.prices import load_prices
from costcli.pricing.projection import ProjectionPlan
from costcli.results.metrics import SLO
from costcli.workloads.mooncake import MAX_BLOCK_TOKENS
from costcli.workloads.sources import load_workload
from costcli.workloads.spec import DatasetOptions, Workload
from costcli.workloads.trace_file import DEFAULT_BLOCK_TOKENS

__all__ = ["DEFAULT_TARGET", "ProjectionPlan", "RunPlan", "parse_options", "resolve"]

DEFAULT_TARGET = "llamacpp"
_Plan = TypeVar("_Plan", bound=BaseModel)
_LOAD_FIELDS = frozenset(LoadSettings.model_fields)


JOURNALED = {"local", "ray"}  # the engines that write a journal (and resume one)


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
    # the highest load within the SLO, found step by step (load/search.py)
    search: SearchSpec | None = None
    # the server's Prometheus endpoint, read every second of a measured phase
    # (load/scrape.py); the managed llama-server's own is read without it
    server_metrics: str | None = None
    # run the plan this many times, the targets interleaved in each round; each target's
    # figures pool the runs and carry a 95% interval over them (load/repeat.py)
    repeat: int = Field(1, ge=1)
    records: bool = False
    providers: tuple[Path, ...] = ()
    prices: Path | None = None
    # the schedule split across this many worker processes of this machine (costcli.engines.processes)
    processes: int = Field(1, ge=1, le=256)
    # run one part of the schedule and write its records (`costcli merge` joins the parts)
    shard: Shard | None = None
    # an engine by its registry name (costcli/engines/registry.py): "local" runs here (and
    # `processes` of this machine); any other splits the schedule into `workers` shards, each
    # a task of its own ("ray": a Ray task)
    engine: str = Field("local", min_length=1)
    workers: int | None = Field(None, ge=1, le=4096)
    ray_address: str | None = None  # a running cluster (ray://host:10001, auto); else local
    # no request is sent that could carry the run's spend past this (costcli/load/spend.py);
    # a split run's parts hold an equal share each
    max_spend_usd: float | None = Field(None, gt=0, allow_inf_nan=False)
    # every record, as it completes, to this append-only JSONL journal (results/journal.py):
    # `costcli recover` reads it back, `resume` continues it. None: no journal (the CLI
    # always gives one: beside --output, or in the user's cache folder)
    journal: Path | None = None
    resume: bool = False  # continue `journal`'s run, skipping the requests it holds
    # a fixed schedule (mooncake:FILE, JSONL lines with timestamp_ms): load/replay.py
    time_scale: float = Field(1.0, gt=0, allow_inf_nan=False)  # 0.5: twice as fast
    trace_start_ms: float | None = Field(None, ge=0, allow_inf_nan=False)
    trace_end_ms: float | None = Field(None, gt=0, allow_inf_nan=False)
    block_tokens: int = Field(DEFAULT_BLOCK_TOKENS, ge=1, le=MAX_BLOCK_TOKENS)  # mooncake
    trace_salt: str | None = Field(None, min_length=1)  # mooncake; None: a fresh one per plan

    @model_validator(mode="before")
    @classmethod
    def _trace_defaults(cls, data: Any) -> Any:
        return replay.trace_defaults(data)

    @model_validator(mode="after")
    def _trace_fits(self) -> RunPlan:
        problem = replay.trace_plan_problem(self)
        if problem:
            raise ValueError(problem)
        return self

    @property
    def distributed(self) -> bool:
        """Whether an engine of tasks runs the plan (any engine but `local`)."""
        return self.engine != "local"

    @property
    def engine_name(self) -> str:
        """The registry name of the engine that runs this plan: `processes` for a local
        plan split across --processes, else `engine`."""
        return "processes" if not self.distributed and self.processes > 1 else self.engine

    @property
    def parts(self) -> int:
        """How many shards the schedule is split into (1: not split)."""
        if self.distributed:
            return self.workers or 1
        return self.processes if self.processes > 1 else (self.shard.count if self.shard else 1)

    @property
    def split(self) -> bool:
        """Whether the run goes through shards (`--engine ray` does, even with one)."""
        return self.parts > 1 or self.distributed

    @model_validator(mode="after")
    def _journal_fits(self) -> RunPlan:
        if self.resume and self.journal is None:
            raise ValueError("--resume needs the journal to continue: --resume JOURNAL")
        if self.journal is not None and self.distributed and self.engine not in JOURNALED:
            raise ValueError(
                f"--engine {self.engine} does not journal (costcli's own engines do: local, "
                "--processes, ray); run without a journal"
            )
        return self

    @model_validator(mode="after")
    def _engine_fits(self) -> RunPlan:
        if not self.distributed:
            for value, flag in ((self.workers, "--workers"), (self.ray_address, "--ray-address")):
                if value is not None:
                    raise ValueError(f"{flag} is for --engine ray; add --engine ray or drop it")
            return self
        if self.ray_address is not None and self.engine != "ray":
            raise ValueError(f"--ray-address is for --engine ray, not --engine {self.engine}")
        if self.workers is None:
            raise ValueError(
                f"--engine {self.engine} needs --workers N (the shards, one task each)"
            )
        if self.processes > 1 or self.shard is not None:
            raise ValueError(
                f"--engine {self.engine} splits the schedule into --workers shards itself; "
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
        closed = not self.load.rate and not replay.is_trace(self.workload)
        if parts > 1 and closed and self.load.concurrency < parts:
            raise ValueError(
                f"--concurrency {self.load.concurrency} is fewer than the {parts} parts "
                "the schedule is split into; raise --concurrency or use fewer parts"
            )
        return self

    @field_validator("server_metrics")
    @classmethod
    def _a_url(cls, url: str | None) -> str | None:
        if url is not None and not re.fullmatch(r"https?://[^\s/]+\S*", url):
            raise ValueError(
                f"{url!r} is not an http:// or https:// URL; give the endpoint whole, e.g. "
                "http://127.0.0.1:8080/metrics"
            )
        return url

    @model_validator(mode="after")
    def _search_fits(self) -> RunPlan:
        if self.search is None:
            if self.server_metrics is not None and self.split:
                raise ValueError(
                    "--server-metrics cannot be split into shards yet (each part would scrape "
                    "the one server); run it in one process"
                )
            return self
        problems = (
            (
                self.sweep is not None,
                "--search and --sweep: give one (a search picks its own load points)",
            ),
            (
                self.slo is None,
                "--search needs --slo (ttft=MS, tpot=MS, e2e=MS, or ttft_p95=MS "
                "...): the highest load within what?",
            ),
            (
                self.split,
                "--search cannot be split into shards yet (each step's verdict "
                "needs every part's records); run it in one process",
            ),
            (
                self.repeat > 1,
                "--search and --repeat: give one (a repeated search would "
                "pick different steps each round)",
            ),
        )
        for clash, why in problems:
            if clash:
                raise ValueError(why)
        return self

    @model_validator(mode="after")
    def _repeat_fits(self) -> RunPlan:
        if self.split and self.repeat > 1:
            raise ValueError(
                "--repeat cannot be split into shards yet (each round would need every part "
                "to start together); run it in one process"
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


def check_workload_options(plan: RunPlan, workload: Workload) -> None:
    """Options that only some workloads use are refused where they would do nothing."""
    if plan.load.sessions is not None and not workload.sessions:
        raise BadInputError(
            f"--sessions {plan.load.sessions}: workload '{workload.name}' has no conversations; "
            "use --requests, or a workload with sessions (conversation, sharegpt:FILE)"
        )
    if workload.sessions and plan.search is not None:
        raise BadInputError(
            f"--search with workload '{workload.name}': a search's steps are plain requests "
            "(a conversation's turns wait for each other); use a workload without sessions"
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


def resolve(plan: RunPlan, *, keys_here: bool = True) -> RunSetup:
    """The plan's files read and targets found: a `runner.RunSetup` (bad input exits 2).

    `keys_here`: each target's key must be in this process's environment (an engine whose
    tasks read their keys on their own nodes passes False)."""

    catalog = load_catalog(plan.providers)
    targets = tuple(catalog.resolve(spec, require_key=keys_here) for spec in plan.targets)
    workload = load_workload(
        plan.workload,
        seed=plan.load.seed,
        unique_prefix=plan.unique_prefix,
        max_tokens=plan.max_tokens,
        dataset=DatasetOptions(max_turns=plan.max_turns, sample=plan.sample),
        trace=replay.trace_options(plan),
    )
    check_workload_options(plan, workload)
    replay.check_fixed_schedule(plan, workload)
    prices = load_prices(plan.prices)
    check_cap(targets, workload, prices, plan.max_spend_usd, plan.parts)
    return RunSetup(
        targets=targets,
        workload=workload,
        load=replay.fixed_load(plan.load, workload),
        sweep=plan.sweep,
        search=plan.search,
        server_metrics=plan.server_metrics,
        slo=plan.slo,
        # a shard's records are its result: inline, unless its journal holds them
        with_records=plan.records or (plan.shard is not None and plan.journal is None),
        prices=prices,
        shard=plan.shard or WHOLE,
        processes=plan.processes,
        max_spend_usd=plan.max_spend_usd,
        rounds=Rounds(plan.repeat, len(targets)) if plan.repeat > 1 else None,
    )
