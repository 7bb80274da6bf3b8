"""What every target is sent: `RequestSpec` and `Workload` (spec.py), their sources, one
module each (built-ins, synthetic, JSONL, ShareGPT; sources.py picks one by name), and the
grading of finished answers (schemas, tool calls, expected answers). Imports only files."""
