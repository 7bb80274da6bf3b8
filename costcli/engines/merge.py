"""Shards joined: `costcli merge`, and the parent of every split engine. Records are put
together and every figure computed once, from all of them, exactly as one process would.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from costcli.files.errors import BadInputError
from costcli.load.schedule import Shard
from costcli.results.document import RunResult, TargetResult
from costcli.results.metrics import SLO, Digest, RequestRecord

if TYPE_CHECKING:
    from costcli.pricing.prices import Prices


def _shard_of(result: RunResult, where: str) -> Shard:
    if result.meta.shard is None:
        raise BadInputError(
            f"{where}: key 'meta.shard' is missing; pass files of costcli run --shard"
        )
    return Shard.model_validate(
        dict(zip(("index", "count"), map(int, result.meta.shard.split("/")), strict=True))
    )


def check_shards(results: Sequence[RunResult], names: Sequence[str]) -> None:
    """The files are the N shards of one run: same workload, seed and load, each once."""
    shards = [_shard_of(r, n) for r, n in zip(results, names, strict=True)]
    count = shards[0].count
    first = results[0].meta
    for result, shard, name in zip(results, shards, names, strict=True):
        meta = result.meta
        if shard.count != count:
            raise BadInputError(
                f"{name}: key 'meta.shard' is {shard.label}, but {names[0]} is of {count}"
            )
        for key in ("sha256", "seed"):
            if getattr(meta.workload, key) != getattr(first.workload, key):
                raise BadInputError(
                    f"{name}: key 'meta.workload.{key}' differs from {names[0]}; "
                    "these are shards of different runs"
                )
        if meta.load != first.load:
            raise BadInputError(
                f"{name}: key 'meta.load' differs from {names[0]}; "
                "these are shards of different runs"
            )
    seen = sorted(s.index for s in shards)
    if seen != list(range(1, count + 1)):
        missing = sorted(set(range(1, count + 1)) - set(seen))
        twice = sorted({i for i in seen if seen.count(i) > 1})
        what = (
            f"shard {twice[0]}/{count} is given twice"
            if twice
            else f"shard {missing[0]}/{count} is missing"
        )
        raise BadInputError(
            f"{', '.join(names)}: {what}; pass each of the {count} shard files once"
        )


def _slo(targets: Sequence[TargetResult]) -> SLO | None:
    goodput = targets[0].summary.goodput
    return goodput.slo if goodput is not None else None


def merge_target(
    parts: Sequence[TargetResult],
    prices: Prices | None,
    with_records: bool,
    sources: Sequence[Iterable[RequestRecord] | None] | None = None,
) -> TargetResult:
    """One target's shards -> its entry, every figure computed once from all the records:
    each shard's inline records, or else (`sources`) the ones its journal streams."""
    from costcli.load.runner import client_health, priced
    from costcli.pricing.cost import with_outcomes

    streams = [
        p.records if p.records is not None else (sources[i] if sources else None)
        for i, p in enumerate(parts)
    ]
    if any(s is None for s in streams):
        raise BadInputError(
            f"{parts[0].label}: a shard was written without records and its journal is not "
            "there; run every shard with --records, or keep its journal beside it"
        )
    first = parts[0]
    digest = Digest(_slo(parts))
    records: list[RequestRecord] = []
    for stream in streams:
        for record in stream or ():
            digest.add(record)
            if with_records:
                records.append(record)
    records.sort(key=lambda r: r.index)
    summary = digest.summary()
    provider = first.price_provider or first.provider
    cost = priced(provider, first.model, first.self_hosted, digest, prices)
    summary.cost = with_outcomes(cost, summary)  # per session, per correct answer
    waits = sum(p.client.max_concurrency_waits for p in parts if p.client)
    cap = first.client.max_concurrency if first.client else None
    return first.model_copy(
        update={
            "summary": summary,
            "client": client_health(digest, waits, cap),
            "stopped": next((p.stopped for p in parts if p.stopped), None),
            "records": records if with_records else None,
        }
    )


def _journaled(result: RunResult, target: int) -> Iterable[RequestRecord] | None:
    """A shard's records of one target from its journal, streamed (None: no journal)."""
    from costcli.results.journal import point_records

    where = result.meta.journal
    if where is None or not Path(where).exists():
        return None
    return point_records(Path(where), target, None)


def merge(
    results: Sequence[RunResult],
    prices: Prices | None,
    with_records: bool,
    names: Sequence[str] | None = None,
) -> RunResult:
    """The shards of one run -> one results document, as if one process had run it."""
    names = names or [f"shard {r.meta.shard}" for r in results]
    check_shards(results, names)
    by_target: list[list[TargetResult]] = []
    for result in results:
        for i, target in enumerate(result.targets):
            if i == len(by_target):
                by_target.append([])
            if by_target[i] and by_target[i][0].label != target.label:
                other = by_target[i][0].label
                raise BadInputError(
                    f"{names[0]}: key 'targets.{i}' is {target.label} in one shard and "
                    f"{other} in another; these are shards of different runs"
                )
            by_target[i].append(target)
    if any(r.targets and r.targets[0].sweep for r in results):
        raise BadInputError(
            f"{names[0]}: a sweep's shards cannot be merged yet; run the sweep in one process"
        )
    sources = [[_journaled(r, i) for r in results] for i in range(len(by_target))]
    targets = [
        merge_target(parts, prices, with_records, sources[i]) for i, parts in enumerate(by_target)
    ]
    meta = results[0].meta.model_copy(
        update={
            "started_at": min(r.meta.started_at for r in results),
            "ended_at": max(r.meta.ended_at for r in results),
            "stopped": next((r.meta.stopped for r in results if r.meta.stopped), None),
            "shard": None,
            "processes": len(results),
        }
    )
    complete = all(r.complete for r in results) and all(len(p) == len(results) for p in by_target)
    return RunResult(complete=complete, meta=meta, targets=targets)


def merge_files(paths: Sequence[Path], prices: Prices | None, with_records: bool) -> RunResult:
    """`costcli merge FILES...`: shard results files -> one results document."""
    from costcli.results.document import read_result

    if not paths:
        raise BadInputError("costcli merge: no files given; pass the shard results files")
    return merge([read_result(p) for p in paths], prices, with_records, [str(p) for p in paths])
