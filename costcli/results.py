"""The versioned results document: build, write atomically, read and validate.

Shape (schema_version 1), which scripts and CI rely on:
  {schema_version, complete, meta{...}, targets[{provider, model, adapter, base_url,
   self_hosted, summary{...}, server_info{...}, capacity_rps?, sweep?, records?}]}
A JSON Schema generated from these models ships as costcli/schema/results.schema.json.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from costcli.errors import BadInputError
from costcli.metrics import RequestRecord, RunCost, Summary

SCHEMA_VERSION = 1
SCHEMA_FILE = Path(__file__).parent / "schema" / "results.schema.json"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WorkloadInfo(_Model):
    name: str
    sha256: str
    requests_per_cycle: int
    seed: int
    unique_prefix: bool
    max_tokens: int | None


class Meta(_Model):
    costcli_version: str
    started_at: str
    ended_at: str
    workload: WorkloadInfo
    load: dict[str, Any]
    host: dict[str, Any]
    stopped: str | None = None


class SweepPoint(_Model):
    load: str  # "concurrency=4" or "rate=2.0"
    summary: Summary
    meets_slo: bool


class TargetResult(_Model):
    provider: str
    model: str
    adapter: str
    base_url: str | None
    self_hosted: bool = False
    hardware: str | None = None
    summary: Summary
    server_info: dict[str, Any] = Field(default_factory=dict)
    capacity_rps: float | None = None
    capacity_load: str | None = None
    sweep: list[SweepPoint] | None = None
    stopped: str | None = None
    records: list[RequestRecord] | None = None

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


def read_result(path: Path) -> RunResult:
    """Read and validate a results file; a bad one exits 2 naming the file and key."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise BadInputError(f"{path}: cannot be read ({exc.strerror}); check the path") from None
    except ValueError as exc:
        raise BadInputError(f"{path}: not JSON ({exc}); pass a costcli results file") from None
    if not isinstance(raw, dict) or raw.get("schema_version") != SCHEMA_VERSION:
        found = raw.get("schema_version") if isinstance(raw, dict) else None
        raise BadInputError(
            f"{path}: key 'schema_version' is {found!r}, expected {SCHEMA_VERSION}; "
            "pass a results file written by this costcli (--output)"
        )
    try:
        return RunResult.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        raise BadInputError(f"{path}: key '{key}': {err['msg']}; regenerate the file") from None
