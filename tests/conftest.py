"""Shared fixtures: every test suite talks to real parts (see tests/fixtures/)."""

pytest_plugins = [
    "tests.fixtures.wait",  # first: the others import it, and it must be assert-rewritten
    "tests.fixtures.loom_server",
    "tests.fixtures.jupyter",
]
