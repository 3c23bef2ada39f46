"""Percentiles, medians and the one result record every suite fills in."""
from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (NaN for no values)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def rotation(items: Sequence[str], round_no: int) -> list[str]:
    """The order of the paths in round `round_no`: rotated, so none is always first or last."""
    shift = round_no % len(items)
    return list(items[shift:]) + list(items[:shift])


@dataclass
class Metric:
    """One measured quantity: samples per path (one sample per round); the report shows medians."""

    key: str
    section: str
    name: str
    unit: str
    higher_is_better: bool
    samples: dict[str, list[float]] = field(default_factory=dict)
    note: str = ""
    own_cost: bool = False  # a time or CPU where "ours − floor − direct" means something

    def measured(self, path: str) -> bool:
        return bool(self.samples.get(path))

    def add(self, path: str, value: float) -> None:
        self.samples.setdefault(path, []).append(value)

    def value(self, path: str) -> float:
        return median(self.samples.get(path, []))

    def ratio(self, path: str, other: str) -> float:
        a, b = self.value(path), self.value(other)
        if math.isnan(a) or math.isnan(b) or b == 0:
            return math.nan
        return a / b

    def own(self) -> float:
        """What the proxy itself adds: ours minus Jupyter's floor minus the direct request."""
        if not self.own_cost:
            return math.nan
        return self.value("ours") - self.value("floor") - self.value("direct")


class Results:
    """Metrics in the order suites created them, plus free-text notes and failures."""

    def __init__(self) -> None:
        self.metrics: dict[str, Metric] = {}
        self.notes: list[str] = []
        self.failures: list[str] = []

    def metric(self, key: str, section: str, name: str, unit: str,
               higher_is_better: bool = False, note: str = "", own_cost: bool = False) -> Metric:
        if key not in self.metrics:
            self.metrics[key] = Metric(key, section, name, unit, higher_is_better, note=note,
                                       own_cost=own_cost)
        return self.metrics[key]

    def get(self, key: str, path: str) -> float:
        metric = self.metrics.get(key)
        return metric.value(path) if metric is not None else math.nan
