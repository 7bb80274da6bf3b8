"""The load engine of one process: the seeded schedule and its shards (schedule.py), one
request measured (measure.py), the plain and the conversational phases (requests.py,
sessions.py, sharing phase.py), one target at one load point (target.py), sweeps,
signals, and the run of every target over every load point (runner.py). One clock
(clock.py). Imports pricing, results, adapters, workloads and files."""
