"""The benchmark harness runs end to end in smoke mode and writes a well-formed report.

No timing is asserted: speed is reported by `make bench` (benchmarks/RESULTS.md), never tested.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = ("1. Small JSON GET", "2. SSE weaver log stream", "3. Terminal WebSocket",
            "4. Magics", "5. Log stream resume")
COLUMNS = ["measurement", "unit", "direct", "ours (loom_jupyter)", "jupyter-server-proxy",
           "ours/direct", "ours/jsp"]
# Sections that measured Jupyter's floor (`api/me`) show it, and what the proxy adds beyond it.
FLOOR_COLUMNS = ["measurement", "unit", "direct", "Jupyter floor (`api/me`)",
                 "ours (loom_jupyter)", "jupyter-server-proxy", "ours − floor − direct",
                 "ours/direct", "ours/jsp"]
PATH_COLUMNS = ("direct", "ours (loom_jupyter)", "jupyter-server-proxy")
_CELL = re.compile(r"^(—|-?[\d,]+(\.\d+)?×?)$")


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _tables(text: str) -> list[list[list[str]]]:
    tables, current = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            current.append(_cells(line))
        elif current:
            tables.append(current)
            current = []
    return tables


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], str]:
    out = tmp_path_factory.mktemp("bench") / "RESULTS.md"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOOM_", "JUPYTER_TOKEN"))}
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--smoke", "--quiet",
                           "--output", str(out)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=170)
    return proc, out.read_text() if out.exists() else ""


@pytest.mark.timeout(180)
def test_smoke_run_succeeds_and_writes_the_report(
        smoke_run: tuple[subprocess.CompletedProcess[str], str]) -> None:
    proc, report = smoke_run
    assert proc.returncode == 0, proc.stderr[-4000:] + proc.stdout[-2000:]
    assert report.startswith("# loom-jupyter benchmarks")
    assert report.split("<!-- analysis")[0].strip() == proc.stdout.strip()
    assert "FAILED" not in report


@pytest.mark.timeout(180)
def test_report_has_every_section_machine_facts_and_targets(
        smoke_run: tuple[subprocess.CompletedProcess[str], str]) -> None:
    _, report = smoke_run
    for heading in ("## Machine", "## Results", "## Targets"):
        assert heading in report
    for section in SECTIONS:
        assert f"### {section}" in report, section
    for fact in ("CPU", "memory", "Python", "packages", "load generator"):
        assert re.search(rf"^\| {fact} \| \S", report, re.MULTILINE), fact


@pytest.mark.timeout(180)
def test_tables_are_well_formed_and_every_path_was_measured(
        smoke_run: tuple[subprocess.CompletedProcess[str], str]) -> None:
    _, report = smoke_run
    tables = _tables(report)
    results = [t for t in tables if t[0] in (COLUMNS, FLOOR_COLUMNS)]
    assert len(results) == len(SECTIONS)
    for table in tables:
        width = len(table[0])
        assert all(len(row) == width for row in table), table
        assert all(set(cell) <= set("-:") for cell in table[1]), table[1]
    measured_by_path = {name: 0 for name in PATH_COLUMNS}
    for table in results:
        for row in table[2:]:
            for name, cell in zip(table[0][2:], row[2:], strict=True):
                assert _CELL.match(cell.replace(" ", "")), (row, cell)
                if name in measured_by_path and cell != "—":
                    measured_by_path[name] += 1
    assert all(count >= 10 for count in measured_by_path.values()), measured_by_path
    targets = next(t for t in tables if t[0] == ["target", "measured", "verdict"])
    assert len(targets) == 2 + 11
    for row in targets[2:]:
        assert row[2] == "met" or row[2].startswith(("missed", "not measured")), row


@pytest.mark.timeout(180)
def test_the_small_get_is_measured_beside_jupyters_floor(
        smoke_run: tuple[subprocess.CompletedProcess[str], str]) -> None:
    """Section 1 has the floor column, and the proxy's own cost for its times and CPU."""
    _, report = smoke_run
    get = next(t for t in _tables(report) if t[0] == FLOOR_COLUMNS)
    rows = {row[0].rstrip(" ¹²³⁴⁵⁶⁷⁸⁹"): dict(zip(FLOOR_COLUMNS, row, strict=True)) for row in get[2:]}
    for name in ("latency p50, 1 connection", "server CPU per request, 16 connections"):
        for column in FLOOR_COLUMNS[2:7]:
            assert rows[name][column] != "—", (name, column)
    assert rows["throughput, 16 connections"]["Jupyter floor (`api/me`)"] != "—"
    assert rows["throughput, 16 connections"]["ours − floor − direct"] == "—"
    floor_cpu = rows["Jupyter process CPU per request, 16 connections"]
    assert floor_cpu["direct"] == "—" and floor_cpu["Jupyter floor (`api/me`)"] != "—"
    assert "### 1. Small JSON GET" in report.split("### 2.")[0]
    targets = next(t for t in _tables(report) if t[0] == ["target", "measured", "verdict"])
    assert any(row[0].startswith("small GET p50 ≤ floor + direct") and row[2] != "not measured"
               for row in targets)
