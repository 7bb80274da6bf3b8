"""The benchmark file: a team's named runs, their gate and their projection, as TOML.

Found, most specific first: `--config FILE`, `costcli.toml` in the working directory, or
the `[tool.costcli]` table of `pyproject.toml` there. Its shape:

    default = "nightly"                 # the benchmark `costcli run` runs without a NAME
    [history]
    db = ".costcli/history.sqlite"      # or postgresql://... (COSTCLI_HISTORY_DB, --db win)
    [benchmark.nightly]                 # any RunPlan field, by its own name
    targets = ["mock"]
    requests = 40
    [benchmark.nightly.gate]            # costcli check
    baseline = "history:best-of:7"
    budgets = ["ttft_p95_ms=+10%"]
    [benchmark.nightly.project]         # costcli project: any ProjectionPlan field
    requests_per_month = 2_000_000

A benchmark's own keys besides the plan's: `gate`, `project`, `output` (its results file,
default `.costcli/results/NAME.json`), `history` (add every run to the store) and `labels`
(stored with each run). Relative paths are read from the file's own folder. This module
knows no plan model: the caller hands it the model (`build`), so every field a `RunPlan`
gains works in the file without more code here.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast, get_args

from pydantic import BaseModel, ConfigDict, Field

from costcli.files.errors import BadInputError
from costcli.files.locations import read_toml
from costcli.files.readers import closest_hint, validate

BENCHMARK_FILE = "costcli.toml"
PYPROJECT = "pyproject.toml"
DEFAULT_DB = Path(".costcli") / "history.sqlite"
DB_ENV = "COSTCLI_HISTORY_DB"
# a benchmark's keys that are not plan fields
OWN_KEYS = ("gate", "project", "output", "history", "labels")
_Model = TypeVar("_Model", bound=BaseModel)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Gate(_Strict):
    """`[benchmark.NAME.gate]`: what `costcli check` judges the benchmark's run by."""

    baseline: str | None = None  # a results file, or history:last / best-of:N / label=K=V
    budgets: tuple[str, ...] = ()
    limits: tuple[str, ...] = ()
    resamples: int | None = Field(None, ge=100)
    seed: int | None = None
    strict: bool = False
    junit: str | None = None


class HistorySettings(_Strict):
    db: str | None = None  # a path (SQLite) or a postgresql:// URL


class _BenchmarkOwn(_Strict):
    gate: Gate = Field(default_factory=Gate)
    project: dict[str, Any] = Field(default_factory=dict)
    output: str | None = None
    history: bool = False
    labels: dict[str, str] = Field(default_factory=dict)


class _FileShape(_Strict):
    default: str | None = None
    history: HistorySettings = Field(default_factory=HistorySettings)
    benchmark: dict[str, dict[str, Any]] = Field(default_factory=dict)


@dataclass(frozen=True)
class Benchmark:
    """One named benchmark of a file: its plan fields (raw, paths resolved), gate,
    projection scenario (raw) and where its results go."""

    name: str
    file: Path
    table: str  # "benchmark.nightly" or "tool.costcli.benchmark.nightly"
    plan: dict[str, Any]
    gate: Gate
    project: dict[str, Any]
    output: Path
    history: bool
    labels: dict[str, str] = field(default_factory=dict)
    db: str | None = None  # the file's [history].db, resolved against its folder

    @property
    def folder(self) -> Path:
        return self.file.parent

    @property
    def where(self) -> str:
        return f"{self.file} [{self.table}]"

    def path(self, text: str) -> Path:
        """A path written in the file: relative ones are read from the file's folder."""
        given = Path(text).expanduser()
        return given if given.is_absolute() else self.folder / given


@dataclass(frozen=True)
class BenchmarkFile:
    path: Path
    prefix: str  # "" for costcli.toml, "tool.costcli." in pyproject.toml
    default: str | None
    history: HistorySettings
    tables: dict[str, dict[str, Any]]

    def names(self) -> list[str]:
        return list(self.tables)

    def pick(self, name: str | None, flag: str = "NAME") -> str:
        """The benchmark to run: the one named, else `default`, else the only one."""
        known = ", ".join(self.tables) or "none"
        if name is not None:
            if name not in self.tables:
                raise BadInputError(
                    f"{self.path}: no benchmark '{name}' ({flag}); the file has: {known}"
                )
            return name
        if self.default is not None:
            if self.default not in self.tables:
                raise BadInputError.at(
                    self.path,
                    f"{self.prefix}default",
                    f"names '{self.default}', which is not a [{self.prefix}benchmark.*] table",
                    f"use one of: {known}",
                )
            return self.default
        if len(self.tables) == 1:
            return next(iter(self.tables))
        if not self.tables:
            raise BadInputError(
                f"{self.path}: holds no [{self.prefix}benchmark.NAME] table; add one"
            )
        raise BadInputError(
            f"{self.path}: {len(self.tables)} benchmarks and no key '{self.prefix}default'; "
            f'name one ({known}) or add default = "NAME"'
        )

    def benchmark(self, name: str | None = None) -> Benchmark:
        chosen = self.pick(name)
        table = f"{self.prefix}benchmark.{chosen}"
        raw = self.tables[chosen]
        own = cast(
            _BenchmarkOwn,
            validate(
                _BenchmarkOwn,
                {k: v for k, v in raw.items() if k in OWN_KEYS},
                f"{self.path} [{table}]",
            ),
        )
        bench = Benchmark(
            name=chosen,
            file=self.path,
            table=table,
            plan={k: v for k, v in raw.items() if k not in OWN_KEYS},
            gate=own.gate,
            project=dict(own.project),
            output=Path(),
            history=own.history,
            labels=dict(own.labels),
        )
        output = bench.path(own.output or str(Path(".costcli") / "results" / f"{chosen}.json"))
        db = self.history.db
        if db is not None and "://" not in db:
            db = str(bench.path(db))
        return _replace(bench, output=output, db=db)


