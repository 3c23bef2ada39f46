"""The Markdown report: machine facts, one table per section (medians and ratios), the targets."""
from __future__ import annotations

import math
import os
import platform
import subprocess
from collections.abc import Callable
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from .stack import FLOOR, LABELS, PATHS
from .stats import Metric, Results

ANALYSIS_MARK = "<!-- analysis: everything below this line is kept by --write -->"
_PACKAGES = ("loom-jupyter", "jupyter_server", "jupyter-server-proxy", "tornado", "httpx",
             "httpcore", "websockets", "ipython", "pydantic")


def fmt(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    size = abs(value)
    if float(value).is_integer() or size >= 1000:
        return f"{value:,.0f}"
    if size >= 100:
        return f"{value:.0f}"
    if size >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def fmt_ratio(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.2f}×"


# -- machine facts ------------------------------------------------------------------------
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _git() -> str:
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, text=True,
                              capture_output=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               text=True, capture_output=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}{' + uncommitted changes' if dirty else ''}" if head else "unknown"


def _versions() -> str:
    found = []
    for name in _PACKAGES:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    return ", ".join(found)


def machine_facts(generator: str) -> dict[str, str]:
    cpus = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cpus
    return {
        "date (UTC)": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "CPU": f"{_cpu_model()}, {cpus} logical CPUs ({usable} usable)",
        "memory": _memory(),
        "OS": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "packages": _versions(),
        "commit": _git(),
        "load generator": generator,
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


# -- tables -------------------------------------------------------------------------------
OWN = "ours − floor − direct"


def _columns(metrics: list[Metric]) -> list[str]:
    """The paths of a section: the three of every section, plus the floor where it was measured."""
    floor = any(m.measured(FLOOR) for m in metrics)
    return [p for p in (PATHS[0], FLOOR, *PATHS[1:]) if p in PATHS or floor]


_MARKS = "¹²³⁴⁵⁶⁷⁸⁹"


def _row(metric: Metric, columns: list[str], mark: str = "") -> str:
    cells = [metric.name + (f" {mark}" if mark else ""), metric.unit]
    cells += [fmt(metric.value(p)) for p in columns]
    if FLOOR in columns:
        cells.append(fmt(metric.own()))
    cells += [fmt_ratio(metric.ratio("ours", "direct")), fmt_ratio(metric.ratio("ours", "jsp"))]
    return "| " + " | ".join(cells) + " |"


def _head(columns: list[str]) -> list[str]:
    names = [LABELS[p] for p in columns] + ([OWN] if FLOOR in columns else [])
    head = "| measurement | unit | " + " | ".join(names) + " | ours/direct | ours/jsp |"
    return [head, "|" + "---|" * 2 + "---:|" * (len(names) + 2)]


def results_tables(results: Results) -> list[str]:
    out: list[str] = []
    sections: dict[str, list[Metric]] = {}
    for metric in results.metrics.values():
        sections.setdefault(metric.section, []).append(metric)
    for section, metrics in sections.items():
        columns = _columns(metrics)
        noted = [m for m in metrics if m.note]
        marks = {m.name: _MARKS[i % len(_MARKS)] for i, m in enumerate(noted)}
        rows = [_row(m, columns, marks.get(m.name, "")) for m in metrics]
        out += [f"### {section}", "", *_head(columns), *rows, ""]
        notes = [f"{marks[m.name]} {m.name}: {m.note}" for m in noted]
        if FLOOR in columns:
            notes.append(f"{OWN}: what the proxy itself adds, beyond Jupyter's cheapest "
                         "authenticated answer (`api/me`, same server and token as ours) and "
                         "the request to Loom itself; shown for times and CPU only")
        if notes:
            out += ["<br>".join(notes), ""]
    return out


# -- targets ------------------------------------------------------------------------------
Check = tuple[str, Callable[[Results], tuple[float, str]], float, str, str]


def _diff(key: str) -> Callable[[Results], tuple[float, str]]:
    def get(r: Results) -> tuple[float, str]:
        d = r.get(key, "ours") - r.get(key, "direct")
        return d, f"+{fmt(d)} ms (ours {fmt(r.get(key, 'ours'))} vs direct {fmt(r.get(key, 'direct'))})"
    return get


def _own(key: str) -> Callable[[Results], tuple[float, str]]:
    """ours − floor − direct: the proxy's own share of a time."""
    def get(r: Results) -> tuple[float, str]:
        m = r.metrics.get(key)
        own = m.own() if m else math.nan
        return own, (f"{fmt(own)} ms of its own (ours {fmt(r.get(key, 'ours'))} = floor "
                     f"{fmt(r.get(key, FLOOR))} + direct {fmt(r.get(key, 'direct'))} + "
                     f"{fmt(own)})")
    return get


def _ratio(key: str, other: str) -> Callable[[Results], tuple[float, str]]:
    def get(r: Results) -> tuple[float, str]:
        m = r.metrics.get(key)
        value = m.ratio("ours", other) if m else math.nan
        return value, f"{fmt_ratio(value)} (ours {fmt(r.get(key, 'ours'))} vs {fmt(r.get(key, other))})"
    return get


def _ours(key: str, unit: str) -> Callable[[Results], tuple[float, str]]:
    def get(r: Results) -> tuple[float, str]:
        value = r.get(key, "ours")
        return value, f"{fmt(value)} {unit}"
    return get


def _one_hop(key: str) -> Callable[[Results], tuple[float, str]]:
    """ours against direct plus one plain proxy hop, i.e. jupyter-server-proxy's time for the
    same call (a hop that only forwards: it is what one more hop costs for this body)."""
    def get(r: Results) -> tuple[float, str]:
        m = r.metrics.get(key)
        value = m.ratio("ours", "jsp") if m else math.nan
        hop = r.get(key, "jsp") - r.get(key, "direct")
        return value, (f"{fmt_ratio(value)} (ours {fmt(r.get(key, 'ours'))} vs direct "
                       f"{fmt(r.get(key, 'direct'))} + one hop {fmt(hop)} = "
                       f"{fmt(r.get(key, 'jsp'))} ms)")
    return get


def _buffering(r: Results) -> tuple[float, str]:
    alone, worst = r.get("sse.alone", "ours"), r.get("sse.lagmax", "ours")
    extra = worst - r.get("sse.lagmax", "direct")
    ok = 1.0 if alone == 100.0 and extra < 10.0 else 0.0
    if math.isnan(alone):
        ok = math.nan
    return ok, (f"{fmt(alone)}% of paced events alone in their event; worst lag "
                f"{fmt(worst)} ms (+{fmt(extra)} ms vs direct)")


OWN_BUDGET = 0.6  # ms a proxy may add to Jupyter's floor plus the upstream request (issue 15)
TARGETS: list[Check] = [
    # (target, measurement, limit, "max" (value <= limit) | "min" (value >= limit), unit)
    (f"small GET p50 ≤ floor + direct + {OWN_BUDGET} ms", _own("get.p50"), OWN_BUDGET, "max",
     "ms"),
    ("throughput at 16 connections ≥ 0.5× the floor", _ratio("get.rps16", FLOOR), 0.5, "min",
     "×"),
    ("throughput at 16 connections ≥ 2× jupyter-server-proxy", _ratio("get.rps16", "jsp"),
     2.0, "min", "×"),
    ("server CPU per request at 16 connections ≤ 0.5× jupyter-server-proxy",
     _ratio("get.cpu16", "jsp"), 0.5, "max", "×"),
    ("SSE first event within 1 ms of floor + direct", _own("sse.ttfe"), 1.0, "max", "ms"),
    ("no SSE event delayed by buffering", _buffering, 1.0, "min", ""),
    ("terminal echo adds ≤ 0.5 ms at p50", _diff("ws.echo50"), 0.5, "max", "ms"),
    ("`%loom weavers` (500, later calls) ≤ direct + one proxy hop (jupyter-server-proxy's time)",
     _one_hop("mg.weavers_warm"), 1.0, "max", "×"),
    ("`%load_ext loom_jupyter` < 150 ms", _ours("mg.load_ext", "ms"), 150.0, "max", "ms"),
    ("`%loom logs --follow` ≥ 20k lines/s", _ours("mg.follow_rate", "lines/s"), 20_000.0, "min",
     "lines/s"),
    ("`%loom logs --follow` memory flat (< 10 MB growth, 10% → 100% of lines)",
     _ours("mg.follow_rss", "MB"), 10.0, "max", "MB"),
]


def verdict(value: float, limit: float, kind: str, unit: str) -> str:
    if math.isnan(value):
        return "not measured"
    if (value <= limit) if kind == "max" else (value >= limit):
        return "met"
    if not unit:
        return "missed"
    return f"missed by {fmt(abs(value - limit))} {unit}"


def targets_table(results: Results) -> list[str]:
    out = ["| target | measured | verdict |", "|---|---|---|"]
    for text, get, limit, kind, unit in TARGETS:
        value, shown = get(results)
        out.append(f"| {text} | {shown} | {verdict(value, limit, kind, unit)} |")
    return out


def render(results: Results, facts: dict[str, str], title_note: str) -> str:
    facts = {**facts, "load average at end": " ".join(f"{x:.2f}" for x in os.getloadavg())}
    lines = ["# loom-jupyter benchmarks", "", title_note, "",
             "## Machine", "", "| fact | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in facts.items()]
    lines += ["", "## Results", "",
              "Medians over rounds; the paths were measured in rotating order in every "
              "round. Ratios compare medians (for times, below 1 is better; for rates, above 1).",
              ""]
    lines += results_tables(results)
    lines += ["## Targets", ""] + targets_table(results) + [""]
    if results.notes or results.failures:
        lines += ["## Notes", ""]
        lines += [f"- FAILED: {f}" for f in results.failures]
        lines += [f"- {n}" for n in results.notes]
        lines.append("")
    return "\n".join(lines)


def write(path: Path, report: str) -> None:
    """Write the report, keeping a hand-written analysis below ANALYSIS_MARK if there is one."""
    kept = ""
    if path.exists():
        old = path.read_text()
        if ANALYSIS_MARK in old:
            kept = old[old.index(ANALYSIS_MARK):]
    path.write_text(report.rstrip() + "\n\n" + (kept or ANALYSIS_MARK + "\n"))

