"""Benchmarks: the Loom proxy against a direct connection and against jupyter-server-proxy.

`python -m benchmarks` (or `make bench`) starts a local Loom server and two Jupyter servers
(one with the loom_jupyter extension, one with jupyter-server-proxy forwarding to the same
Loom), measures the same operations through all three paths, alternating them so that
drift on a shared machine cancels, and prints a Markdown report (`--write` also stores it
in `benchmarks/RESULTS.md`). `--smoke` runs tiny sizes, for the test suite.
"""