def _replace(bench: Benchmark, **changes: Any) -> Benchmark:
    from dataclasses import replace

    return replace(bench, **changes)


def find_file(config: Path | None, cwd: Path | None = None) -> BenchmarkFile | None:
    """The benchmark file in force: `--config`, else ./costcli.toml, else ./pyproject.toml's
    [tool.costcli]; None where there is none."""
    if config is not None:
        if not config.is_file():
            raise BadInputError(f"--config {config}: no such file; check the path")
        return read_file(config)
    here = cwd or Path()  # relative: messages name ./costcli.toml as the user sees it
    if (here / BENCHMARK_FILE).is_file():
        return read_file(here / BENCHMARK_FILE)
    pyproject = here / PYPROJECT
    if pyproject.is_file():
        try:
            has_table = "tool.costcli" in pyproject.read_text(encoding="utf-8", errors="replace")
        except OSError:
            has_table = False
        if has_table:  # only a real [tool.costcli] table counts, not a mention
            tool = read_toml(pyproject, "a pyproject.toml").get("tool")
            if isinstance(tool, dict) and "costcli" in tool:
                return read_file(pyproject)
    return None


def read_file(path: Path) -> BenchmarkFile:
    """A costcli.toml, or a pyproject.toml's [tool.costcli] table, checked for its shape."""
    data = read_toml(path, "a costcli benchmark file (costcli.toml)")
    prefix = ""
    if path.name == PYPROJECT:
        tool = data.get("tool", {})
        data = tool.get("costcli", {}) if isinstance(tool, dict) else {}
        prefix = "tool.costcli."
        if not isinstance(data, dict):
            raise BadInputError.at(path, "tool.costcli", "is not a table", "write [tool.costcli]")
    shape = cast(_FileShape, validate(_FileShape, data, f"{path} [{prefix or 'top level'}]"))
    return BenchmarkFile(path, prefix, shape.default, shape.history, dict(shape.benchmark))


def history_db(given: str | None, bench_db: str | None, cwd: Path | None = None) -> str:
    """The history store: --db, else COSTCLI_HISTORY_DB, else the benchmark file's
    [history].db, else .costcli/history.sqlite in the working directory."""
    for value in (given, os.environ.get(DB_ENV), bench_db):
        if value:
            return value
    return str((cwd or Path.cwd()) / DEFAULT_DB)


# --- a benchmark's plan fields into a model ---------------------------------------------------


def _mentions_path(annotation: Any) -> bool:
    if annotation is Path:
        return True
    return any(_mentions_path(arg) for arg in get_args(annotation))


def path_fields(*models: type[BaseModel]) -> set[str]:
    """The fields of these models that hold a path (or paths): read from the file's folder."""
    return {
        name
        for model in models
        for name, info in model.model_fields.items()
        if _mentions_path(info.annotation)
    }


def resolve_paths(
    bench: Benchmark, values: dict[str, Any], keys: Collection[str]
) -> dict[str, Any]:
    """`values` with each path-holding key's relative paths made relative to the file."""
    out = dict(values)
    for key in keys:
        value = out.get(key)
        if isinstance(value, str):
            out[key] = str(bench.path(value))
        elif isinstance(value, list | tuple):
            out[key] = [str(bench.path(v)) if isinstance(v, str) else v for v in value]
    return out


def unknown_keys(where: str, given: Iterable[str], known: Collection[str]) -> None:
    """Refuse keys that are no field: one line each, with the closest known key."""
    lines = [
        f"{where}: unknown key '{key}'; {closest_hint(key, sorted(known))}"
        for key in given
        if key not in known
    ]
    if lines:
        raise BadInputError.of(lines)


def build(model: type[_Model], values: dict[str, Any], where: str) -> _Model:
    """The model from a benchmark's values; every problem one line naming `where` and key."""
    return cast(_Model, validate(model, values, where))
