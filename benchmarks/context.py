"""What every suite gets: the running stack, the sizes, the results and a weaver helper."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

from .config import Sizes
from .stack import PATHS, Route, Stack
from .stats import Results
from .weavers import WeaverAdmin


@dataclass
class Bench:
    stack: Stack
    sizes: Sizes
    results: Results
    admin: WeaverAdmin
    verbose: bool = True
    started: float = field(default_factory=time.monotonic)

    @property
    def routes(self) -> dict[str, Route]:
        return self.stack.routes

    @property
    def paths(self) -> tuple[str, ...]:
        return PATHS

    def say(self, text: str) -> None:
        if self.verbose:
            print(f"[{time.monotonic() - self.started:6.1f}s] {text}", file=sys.stderr, flush=True)
