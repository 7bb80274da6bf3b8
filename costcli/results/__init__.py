"""What a run produced: `RequestRecord` and `Summary` (metrics.py, DESIGN.md's definitions),
the versioned results document (document.py, its JSON Schema in schema/), and `check`
against a baseline (regress.py). Imports adapters (error classes), workloads, files."""
