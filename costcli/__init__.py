"""costcli: which LLM provider should serve this workload, at what latency and monthly cost.

The public API (costcli/api.py), imported on first use so that `costcli --help` stays fast:
`RunPlan`, `execute`, `ProjectionPlan`, `project`, `check`, `read_result`, `write_result`,
and the result types `RunResult`, `TargetResult`, `Summary`, `RequestRecord`, `Verdict`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_API = {
    "RunPlan": "costcli.api",
    "RunInterrupted": "costcli.api",
    "execute": "costcli.api",
    "project": "costcli.api",
    "check": "costcli.api",
    "read_result": "costcli.api",
    "write_result": "costcli.api",
    "ProjectionPlan": "costcli.projection",
    "LoadSettings": "costcli.load",
    "SweepSpec": "costcli.sweep",
    "SLO": "costcli.metrics",
    "Summary": "costcli.metrics",
    "RequestRecord": "costcli.metrics",
    "RunResult": "costcli.results",
    "TargetResult": "costcli.results",
    "ProjectionReport": "costcli.cost",
    "Verdict": "costcli.regress",
    "CostcliError": "costcli.errors",
    "BadInputError": "costcli.errors",
}
__all__ = [
    "SLO",
    "BadInputError",
    "CostcliError",
    "LoadSettings",
    "ProjectionPlan",
    "ProjectionReport",
    "RequestRecord",
    "RunInterrupted",
    "RunPlan",
    "RunResult",
    "Summary",
    "SweepSpec",
    "TargetResult",
    "Verdict",
    "__version__",
    "check",
    "execute",
    "project",
    "read_result",
    "write_result",
]

if TYPE_CHECKING:
    from costcli.api import (
        RunInterrupted,
        RunPlan,
        check,
        execute,
        project,
        read_result,
        write_result,
    )
    from costcli.cost import ProjectionReport
    from costcli.errors import BadInputError, CostcliError
    from costcli.load import LoadSettings
    from costcli.metrics import SLO, RequestRecord, Summary
    from costcli.projection import ProjectionPlan
    from costcli.regress import Verdict
    from costcli.results import RunResult, TargetResult
    from costcli.sweep import SweepSpec


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'costcli' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
