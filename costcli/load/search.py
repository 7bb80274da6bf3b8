"""Capacity search: the highest load that meets the SLO, found by measuring (`--search`).

A search brackets by doubling from its start until a step fails, then bisects the bracket
until it is within `precision` (10%) of its low end, or, for concurrency, one stream wide;
`steps` bounds the whole. A rate search with no start first probes one stream (a closed
loop at concurrency 1): the rate it sustains is where the doubling begins.

Each step runs at least MIN_STEP_REQUESTS requests (and, in an open loop, STEP_SECONDS of
arrivals) so that its p95 rests on more than a handful of requests, and it ends early when
its verdict is already known: enough requests missed the SLO that the step cannot meet it,
or the server is over-saturated (TTFT or the client's own delay grows through the step, or
the server's queue grows scrape after scrape). The verdicts are the SLO's own (`meets`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from costcli.files.errors import BadInputError
from costcli.load.schedule import LoadSettings
from costcli.load.sweep import LoadPoint
from costcli.results.metrics import ATTAINMENT, MAX_ERROR_RATE, SLO, RequestRecord, meets_slo

MIN_STEP_REQUESTS = 50  # p95 of fewer rests on one or two requests
STEP_SECONDS = 3.0  # an open-loop step sends at least this long
STREAMS_PER_STEP = 8  # a closed-loop step: at least this many requests per stream
DEFAULT_STEPS = 12
PROBE = "probe"
GROWTH = 2.0  # a figure this many times its first third's median, rising: saturated
GROWTH_FLOOR_MS = 20.0  # ... and at least this much higher (noise on a fast server)
WATCH_AFTER = 30  # records before a trend is read


class SearchSpec(BaseModel):
    """What `--search concurrency|rate[=START[..LIMIT]]` and `--search-steps N` ask."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["concurrency", "rate"]
    start: float | None = Field(None, gt=0, allow_inf_nan=False)
    limit: float | None = Field(None, gt=0, allow_inf_nan=False)
    steps: int = Field(DEFAULT_STEPS, ge=2, le=64)
    precision: float = Field(0.1, gt=0, lt=1)

    @model_validator(mode="after")
    def _fits(self) -> SearchSpec:
        whole = (v for v in (self.start, self.limit) if v is not None)
        if self.kind == "concurrency" and any(v != int(v) for v in whole):
            raise ValueError("a concurrency search starts and ends at whole numbers")
        if self.start is not None and self.limit is not None and self.limit < self.start:
            raise ValueError("the search's limit is below its start")
        return self

    def label(self, value: float) -> str:
        return f"{self.kind}={value:g}"

    def point(self, base: LoadSettings, value: float | None) -> LoadPoint:
        """The step at `value` (None: the probe), sized to mean something."""
        if value is None:
            settings = base.model_copy(update={"concurrency": 1, "rate": None})
            return LoadPoint(_sized(settings), "concurrency=1 (probe)")
        if self.kind == "concurrency":
            settings = base.model_copy(update={"concurrency": int(value), "rate": None})
        else:
            settings = base.model_copy(update={"rate": value})
        return LoadPoint(_sized(settings), self.label(value))

    def value_of(self, label: str) -> float | None:
        """A step's value from its label (a journal's `point` line); None: the probe."""
        if label.endswith("(probe)"):
            return None
        kind, _, value = label.partition("=")
        if kind != self.kind:
            raise ValueError(label)
        return float(value)

    def describe(self) -> dict[str, object]:
        return self.model_dump(mode="json")


def _sized(settings: LoadSettings) -> LoadSettings:
    """A step long enough for its percentiles: a duration given is kept; else at least
    MIN_STEP_REQUESTS, STREAMS_PER_STEP per stream and STEP_SECONDS of arrivals."""
    if settings.duration_s is not None:
        return settings
    floor = max(MIN_STEP_REQUESTS, STREAMS_PER_STEP * settings.concurrency)
    if settings.rate:
        floor = max(floor, math.ceil(settings.rate * STEP_SECONDS))
    return settings.model_copy(update={"requests": max(settings.requests or 0, floor)})


def parse_search(text: str, steps: int | None = None) -> SearchSpec:
    """`concurrency`, `rate`, `rate=4`, `concurrency=2..64` -> SearchSpec (exit 2 else)."""
    kind, sep, bounds = text.strip().partition("=")
    if kind not in ("concurrency", "rate"):
        raise BadInputError(
            f"--search {text}: use concurrency or rate, optionally =START or =START..LIMIT "
            "(concurrency=2..64)"
        )
    start, _, limit = bounds.partition("..")
    try:
        return SearchSpec(
            kind=kind,
            start=float(start) if sep and start.strip() else None,
            limit=float(limit) if limit.strip() else None,
            steps=DEFAULT_STEPS if steps is None else steps,
        )
    except ValidationError as exc:
        reason = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
        raise BadInputError(f"--search {text}: {reason}; e.g. --search concurrency=1..64") from None
    except ValueError:
        raise BadInputError(
            f"--search {text}: START and LIMIT are numbers; e.g. --search concurrency=1..64"
        ) from None


def with_steps(search: object, steps: int) -> object:
    """`--search-steps N` over the search given: a SearchSpec (the command line) or a
    benchmark file's table (validated with the rest of its plan)."""
    if search is None:
        raise BadInputError(f"--search-steps {steps}: it bounds a --search; add --search")
    if isinstance(search, SearchSpec):
        return search.model_copy(update={"steps": steps})
    return {**search, "steps": steps} if isinstance(search, dict) else search


@dataclass(frozen=True)
class Step:
    value: float | None  # None: the probe
    passed: bool
    rps: float  # the requests/s it sustained


