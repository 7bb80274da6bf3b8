"""One benchmark run: targets one after another, the same requests in the same order.

Builds adapters through the registry, drives the scheduler, summarises, prices and
assembles the RunResult. Interrupted runs keep what was measured (`complete: false`).
"""

from __future__ import annotations

import asyncio
import platform
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from costcli import __version__
from costcli.adapters import registry
from costcli.adapters.base import Adapter, ProviderError, TransportOptions
from costcli.catalog import Target
from costcli.errors import UnreachableError
from costcli.load import LoadSettings, ProgressObserver, TargetRun, run_target
from costcli.metrics import SLO, RequestRecord, summarize
from costcli.redact import Redactor, for_target
from costcli.results import Meta, RequestRecordDoc, RunResult, TargetResult, WorkloadInfo
from costcli.workload import Workload

if TYPE_CHECKING:
    from costcli.prices import Prices


def redact_url(url: str | None) -> str | None:
    """A URL without any user:password@ part (a key may hide there)."""
    if not url or "@" not in url:
        return url
    scheme, sep, rest = url.partition("://")
    host, slash, path = rest.partition("/")
    return scheme + sep + host.rsplit("@", 1)[-1] + slash + path


def _redacted(value: Any, redact: Redactor) -> Any:
    """Every string in `value` (server facts from an adapter) through the target's redactor."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redacted(v, redact) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v, redact) for v in value]
    return value


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class RunState:
    """Live state of a run; the CLI summarises it even after Ctrl-C."""

    started_at: str = field(default_factory=now_iso)
    done: list[tuple[Target, TargetRun, dict[str, Any]]] = field(default_factory=list)
    current: tuple[Target, TargetRun, dict[str, Any]] | None = None
    sweeps: list[TargetResult] = field(default_factory=list)


def host_info() -> dict[str, Any]:
    import os

    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }


def transport_for(settings: LoadSettings) -> TransportOptions:
    streams = settings.max_concurrency or settings.concurrency
    if settings.rate:
        streams = max(streams, settings.max_concurrency or 64)
    return TransportOptions(concurrency=streams, timeout_s=settings.timeout_s)


def create_adapter(target: Target, settings: LoadSettings, workload: Workload) -> Adapter:
    """The target's adapter, sized for the load and (where it cares) the workload."""
    adapter = registry.create(target, transport_for(settings))
    fit = getattr(adapter, "fit_workload", None)  # optional hook (adapters/base.py)
    if callable(fit):
        fit(workload)
    return adapter


async def start(adapter: Adapter, target: Target) -> None:
    """Start the adapter; a ProviderError here means the target cannot be reached at all."""
    try:
        await adapter.start()
    except ProviderError as exc:
        reason = for_target(target)(str(exc))
        raise UnreachableError(f"{target.label}: cannot start: {reason}") from exc


async def measure_target(
    target: Target,
    workload: Workload,
    settings: LoadSettings,
    observer: ProgressObserver,
    run: TargetRun,
    info: dict[str, Any],
) -> None:
    adapter = create_adapter(target, settings, workload)
    try:
        await start(adapter, target)
        info.update(adapter.describe())
        await run_target(adapter, workload, settings, target.label, observer, run)
        info.update(adapter.describe())
    finally:
        await adapter.close()


async def run_all(
    targets: Sequence[Target],
    workload: Workload,
    settings: LoadSettings,
    observer: ProgressObserver,
    state: RunState,
) -> None:
    for target in targets:
        run, info = TargetRun(), dict[str, Any]()
        state.current = (target, run, info)
        await measure_target(target, workload, settings, observer, run, info)
        state.done.append(state.current)
        state.current = None
        if run.stopped:
            break


def target_result(
    target: Target,
    records: Sequence[RequestRecord],
    info: dict[str, Any],
    slo: SLO | None,
    with_records: bool,
    stopped: str | None = None,
    prices: Prices | None = None,
) -> TargetResult:
    summary = summarize(records, slo)
    summary.cost = run_cost(target, records, prices)
    # a second net behind the adapter's own: no record or server fact carries a secret
    redact = for_target(target)
    docs = [r.to_json() for r in records] if with_records else []
    for doc in docs:
        if doc["error_message"]:
            doc["error_message"] = redact(doc["error_message"])
    return TargetResult(
        provider=target.provider,
        model=target.model,
        adapter=target.adapter,
        base_url=redact_url(target.base_url),
        self_hosted=target.self_hosted,
        hardware=target.settings.hardware if target.settings else None,
        summary=summary,
        server_info=_redacted(info, redact),
        stopped=stopped,
        records=[RequestRecordDoc.model_validate(d) for d in docs] if with_records else None,
    )


def run_cost(
    target: Target, records: Sequence[RequestRecord], prices: Prices | None
) -> dict[str, Any] | None:
    """The summary's `cost` from the usage the server reported (None without a prices file)."""
    if prices is None:
        return None
    from costcli.cost import cost_summary

    # every answer the server reported usage for is billed, an invalid_output one too
    usages = [
        (
            r.input_tokens or 0,
            r.output_tokens or 0,
            r.cached_input_tokens or 0,
            r.reasoning_tokens or 0,
        )
        for r in records
        if r.output_tokens is not None and not r.tokens_estimated
    ]
    return cost_summary(
        target.provider, target.model, usages, prices, self_hosted=target.self_hosted
    )


def build_result(
    state: RunState,
    workload: Workload,
    settings: LoadSettings,
    slo: SLO | None,
    with_records: bool,
    complete: bool,
    prices: Prices | None = None,
) -> RunResult:
    entries = list(state.done)
    if state.current is not None and state.current[1].records:
        entries.append(state.current)
    # finished sweeps first (a sweep builds its own), then targets measured in one pass
    targets = list(state.sweeps) + [
        target_result(
            t,
            run.records,
            info,
            slo,
            with_records,
            run.stopped or (None if complete else "interrupted"),
            prices,
        )
        for t, run, info in entries
    ]
    stopped = next((t.stopped for t in targets if t.stopped), None)
    meta = Meta(
        costcli_version=__version__,
        started_at=state.started_at,
        ended_at=now_iso(),
        workload=WorkloadInfo(
            name=workload.name,
            sha256=workload.sha256,
            requests_per_cycle=len(workload.items),
            seed=settings.seed,
            unique_prefix=workload.unique_prefix,
            max_tokens=workload.max_tokens,
        ),
        load=settings.describe(),
        host=host_info(),
        stopped=stopped,
    )
    return RunResult(complete=complete, meta=meta, targets=targets)


def run_sync(
    targets: Sequence[Target],
    workload: Workload,
    settings: LoadSettings,
    observer: ProgressObserver,
    state: RunState,
) -> None:
    asyncio.run(run_all(targets, workload, settings, observer, state))
