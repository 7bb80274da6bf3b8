"""Engines run a `RunPlan` (base.py is the contract): `local` (one event loop), `processes`
(worker processes of this machine) and `ray` (Ray tasks), found by name through one
registry that also reads the `costcli.engines` entry-point group. Split engines share
shards.py (jobs and progress lines) and merge.py (records joined, figures computed once).
Imports plan and everything below it."""