@dataclass
class Search:
    """The steps so far and the next one: bracket by doubling, then bisect."""

    spec: SearchSpec
    steps: list[Step] = field(default_factory=list)

    def add(self, value: float | None, passed: bool, rps: float) -> None:
        self.steps.append(Step(value, passed, rps))

    def next_value(self) -> tuple[bool, float | None]:
        """(go on, the next step's value); (True, None) is the probe."""
        spec, steps = self.spec, self.steps
        if len(steps) >= spec.steps:
            return False, None
        probed = [s for s in steps if s.value is None]
        if not steps and spec.kind == "rate" and spec.start is None:
            return True, None
        if probed and not probed[0].passed:
            return False, None  # one stream already misses the SLO: no load meets it
        tried = [s for s in steps if s.value is not None]
        if not tried:
            first = spec.start or (_round(probed[0].rps) if probed else 1.0)
            return True, self._clamp(first)
        return self._between(tried)

    def _between(self, tried: Sequence[Step]) -> tuple[bool, float | None]:
        spec = self.spec
        passes = [s.value for s in tried if s.passed and s.value is not None]
        lo = max(passes, default=None)
        fails = [s.value for s in tried if not s.passed and s.value is not None]
        hi = min((v for v in fails if lo is None or v > lo), default=None)
        if hi is None:  # nothing failed yet: double
            assert lo is not None
            if spec.limit is not None and lo >= spec.limit:
                return False, None
            return True, self._clamp(lo * 2)
        if lo is None:  # the first step failed: halve
            if spec.kind == "concurrency" and hi <= 1:
                return False, None
            return True, self._clamp(hi / 2)
        if hi - lo <= spec.precision * lo or (spec.kind == "concurrency" and hi - lo <= 1):
            return False, None
        mid = (lo + hi) / 2
        return True, float(int(mid)) if spec.kind == "concurrency" else _round(mid, 3)

    def _clamp(self, value: float) -> float:
        if self.spec.limit is not None:
            value = min(value, self.spec.limit)
        return float(max(1, int(value))) if self.spec.kind == "concurrency" else _round(value, 3)

    def capacity(self) -> float | None:
        """The highest value tried that met the SLO."""
        return max((s.value for s in self.steps if s.passed and s.value is not None), default=None)


def _round(value: float, digits: int = 2) -> float:
    """`value` to `digits` significant figures (a rate step's label stays readable)."""
    if value <= 0:
        return value
    return round(value, digits - 1 - math.floor(math.log10(value)))


# --- a step's early end -------------------------------------------------------------------


@dataclass
class StepWatch:
    """Reads each record of a step as it completes; says why the step can end early."""

    slo: SLO
    planned: int | None  # the step's requests (None: a duration)
    queue: Callable[[], Sequence[float]] | None = None  # the server's waiting requests
    seen: int = 0
    misses: dict[str, int] = field(default_factory=dict)
    delays: list[float] = field(default_factory=list)  # TTFT + client delay, in order

    def __call__(self, record: RequestRecord) -> str | None:
        self.seen += 1
        for metric in self._missed(record):
            self.misses[metric] = self.misses.get(metric, 0) + 1
        if record.ok and record.ttft_ms is not None:
            self.delays.append(record.ttft_ms + (record.client_delay_ms or 0.0))
        return self._decided() or self._growing() or self._queued()

    def _missed(self, record: RequestRecord) -> list[str]:
        if not record.ok:
            return ["errors"]
        if self.slo.percentile is None:
            return [] if meets_slo(record, self.slo) else ["slo"]
        one = SLO.model_construct
        return [
            name
            for name, slo in (
                ("ttft", one(ttft_ms=self.slo.ttft_ms)),
                ("tpot", one(tpot_ms=self.slo.tpot_ms)),
                ("e2e", one(e2e_ms=self.slo.e2e_ms)),
            )
            if getattr(slo, f"{name}_ms") is not None and not meets_slo(record, slo)
        ]

    def _decided(self) -> str | None:
        if self.planned is None:
            return None
        share = 1 - (self.slo.percentile / 100 if self.slo.percentile else ATTAINMENT)
        allowed = {"errors": _whole(MAX_ERROR_RATE * self.planned)}
        for name, missed in self.misses.items():
            if missed > allowed.get(name, _whole(share * self.planned)):
                what = "failed" if name == "errors" else f"missed the SLO ({name})"
                return f"decided: {missed} of its {self.planned} requests {what}"
        return None

    def _growing(self) -> str | None:
        n = len(self.delays)
        if n < WATCH_AFTER or n % 5:  # read every fifth record: medians cost a sort
            return None
        third = n // 3
        first, middle, last = (_median(self.delays[i * third : (i + 1) * third]) for i in range(3))
        if first < middle < last and last >= max(GROWTH * first, first + GROWTH_FLOOR_MS):
            return (
                f"saturated: TTFT (with the client's delay) grew from {first:.0f} ms to "
                f"{last:.0f} ms through the step"
            )
        return None

    def _queued(self) -> str | None:
        waiting = list(self.queue()) if self.queue is not None else []
        tail = waiting[-4:]
        if len(tail) == 4 and all(a < b for a, b in itertools.pairwise(tail)):
            return (
                f"saturated: the server's queue grew scrape after scrape ({tail[0]:g} to "
                f"{tail[-1]:g} requests waiting)"
            )
        return None


def _whole(share_of_planned: float) -> int:
    """How many requests a share of the step is (0.1 x 50 is 5, not 4.9999...)."""
    return math.floor(share_of_planned + 1e-9)


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
