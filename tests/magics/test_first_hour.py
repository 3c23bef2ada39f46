"""Issue 19 (part B), as a new user meets it: complete logs that say how many lines they hold,
errors in the user's words (each printed once), "did you mean" for statuses and providers, one
vocabulary for statuses and tags, readable reprs, and `{var}` rules shared by lines and cells."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError

from loom_jupyter.client import Loom, NotFoundError
from loom_jupyter.magics._errors import in_user_words
from loom_jupyter.magics._expand import expand, expand_tokens
from loom_jupyter.magics.commands.logs import DISPLAY_LINES
from tests.fixtures.wait import wait_until

from .conftest import run

LINES = 5_000
UNKNOWN = "018f6b2a-3b4c-7d8e-9f0a-1b2c3d4e5f6a"
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@pytest.fixture
def client(loom_server, user_key):
    with Loom(loom_server.url, user_key) as loom:
        yield loom


def _printed(client: Loom, count: int, tags: dict[str, str] | None = None) -> Any:
    """A weaver that printed `count` numbered lines and ended."""
    weaver = client.weavers.create("python:3.12", command=["seq", "1", str(count)],
                                   tags=tags, lifetime_hours=1)
    wait_until(lambda: client.weavers.get(weaver.id).status == "succeeded", timeout=20)
    return weaver


@pytest.fixture(scope="module")
def long_log(loom_server, user_key) -> str:
    with Loom(loom_server.url, user_key) as loom:
        return str(_printed(loom, LINES).id)


# -- complete logs ------------------------------------------------------------------------------

def test_sdk_snapshot_is_the_whole_log(client, long_log):
    lines = [line.text for line in client.weavers.logs(long_log, follow=False)]
    assert lines == [str(i) for i in range(1, LINES + 1)]
    followed = [line.text for line in client.weavers.logs(long_log)]  # following: from the start
    assert len(followed) == LINES and followed[0] == "1"


def test_magic_logs_shows_everything_and_says_how_many(ip, long_log):
    ran = run(ip, f"%loom logs {long_log}")
    assert ran.error is None, ran.all_text()
    shown = ran.io.outputs[0].data["text/plain"].splitlines()
    assert shown == [str(i) for i in range(1, LINES + 1)]
    assert "[5,000 of 5,000 lines]" in ran.io.stdout


def test_magic_logs_tail_says_there_is_more(ip, long_log):
    ran = run(ip, f"%loom logs {long_log} --tail 256")
    assert ran.io.outputs[0].data["text/plain"].splitlines() == [str(i) for i in range(4745, 5001)]
    assert "last 256 lines; the log has more: --all for everything" in ran.io.stdout
    whole = run(ip, f"%loom logs {long_log} --tail {LINES}")
    assert "[5,000 of 5,000 lines]" in whole.io.stdout


def test_magic_logs_beyond_the_display_limit_say_so_and_all_shows_all(ip, client):
    weaver = _printed(client, DISPLAY_LINES + 5)
    ran = run(ip, f"%loom logs {weaver.id}")
    assert len(ran.io.outputs[0].data["text/plain"].splitlines()) == DISPLAY_LINES
    assert f"last 10,000 of {DISPLAY_LINES + 5:,} lines: --all for everything" in ran.io.stdout
    everything = run(ip, f"%loom logs {weaver.id} --all")
    assert len(everything.io.outputs[0].data["text/plain"].splitlines()) == DISPLAY_LINES + 5


def test_magic_logs_into_a_list_and_a_dataframe(ip, long_log):
    ran = run(ip, f"%loom logs {long_log} -o lines")
    assert ran.error is None and not ran.io.outputs  # stored, not shown
    assert ip.user_ns["lines"] == [str(i) for i in range(1, LINES + 1)]
    assert "5,000 of 5,000 lines stored in lines" in ran.io.stdout
    run(ip, f"%loom logs {long_log} -o frame --dataframe")
    frame = ip.user_ns["frame"]
    assert list(frame.columns) == ["timestamp", "text"] and len(frame) == LINES
    assert frame["text"].iloc[-1] == str(LINES) and frame["timestamp"].notna().all()


@pytest.mark.parametrize(("line", "expected"), [
    (f"%loom logs {UNKNOWN} --dataframe", "add -o VAR"),
    ("%loom weavers --dataframe", "add -o VAR"),
    (f"%loom logs {UNKNOWN} --tail 3 --all", "not allowed with"),
    (f"%loom logs {UNKNOWN} --follow -o x", "one or the other"),
    (f"%loom logs {UNKNOWN} -o 1x", "Python variable name"),
])
def test_output_options_misused_are_one_line(ip, line, expected):
    assert expected in run(ip, line).usage_error()


def test_the_tutorials_pandas_pattern_loses_no_row(client):
    """The cell of notebooks/05 that gathers the sweep's logs, run on 5,000-line logs."""
    cells = json.loads((NOTEBOOKS / "05-team-workflows.ipynb").read_text())["cells"]
    source = next("".join(c["source"]) for c in cells
                  if c["cell_type"] == "code" and "pd.DataFrame(rows)" in "".join(c["source"]))
    sweep = f"first-hour-{id(client)}"
    script = f"import json; [print(json.dumps({{'step': i, 'loss': 1 / i}})) for i in range(1, {LINES + 1})]"
    made = [client.weavers.create("python:3.12", command=["python3", "-c", script],
                                  tags={"sweep": sweep, "lr": lr}, lifetime_hours=1)
            for lr in ("0.1", "0.01")]
    for weaver in made:
        wait_until(lambda w=weaver: client.weavers.get(w.id).status == "succeeded", timeout=30)
    namespace: dict[str, Any] = {"loom": client}
    exec("import json\nimport pandas as pd\n" + source.replace("lr-demo", sweep), namespace)
    results = namespace["results"]
    assert len(results) == 2 * LINES
    assert sorted(results.groupby("lr")["step"].count()) == [LINES, LINES]


