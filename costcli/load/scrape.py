"""`--server-metrics URL`: the server's Prometheus endpoint, read every second of a measured
phase (the managed llama-server's own `/metrics` without being asked).

The scraper is one task beside the phase's requests, on its own connection, with a
timeout of one interval. Only the lines of metrics costcli reads are parsed (a vLLM
endpoint's histograms are most of its text), so a scrape costs the event loop little.
No key is sent: a provider's key is for its API, not for a metrics endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx  # imported where a run scrapes: 20 MB a run without it does not hold

from costcli.load import clock
from costcli.results.server_metrics import OURS, Scrapes, parse

INTERVAL_S = 1.0


def wanted_lines(text: str) -> str:
    """The exposition's sample lines of the metrics costcli reads."""
    keep = []
    for line in text.splitlines():
        if line and line[0] != "#":
            name = line.split("{", 1)[0].split(" ", 1)[0]
            if name in OURS:
                keep.append(line)
    return "\n".join(keep) + "\n"


async def scrape_once(client: httpx.AsyncClient, url: str) -> tuple[dict[str, float], set[str]]:
    """One scrape; a ValueError says why it read nothing."""
    import httpx

    try:
        response = await client.get(url)
    except httpx.HTTPError as exc:
        raise ValueError(f"{type(exc).__name__}: {exc}"[:200]) from None
    if response.status_code != 200:
        hint = " (llama-server needs --metrics)" if response.status_code in (404, 501) else ""
        raise ValueError(f"HTTP {response.status_code}{hint}")
    try:
        return parse(wanted_lines(response.text))
    except (ValueError, TypeError, IndexError) as exc:
        raise ValueError(f"not Prometheus text: {exc}"[:200]) from None


async def _scrape(
    scrapes: Scrapes, epoch_ns: Callable[[], int], note: Callable[[dict[str, Any]], None] | None
) -> None:
    import httpx

    interval = scrapes.interval_s
    async with httpx.AsyncClient(timeout=interval, trust_env=False) as client:
        tick = clock.perf_ns()
        while True:
            at_s = (clock.perf_ns() - epoch_ns()) / 1e9
            try:
                values, names = await scrape_once(client, scrapes.url)
            except ValueError as exc:
                scrapes.miss(str(exc))
            else:
                scrapes.add(at_s, values, names)
                if note is not None:
                    note({"at": round(at_s, 3), "v": values})
            tick += int(interval * 1e9)
            await asyncio.sleep(max(0.0, (tick - clock.perf_ns()) / 1e9))


@contextlib.asynccontextmanager
async def scraping(
    scrapes: Scrapes | None,
    epoch_ns: Callable[[], int],
    note: Callable[[dict[str, Any]], None] | None = None,
) -> AsyncIterator[None]:
    """Scrape into `scrapes` while the block runs (nothing when it is None); `note` hears
    each sample (the journal's `scrape` line)."""
    if scrapes is None:
        yield
        return
    task = asyncio.create_task(_scrape(scrapes, epoch_ns, note))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
