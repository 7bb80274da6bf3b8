"""costcli: which LLM provider should serve this workload, at what latency and monthly cost.

The public API (costcli/api.py), imported on first use so that `costcli --help` stays fast:
`RunPlan`, `execute`, `ProjectionPlan`, `project`, `check`, `read_result`, `write_result`,
and the result types `RunResult`, `TargetResult`, `Summary`, `RequestRecord`, `Verdict`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_API = {
    "RunPlan": "costcli.plan",
    "RunInterrupted": "costcli.engines.base",
    "execute": "costcli.api",
    "project": "costcli.api",
    "check": "costcli.api",
    "read_result": "costcli.api",
    "write_result": "costcli.api",
    "ProjectionPlan": "costcli.pricing.projection",
    "LoadSettings": "costcli.load.schedule",
    "SweepSpec": "costcli.load.sweep",
    "SLO": "costcli.results.metrics",
    "Summary": "costcli.results.metrics",
    "RequestRecord": "costcli.results.metrics",
    "RunResult": "costcli.results.document",
    "TargetResult": "costcli.results.document",
    "ProjectionReport": "costcli.pricing.cost",
    "Verdict": "costcli.results.regress",
    "CostcliError": "costcli.files.errors",
    "BadInputError": "costcli.files.errors",
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
    from costcli.api import check, execute, project, read_result, write_result
    from costcli.engines.base import RunInterrupted
    from costcli.files.errors import BadInputError, CostcliError
    from costcli.load.schedule import LoadSettings
    from costcli.load.sweep import SweepSpec
    from costcli.plan import RunPlan
    from costcli.pricing.cost import ProjectionReport
    from costcli.pricing.projection import ProjectionPlan
    from costcli.results.document import RunResult, TargetResult
    from costcli.results.metrics import SLO, RequestRecord, Summary
    from costcli.results.regress import Verdict


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'costcli' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
