"""Load points: a plain run is one, `--sweep concurrency=1,2,4` or `--sweep rate=0.5,1,2`
is several, and capacity is the highest that meets the SLO.

A load point meets the SLO when at least ATTAINMENT of its requests met every SLO and its
error rate is at most MAX_ERROR_RATE; without an SLO, only the error rate counts. The
capacity is the sustained requests/s of the highest load point that meets it: the figure
the self-hosted projection uses for one replica.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from costcli.files.errors import BadInputError
from costcli.load.schedule import LoadSettings


class SweepSpec(BaseModel):
    """The load points of a sweep: concurrencies (closed loop) or rates (open loop)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["concurrency", "rate"]
    values: tuple[float, ...] = Field(min_length=1)

    @field_validator("values")
    @classmethod
    def _positive_sorted(cls, values: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0 < v < float("inf") for v in values):
            raise ValueError("sweep values must be positive finite numbers")
        return tuple(sorted(set(values)))

    @model_validator(mode="after")
    def _whole_concurrency(self) -> SweepSpec:
        if self.kind == "concurrency" and any(v != int(v) for v in self.values):
            raise ValueError("concurrency values must be whole numbers")
        return self

    def settings_at(self, base: LoadSettings, value: float) -> LoadSettings:
        if self.kind == "concurrency":
            return base.model_copy(update={"concurrency": int(value), "rate": None})
        return base.model_copy(update={"rate": value})

    def label(self, value: float) -> str:
        return f"{self.kind}={value:g}"

    def describe(self) -> dict[str, object]:
        return {"kind": self.kind, "values": list(self.values)}


def parse_sweep(text: str) -> SweepSpec:
    """`concurrency=1,2,4` or `rate=0.5,1,2` -> SweepSpec (exit 2 on anything else)."""
    kind, sep, values = text.partition("=")
    kind = kind.strip()
    if not sep or kind not in ("concurrency", "rate"):
        raise BadInputError(f"--sweep {text}: use concurrency=1,2,4 or rate=0.5,1,2")
    try:
        nums = tuple(float(v) for v in values.split(",") if v.strip())
        return SweepSpec(kind=kind, values=nums)
    except ValueError:
        raise BadInputError(
            f"--sweep {text}: give positive numbers (whole numbers for concurrency), e.g. 1,2,4"
        ) from None


@dataclass(frozen=True)
class LoadPoint:
    """One load point of a run: its settings and, in a sweep, its label."""

    settings: LoadSettings
    label: str | None = None  # "concurrency=4"; None for a plain run


def load_points(base: LoadSettings, sweep: SweepSpec | None) -> tuple[LoadPoint, ...]:
    """A plain run is a sweep of one point."""
    if sweep is None:
        return (LoadPoint(base),)
    return tuple(LoadPoint(sweep.settings_at(base, v), sweep.label(v)) for v in sweep.values)


def capacity_index(meets_slo: Sequence[bool]) -> int | None:
    """The highest load point that meets the SLO (points are in increasing load)."""
    passing = [i for i, ok in enumerate(meets_slo) if ok]
    return passing[-1] if passing else None