# -- errors in the user's words ---------------------------------------------------------------

@pytest.mark.parametrize(("line", "expected"), [
    (f"%loom get {UNKNOWN}", f"Weaver {UNKNOWN} was not found: it may already be deleted; "
                             "%loom weavers lists yours."),
    (f"%loom logs {UNKNOWN}", f"Weaver {UNKNOWN} was not found"),
    ("%loom get not-an-id", "'not-an-id' is not a weaver id"),
    ("%loom thread T-nope", "Thread T-nope was not found"),
    ("%%loom chat --new --provider antropic\nhi", "no LLM provider 'antropic' (did you mean anthropic?)"),
    ("%%loom chat --new --provider nope --model m\nhi", "Loom has no LLM provider 'nope'"),
    ("%loom weavers --status succeded", "unknown --status 'succeded' (did you mean 'succeeded'?)"),
    ("%loom create python:3.12 --lifetime 100", "Invalid --lifetime: must be between 1 and 48"),
])
def test_errors_name_the_object_and_the_next_step(ip, line, expected):
    ran = run(ip, line)
    message = ran.usage_error()
    assert expected in message and "HTTP" not in message and "/api/" not in message, message
    assert "No route" not in ran.all_text() and "▌" not in ran.all_text()
    # Printed once: the error is the UsageError, and nothing else repeats it.
    assert ran.all_text().count(message.split(":")[0]) == 1  # IPython prints the UsageError


def test_show_tracebacks_brings_the_http_detail_back(ip, magics):
    magics.show_tracebacks = True
    ran = run(ip, f"%loom get {UNKNOWN}")
    assert isinstance(ran.error, NotFoundError) and "HTTP 404" in str(ran.error)


def test_every_sdk_status_error_gets_a_sentence_without_http():
    from loom_jupyter.client import (AuthenticationError, BadRequestError, PermissionDeniedError,
                                     RateLimitError, ServerError)

    body = {"error": "x", "message": "the server's words"}
    cases = [
        (AuthenticationError, 401, "DELETE", f"/api/weaver/{UNKNOWN}", "%loom login"),
        (PermissionDeniedError, 403, "DELETE", f"/api/weaver/{UNKNOWN}", "delete weaver"),
        (RateLimitError, 429, "POST", "/api/weaver", "refused to create a weaver"),
        (ServerError, 502, "GET", "/api/weavers", "Loom failed while listing weavers"),
        (BadRequestError, 400, "POST", "/api/weaver", "Loom refused to create a weaver: the server's words."),
        (NotFoundError, 404, "GET", "/loom/api/threads/T-1", "Thread T-1 was not found"),
    ]
    for cls, status, method, path, expected in cases:
        exc = cls(f"{method} {path} failed with HTTP {status} (x): the server's words.",
                  status_code=status, code="x", body=body, method=method, path=path)
        said = in_user_words(exc)
        assert expected in said and "HTTP" not in said, said


