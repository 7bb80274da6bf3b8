"""Protocol code, one module per wire dialect (openai, groq, llamacpp), on one HTTP
transport and SSE parser; the provider catalogue (`Target`) and the registry that loads
built-ins and `costcli.adapters` entry points alike. base.py is the contract. Imports
workloads and files."""
