"""Shared fixtures: every test suite talks to real parts (see tests/fixtures/)."""

pytest_plugins = [
    "tests.fixtures.loom_server",
    "tests.fixtures.jupyter",
    "tests.fixtures.wait",
]
