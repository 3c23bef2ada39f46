"""%%loom chat against the local Loom's offline responder: streaming, history, threads, interrupts."""
from __future__ import annotations

import pytest

from loom_jupyter.client import Loom

from .conftest import run


def _final_markdown(ran) -> str:
    shown = [o for o in ran.io.outputs if "text/markdown" in o.data]
    assert shown, [o.data for o in ran.io.outputs]
    return shown[-1].data["text/markdown"]


def _thread_id(ran) -> str:
    line = next(s for s in ran.io.stdout.splitlines() if s.startswith("Saved to thread "))
    return line.split()[3]


@pytest.fixture
def other(loom_server, user_key):
    with Loom(loom_server.url, user_key) as client:
        yield client


def test_chat_streams_in_place_and_saves_a_thread(ip, other):
    ip.user_ns["name"] = "Ada"
    ran = run(ip, "%%loom chat --new\nHello {name}, braces {{stay}}")
    assert ran.error is None, ran.io.stderr
    answer = _final_markdown(ran)
    assert answer.startswith("[offline]") and "Hello Ada, braces {stay}" in answer
    first, *later = ran.io.outputs
    display_id = first.transient["display_id"]
    assert not first.update and later and all(o.update for o in later)
    assert {o.transient["display_id"] for o in later} == {display_id}
    thread = other.threads.get(_thread_id(ran))
    assert [m["role"] for m in thread.messages] == ["user", "assistant"]
    assert thread.messages[0]["content"] == "Hello Ada, braces {stay}"
    assert thread.title.startswith("Hello Ada")


def test_conversation_continues_across_cells_and_new_resets(ip, magics, other):
    first = run(ip, "%%loom chat --new\none")
    second = run(ip, "%%loom chat\ntwo")
    assert _thread_id(first) == _thread_id(second)
    assert [m["content"] for m in magics.chat.messages if m["role"] == "user"] == ["one", "two"]
    assert len(other.threads.get(_thread_id(second)).messages) == 4
    third = run(ip, "%%loom chat --new\nthree")
    assert _thread_id(third) != _thread_id(second)
    assert len(magics.chat.messages) == 2


def test_max_history_bounds_what_the_model_is_sent_not_what_is_kept(ip, magics, other):
    magics.max_history = 3
    for word in ("a", "b", "c"):
        ran = run(ip, f"%%loom chat{' --new' if word == 'a' else ''}\n{word}")
        assert ran.error is None, ran.io.stderr
    assert [m["content"] for m in magics.chat.messages if m["role"] == "user"] == ["a", "b", "c"]
    window = magics.chat.conversation.context("d")  # what the next question is sent with
    assert len(window) <= 3 and window[0]["role"] == "user"
    assert len(other.threads.get(_thread_id(ran)).messages) == 6


def test_a_150_turn_chat_is_saved_whole(ip, magics, other):
    ran = None
    for n in range(150):
        ran = run(ip, f"%%loom chat{' --new' if n == 0 else ''}\nquestion {n}")
        assert ran.error is None, ran.io.stderr
    thread_id = _thread_id(ran)
    assert f"Saved to thread {thread_id} (version 150)" in ran.io.stdout
    stored = other.threads.get(thread_id).messages
    assert [m["content"] for m in stored[::2]] == [f"question {n}" for n in range(150)]
    assert len(stored) == 300 and all(m["content"].startswith("[offline]") for m in stored[1::2])
    assert stored == magics.chat.messages and magics.chat.unsaved == []


def test_reopen_a_thread_with_thread_option(ip, magics, other):
    thread_id = _thread_id(run(ip, "%%loom chat --new\nremember me"))
    run(ip, "%%loom chat --new\nsomething else")
    ran = run(ip, f"%%loom chat --thread {thread_id}\nand again")
    assert _thread_id(ran) == thread_id
    contents = [m["content"] for m in other.threads.get(thread_id).messages if m["role"] == "user"]
    assert contents == ["remember me", "and again"]


def test_unknown_variable_is_a_clear_error(ip):
    message = run(ip, "%%loom chat\nWhat about {no_such_variable_here}?").usage_error()
    assert "'no_such_variable_here' is not defined" in message and "{{" in message
    assert "unmatched" in run(ip, "%%loom chat\nopen { only").usage_error()


def test_interrupt_keeps_the_partial_answer_and_says_it_was_cut(ip, magics, other):
    tokens: list[str] = []

    def stop_on_third(token: str) -> None:
        tokens.append(token)
        if len(tokens) == 3:
            raise KeyboardInterrupt

    magics.hooks["chat_token"] = stop_on_third
    ran = run(ip, "%%loom chat --new\nplease stream a long answer")
    assert ran.error is None, ran.io.stderr
    shown = _final_markdown(ran)
    partial = "".join(tokens)
    assert shown.startswith(partial) and "Answer cut short (interrupted)" in shown
    saved = other.threads.get(_thread_id(ran)).messages
    assert saved[-1] == {"role": "assistant", "content": partial}


def test_conflict_while_saving_is_resolved_by_reload_and_retry(ip, magics, other):
    thread_id = _thread_id(run(ip, "%%loom chat --new\nfirst turn"))
    calls: list[int] = []

    def race(thread) -> None:
        calls.append(thread.version)
        if len(calls) == 1:  # a second client saves between our read and our write
            theirs = other.threads.get(thread_id)
            edited = {**(theirs.conversation or {}),
                      "messages": theirs.messages + [{"role": "user", "content": "from elsewhere"}]}
            other.threads.put(theirs.model_copy(update={"conversation": edited}))

    magics.hooks["before_thread_put"] = race
    ran = run(ip, "%%loom chat\nsecond turn")
    assert ran.error is None, ran.io.stderr
    assert len(calls) == 2 and calls[1] == calls[0] + 1  # really conflicted, then retried
    contents = [m["content"] for m in other.threads.get(thread_id).messages]
    assert contents[:1] == ["first turn"] and contents[2:4] == ["from elsewhere", "second turn"]
    assert len(contents) == 5


def test_chat_errors_before_streaming_are_one_line(ip):
    message = run(ip, "%%loom chat --provider nosuchprovider --model m\nhi").usage_error()
    assert "nosuchprovider" in message or "provider" in message.lower()
    assert "Nothing to ask" in run(ip, "%%loom chat\n   ").usage_error()


def test_line_form_builds_the_chat_panel(ip):
    ran = run(ip, "%loom chat --provider openai")
    assert ran.error is None, ran.error
    panel = ran.value
    try:
        assert type(panel).__name__ == "ChatPanel"
        assert (panel.provider.value, panel.model.value) == ("openai", "gpt-4o-mini")
    finally:
        panel.close()


def test_one_provider_vocabulary_with_defaults_and_did_you_mean(ip):
    """Providers and default models come from the client (client/models/providers.py)."""
    no_default = run(ip, "%%loom chat --provider vertex\nhi").usage_error()
    assert no_default == "No default model for provider 'vertex'; pass --model NAME."
    typo = run(ip, "%%loom chat --provider opnai\nhi").usage_error()
    assert "(did you mean openai?)" in typo and "anthropic, openai, vertex, zai" in typo
