"""costcli: which LLM provider should serve this workload, at what latency and monthly cost."""

__version__ = "0.1.0"
