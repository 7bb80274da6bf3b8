"""What it costs: the prices file, per-request and run cost, the monthly projection
(API tiers, self-hosted replicas and energy, break-even) and each row's token basis.
Imports results, adapters (the catalogue), workloads and files."""
