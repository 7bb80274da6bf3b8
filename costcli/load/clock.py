"""The one clock of the load engine: `clock.perf_ns()` (time.perf_counter_ns).

Every module of the engine reads it through this module's attribute, so a test can swap
in a fake clock in one place (`monkeypatch.setattr(clock, "perf_ns", fake)`).
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

perf_ns = time.perf_counter_ns


def now_iso() -> str:
    """The wall-clock time, for the results' and the journal's timestamps."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")
