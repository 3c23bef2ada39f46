"""`python -m benchmarks [--smoke] [--write] [--output FILE] [--only SUITES]`."""
from __future__ import annotations

import argparse
import json
import signal
import time
import traceback
from pathlib import Path
from types import ModuleType

from . import suite_http, suite_magics, suite_resume, suite_sse, suite_terminal
from .config import FULL, SMOKE
from .context import Bench
from .load import generator_name
from .report import machine_facts, render, write
from .stack import Stack
from .stats import Results
from .weavers import WeaverAdmin

RESULTS_MD = Path(__file__).resolve().parent / "RESULTS.md"
SUITES: dict[str, ModuleType] = {
    "http": suite_http, "sse": suite_sse, "terminal": suite_terminal, "magics": suite_magics,
    "resume": suite_resume,
}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes (a few requests and lines): checks the harness, not speed")
    parser.add_argument("--write", action="store_true", help=f"also write {RESULTS_MD}")
    parser.add_argument("--output", type=Path, help="also write the report to this file")
    parser.add_argument("--json", type=Path, help="write every sample as JSON to this file")
    parser.add_argument("--only", default=",".join(SUITES),
                        help=f"comma-separated suites to run (default: all of {', '.join(SUITES)})")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (server logs)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    args = parser.parse_args(argv)
    if args.smoke and args.write:
        parser.error("--write keeps the figures of a full run; use --output FILE with --smoke")
    unknown = set(args.only.split(",")) - set(SUITES)
    if unknown:
        parser.error(f"unknown suite(s): {', '.join(sorted(unknown))}")
    return args


def _one_line(text: str) -> str:
    return " ".join(text.split())[:600]


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through Stack.__exit__: children are stopped


def run_suites(args: argparse.Namespace, results: Results) -> None:
    sizes = SMOKE if args.smoke else FULL
    with Stack(keep=args.keep) as stack:
        admin = WeaverAdmin(stack.loom_url, stack.admin_key, stack.org_id)
        bench = Bench(stack, sizes, results, admin, verbose=not args.quiet)
        bench.say(f"stack up: Loom {stack.loom_url}, data in {stack.home}")
        try:
            for name in args.only.split(","):
                started = time.monotonic()
                try:
                    SUITES[name].run(bench)
                except Exception as exc:
                    traceback.print_exc()
                    results.failures.append(_one_line(f"suite `{name}`: {type(exc).__name__}: {exc}"))
                finally:
                    stack.remember_weaver_processes()
                bench.say(f"suite {name} done in {time.monotonic() - started:.1f} s")
        finally:
            admin.delete_all()
            admin.close()


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    signal.signal(signal.SIGTERM, _terminate)
    facts = machine_facts(generator_name())
    results = Results()
    started = time.monotonic()
    try:
        run_suites(args, results)
    except Exception as exc:
        traceback.print_exc()
        results.failures.append(_one_line(f"setup: {type(exc).__name__}: {exc}"))
    mode = "smoke run (tiny sizes: checks the harness, the figures mean nothing)" if args.smoke \
        else "full run"
    note = (f"{mode}; suites: {args.only}; took {time.monotonic() - started:.0f} s. "
            "Produced by `make bench` (`python -m benchmarks`).")
    report = render(results, facts, note)
    print(report)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        write(args.output, report)
    if args.write:
        write(RESULTS_MD, report)
    if args.json:
        args.json.write_text(json.dumps({k: {"unit": m.unit, "samples": m.samples}
                                         for k, m in results.metrics.items()}, indent=1))
    return 1 if results.failures else 0
