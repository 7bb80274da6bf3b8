"""The versioned results document: build, write atomically, read and validate.

Shape (schema_version 1), which scripts and CI rely on:
  {schema_version, complete, meta{...}, targets[{provider, model, adapter, base_url,
   self_hosted, summary{...}, server_info{...}, capacity_rps?, sweep?, search?,
   server_metrics?, records?}]}
A JSON Schema generated from these models ships as costcli/schema/results.schema.json.
"""

from __future__ import annotations

import fnmatch
import os
import tempfile
from pathlib import Path
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field

from costcli.files.errors import BadInputError
from costcli.files.readers import capped, parse_json, read_text, validate
from costcli.results.metrics import RequestRecord, RunCost, Summary, Unreported
from costcli.results.server_metrics import ServerMetrics

SCHEMA_VERSION = 1
SCHEMA_FILE = Path(__file__).parent / "schema" / "results.schema.json"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WorkloadInfo(Unreported):
    name: str
    sha256: str
    requests_per_cycle: int
    seed: int
    unique_prefix: bool
    max_tokens: int | None
    fixed_schedule: bool | None = None  # True: the workload's own send times (load/replay.py)


class WorkerState(_Model):
    """One worker of a split run (`--engine ray`): how it ended and what it delivered.

    `not_sent`: its shard's requests without a record (never sent, or in flight when the
    worker died or was stopped); None where the run was bounded by time, not a count."""

    shard: str  # "i/N"
    state: Literal["finished", "interrupted", "died", "failed"]
    host: str | None = None
    pid: int | None = None
    records: int = 0
    not_sent: int | None = None
    # the worker's clock against the driver's (Ray's round trip; half the round trip is
    # its uncertainty) and how late it started after the agreed start time
    clock_offset_ms: float | None = None
    clock_uncertainty_ms: float | None = None
    start_late_ms: float | None = None
    error: str | None = None


class Meta(Unreported):
    costcli_version: str
    started_at: str
    ended_at: str
    workload: WorkloadInfo
    load: dict[str, Any]
    host: dict[str, Any]
    stopped: str | None = None
    shard: str | None = None  # "i/N": this document holds one shard of a run (costcli merge)
    processes: int = 1  # worker processes the run's schedule was split across
    engine: str = "local"  # the registry name (costcli/engines/registry.py)
    workers: list[WorkerState] | None = None  # --engine ray: each worker's end
    journal: str | None = None  # the run's journal: every record, one a line
    resumed: list[str] | None = None  # when each resume of the run from its journal began
    repeat: int | None = None  # --repeat N: the plan ran N times, its targets interleaved


class SweepPoint(Unreported):
    load: str  # "concurrency=4" or "rate=2.0"
    summary: Summary
    meets_slo: bool
    server_metrics: ServerMetrics | None = None  # --server-metrics: the server's view


class SearchStep(Unreported):
    """One step of a capacity search (load/search.py), in the order it ran."""

    load: str  # "concurrency=4", "rate=36", "concurrency=1 (probe)"
    requests: int
    slo_attainment: float | None  # the share that met the SLO (None without goodput)
    error_rate: float
    ttft_p95_ms: float | None
    meets_slo: bool
    verdict: Literal["pass", "fail", "probe", "cut"]  # cut: interrupted, no verdict
    ended: str | None = None  # why it ended early: its verdict known, or saturation
    requests_waiting_max: float | None = None  # the server's queue, where it was read
    summary: Summary


class ClientHealth(_Model):
    """Whether the client kept its schedule. When it did not, every latency carries the
    client's own delay (it is measured from the planned time), and the run says so."""

    schedule_kept: bool
    late_ms: float  # a request whose bytes left later than this after its planned time is late
    late_requests: int
    requests: int
    client_delay_p99_ms: float | None
    max_concurrency: int | None = None  # --max-concurrency, where given
    max_concurrency_waits: int = 0  # requests that waited for a slot under it
    warning: str | None = None


class TargetResult(Unreported):
    provider: str
    model: str
    # the prices file's provider that priced it, where not `provider` (a provider file's
    # `prices_from`: openai-responses is priced from the openai entries)
    price_provider: str | None = None
    adapter: str
    base_url: str | None
    self_hosted: bool = False
    hardware: str | None = None
    summary: Summary
    server_info: dict[str, Any] = Field(default_factory=dict)
    capacity_rps: float | None = None
    capacity_load: str | None = None
    sweep: list[SweepPoint] | None = None
    search: list[SearchStep] | None = None  # --search: each step; capacity_* its answer
    server_metrics: ServerMetrics | None = None  # the server's view at the summary's point
    stopped: str | None = None
    client: ClientHealth | None = None
    records: list[RequestRecord] | None = None
    # --repeat N: each run's summary (at the load point the pooled summary is of); the
    # summary above pools every run's records, its distribution blocks carry `ci95`
    repeats: list[Summary] | None = None

    @property
    def label(self) -> str:
        return f"{self.provider}:{self.model}"

    @property
    def cost_per_1k_requests_usd(self) -> float | None:
        """The run's measured cost per 1,000 requests; None where the target is unpriced."""
        cost = self.summary.cost
        return cost.per_1k_requests_usd if isinstance(cost, RunCost) else None


class RunResult(_Model):
    schema_version: int = SCHEMA_VERSION
    complete: bool = True
    meta: Meta
    targets: list[TargetResult]


def json_schema() -> dict[str, Any]:
    schema = RunResult.model_json_schema()
    # scripts rely on these two: a document without them is not a costcli results file
    schema["required"] = ["schema_version", "complete", *schema["required"]]
    schema["properties"]["schema_version"]["const"] = SCHEMA_VERSION
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://costcli.dev/schema/results-v1.json"
    return schema


