"""The history of runs: results documents kept in a database, queried over time.

`open_store(db)` opens SQLite (a path; `.costcli/history.sqlite` by default) or
PostgreSQL (a `postgresql://` URL, the `postgres` extra), creating or migrating its
schema. `store.add(result)` keeps a run (its meta, each target's summary and cost, the
figures `check` gates on, the records where the document kept them); `runs()`,
`series()` and `document()` read them back; `baseline.pick` draws a baseline for
`costcli check --baseline history:...`.
"""

from costcli.results.history.store import HistoryStore, Point, StoredRun, open_store

__all__ = ["HistoryStore", "Point", "StoredRun", "open_store"]