def test_an_answer_refused_before_its_first_word_leaves_no_cursor(ip):
    ran = run(ip, "%%loom chat --new --provider nope --model m\nhi")
    assert isinstance(ran.error, UsageError)
    assert "▌" not in ran.all_text() and not ran.io.outputs  # no area left behind


# -- one vocabulary -----------------------------------------------------------------------------

def test_several_statuses_all_count_in_the_magic_and_the_sdk(ip, client):
    ended = _printed(client, 1, tags={"first-hour": "status"})
    live = client.weavers.create("python:3.12", command=["sleep", "60"], lifetime_hours=1,
                                 tags={"first-hour": "status"})
    try:
        ran = run(ip, "%loom weavers --tag first-hour:status --status running --status succeeded -o ws")
        assert ran.error is None, ran.all_text()
        assert {w.id for w in ip.user_ns["ws"]} == {ended.id, live.id}
        only = client.weavers.list(tags={"first-hour": "status"}, status="running")
        assert [w.id for w in only] == [live.id]
        both = client.weavers.list(tags={"first-hour": "status"}, status=["running", "succeeded"])
        assert {w.id for w in both} == {ended.id, live.id}
    finally:
        client.weavers.delete(live.id)


def test_unicode_tag_keys_work_in_magics_and_sdk(ip, client):
    ran = run(ip, "w = %loom create python:3.12 --tag équipe:données --lifetime 1 -- true")
    assert ran.error is None, ran.all_text()
    weaver = ip.user_ns["w"]
    assert weaver.tags == {"équipe": "données"}
    assert [w.id for w in client.weavers.list(tags={"équipe": "données"})] == [weaver.id]
    listed = run(ip, "%loom weavers --tag équipe:données -o mine")
    assert [w.id for w in ip.user_ns["mine"]] == [weaver.id], listed.all_text()


def test_memory_and_cpu_keywords_match_the_magic_options(client):
    weaver = client.weavers.create("python:3.12", command=["true"], memory="256Mi", cpu="1",
                                   lifetime_hours=1)
    assert weaver.id
    with pytest.raises(ValueError, match="disagree"):
        client.weavers.create("python:3.12", memory="1Gi", resources={"memory": "2Gi"})


def test_line_and_cell_expansion_follow_one_rule():
    namespace = {"w": {"id": "abc"}, "n": 3}
    assert expand_tokens(["get", "{w[id]}", "--tail", "{n}", "{{x}}"], namespace) == \
        ["get", "abc", "--tail", "3", "{x}"]
    for text in ("{undefined}", "{", "{}"):
        with pytest.raises(Exception) as on_line:
            expand_tokens([text], namespace)
        with pytest.raises(Exception) as in_cell:
            expand(text, namespace)
        assert str(on_line.value).replace("the %loom line", "X").replace("The %loom line", "X") == \
            str(in_cell.value).replace("the chat message", "X").replace("The chat message", "X")


# -- readable reprs ------------------------------------------------------------------------------

def test_a_weavers_text_repr_is_readable(client, long_log):
    text = repr(client.weavers.get(long_log))
    assert "datetime.datetime" not in text and "TzInfo" not in text
    assert "created_at=20" in text and "Z," in text and long_log in text


def test_usage_error_is_raised_not_printed_twice(ip):
    """--lifetime 100: the refusal is the one UsageError (no board line repeating it)."""
    ran = run(ip, "%loom create python:3.12 --lifetime 100")
    assert isinstance(ran.error, UsageError)
    assert ran.all_text().count("between 1 and 48") == 1, ran.all_text()


# -- comments on a line, as in a shell ------------------------------------------------------------

def test_a_trailing_comment_is_not_an_argument_but_a_key_in_it_is_still_refused(ip):
    from loom_jupyter.magics._parser import tokenize

    assert run(ip, "%loom status   # where am I connected?").error is None
    assert [str(t) for t in tokenize("create img --tag k:v#1 -- sh -c 'echo #'")][-1] == "echo #"
    key = "lk_" + "a1" * 16
    message = run(ip, f"%loom status  # my key is {key}").usage_error()
    assert "Refused" in message and key not in message