def dumps(result: RunResult) -> str:
    return result.model_dump_json(indent=2, exclude_none=False) + "\n"


def write_atomic(path: Path, text: str) -> None:
    """Write to a temp file in the same folder, fsync, then rename over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; results are shared artefacts
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_writable(path: Path, option: str) -> None:
    """Refuse an output path that cannot be written, before any work (exit 2 naming `option`)."""
    path = Path(path)
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        in_the_way = isinstance(exc, FileExistsError | NotADirectoryError)
        why = "a file is in the way" if in_the_way else exc.strerror
        raise BadInputError(
            f"{option} {path}: cannot create the folder {folder} ({why}); pick another path"
        ) from None
    if path.is_dir() or not os.access(folder, os.W_OK):
        raise BadInputError(f"{option} {path}: not a writable file path; pick another path")


def write_or_refuse(path: Path, text: str, option: str) -> None:
    """write_atomic, with a failure reported as bad input naming `option` (exit 2)."""
    try:
        write_atomic(path, text)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise BadInputError(
            f"{option} {path}: cannot be written ({reason}); pick another path"
        ) from None


# What a measured figure can be. A results file with any other value was not written by a
# run (hand-edited, corrupted or forged) and is refused rather than judged: a gate that
# compared a NaN p95 or a negative count would pass on nothing.
NON_NEGATIVE = (
    "*summary.ttft_ms.*",
    "*summary.ttfb_ms.*",
    "*summary.itl_ms.*",
    "*summary.tpot_ms.*",
    "*summary.e2e_ms.*",
    "*summary.decode_tokens_per_s.*",
    "*summary.client_delay_ms.count",
    "*summary.server.*",
    "*summary.requests.*",
    "*summary.errors.*",
    "*summary.duration_s",
    "*summary.input_tokens.*",
    "*summary.output_tokens.*",
    "*summary.throughput.*",
    "*summary.goodput.requests_per_s",
    "*summary.goodput.slo.*",
    "*summary.output_check.*",
    "*summary.retries",
    "*summary.cost.*_usd",
    "targets.*.capacity_rps",
    "targets.*.client.late_requests",
    "targets.*.client.requests",
    "targets.*.client.max_concurrency_waits",
    "targets.*.records.*_ms",
    "targets.*.records.*.itl_ms.*",
    "targets.*.records.*_tokens",
    "targets.*.records.*.decode_tokens_per_s",
    "targets.*.records.*.retries",
    "targets.*.records.*.index",
    "meta.workload.requests_per_cycle",
    "meta.workload.max_tokens",
)
SHARES = (
    "*summary.error_rate",
    "*summary.goodput.attainment",
    "*summary.output_check.valid_share",
)


def _numbers(value: Any, loc: str = "") -> list[tuple[str, float]]:
    if isinstance(value, dict):
        return [n for k, v in value.items() for n in _numbers(v, f"{loc}.{k}" if loc else k)]
    if isinstance(value, list):
        return [n for i, v in enumerate(value) for n in _numbers(v, f"{loc}.{i}")]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return [(loc, float(value))]
    return []


def impossible_figures(result: RunResult, where: str) -> list[str]:
    """Figures no run can produce: negative latencies, counts or rates, shares outside 0..1,
    request counts that do not add up. One line each, naming the key."""
    problems = []
    for key, value in _numbers(result.model_dump(mode="json")):
        if any(fnmatch.fnmatchcase(key, p) for p in SHARES) and not 0 <= value <= 1:
            problems.append(f"{where}: key '{key}' is {value:g}, not a share between 0 and 1")
        elif value < 0 and any(fnmatch.fnmatchcase(key, p) for p in NON_NEGATIVE):
            problems.append(
                f"{where}: key '{key}' is {value:g}; a measured figure is never negative"
            )
    summaries = [(f"targets.{i}.summary", t.summary) for i, t in enumerate(result.targets)]
    summaries += [
        (f"targets.{i}.sweep.{j}.summary", p.summary)
        for i, t in enumerate(result.targets)
        for j, p in enumerate(t.sweep or [])
    ]
    summaries += [
        (f"targets.{i}.search.{j}.summary", p.summary)
        for i, t in enumerate(result.targets)
        for j, p in enumerate(t.search or [])
    ]
    for key, summary in summaries:
        n = summary.requests
        if n.ok + n.failed != n.total:
            problems.append(
                f"{where}: key '{key}.requests' says {n.ok} ok + {n.failed} failed, "
                f"but total {n.total}"
            )
    return [f"{p}; regenerate the file with costcli run" for p in problems]


def read_result(path: Path) -> RunResult:
    """Read and validate a results file; every problem of a bad one, naming file and key,
    exits 2. The same reader serves every command (check, report, project)."""
    text = read_text(path, "a costcli results file (costcli run --output)")
    raw = parse_json(str(path), text, "pass a costcli results file")
    version = raw.get("schema_version") if isinstance(raw, dict) else None
    if type(version) is int and version > SCHEMA_VERSION:
        raise BadInputError(
            f"{path}: key 'schema_version' is {version}, expected {SCHEMA_VERSION}: written by "
            "a newer costcli; upgrade costcli (pip install -U costcli) to read it"
        )
    if type(version) is not int or version != SCHEMA_VERSION:  # `true` is not 1
        raise BadInputError(
            f"{path}: key 'schema_version' is {version!r}, expected {SCHEMA_VERSION}; "
            "pass a results file written by this costcli (--output)"
        )
    result = cast(RunResult, validate(RunResult, raw, str(path)))
    problems = impossible_figures(result, str(path))
    if problems:
        raise BadInputError.of(capped(path, problems))
    return result
