"""Tests of the embedded local Loom server (loom_jupyter/local/)."""
