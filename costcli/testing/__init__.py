"""Tools for testing against costcli: the mock provider (`costcli mock-server`, every
dialect, scripted latency and faults) and the pytest plugin (the `costcli_bench`
fixture). Imports the public API and below."""
