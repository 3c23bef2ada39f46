"""Terminal IPython (issue 19, item 7): a terminal cannot redraw an output area, so `--follow`
prints each line once and `%loom create` prints each weaver once (or one summary line for a large
batch) instead of the whole board again on every update.

A real `ipython` process reads the cells on its stdin and talks to the local Loom server.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


from tests.fixtures.wait import wait_until

ROOT = Path(__file__).resolve().parents[2]
IPYTHON = Path(sys.executable).with_name("ipython")


def terminal_ipython(cells: list[str], loom_server, user_key, tmp_path: Path) -> str:
    """Run `cells` in a terminal IPython (plain prompt, stdin a pipe); everything it printed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOOM_", "JPY_"))}
    env.update(LOOM_URL=loom_server.url, LOOM_API_KEY=user_key, IPYTHONDIR=str(tmp_path / "ipython"),
               PYTHONPATH=str(ROOT), TERM="dumb")
    script = "\n".join(["%load_ext loom_jupyter", *cells, "exit", ""])
    done = subprocess.run([str(IPYTHON), "--simple-prompt", "--no-banner", "--colors=NoColor",
                           "--HistoryManager.hist_file=:memory:"], input=script, cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stdout + done.stderr, (done.stdout + done.stderr)[-3000:]
    return done.stdout + done.stderr


def between(text: str, start: str, end: str) -> str:
    return text[text.index(start): text.index(end)]


def test_follow_and_boards_print_each_line_once(loom_server, user_key, client, tmp_path):
    noisy = client.weavers.create("python:3.12", tags={"suite": "term-logs"}, command=[
        "sh", "-c", "for i in $(seq 1 40); do echo tl-$i; sleep 0.02; done"])
    wait_until(lambda: client.weavers.get(noisy.id).status, 20, "the weaver to finish",
               until=lambda status: status == "succeeded")
    out = terminal_ipython([
        'print("MARK-ONE")',
        "one = %loom create python:3.12 --tag suite:term-one -- sleep 60",
        'print("MARK-FEW")',
        "few = %loom create python:3.12 --tag suite:term-few --count 3 -- sleep 60",
        'print("MARK-LOGS")',
        f"%loom logs {noisy.id} --follow",
        'print("MARK-MANY")',
        "many = %loom create python:3.12 --tag suite:term-many --count 25 --yes -- true",
        'print("MARK-END")',
    ], loom_server, user_key, tmp_path)

    one = between(out, "MARK-ONE", "MARK-FEW")
    assert one.count("python:3.12") == 1, one  # the board's one line, printed once

    few = between(out, "MARK-FEW", "MARK-LOGS")
    assert [few.count(f"replica={i} ") for i in range(3)] == [1, 1, 1], few
    assert few.count("Created 3 of 3 weavers.") == 1

    logs = between(out, "MARK-LOGS", "MARK-MANY")
    lines = logs.splitlines()
    assert [lines.count(f"tl-{i}") for i in range(1, 41)] == [1] * 40, logs
    assert logs.count("following…") == 1 and logs.count("[log ended; 40 lines received]") == 1
    assert len(logs) < 1_000

    many = between(out, "MARK-MANY", "MARK-END")
    assert many.count("25 weavers: 25 created") == 1 and "replica=" not in many, many
    assert many.count("Created 25 of 25 weavers.") == 1
    assert len(many) < 1_000
    assert len(client.weavers.list(tags={"suite": "term-many"})) == 25
