"""ChatPanel against the local Loom server's offline responder: streaming, stop, history, threads."""

from __future__ import annotations

import pytest

from loom_jupyter.client import Loom
from loom_jupyter.client.models.providers import PROVIDERS, default_model
from loom_jupyter.widgets.chat import ChatPanel

from ._support import assert_no_secret, wait_until


@pytest.fixture(scope="module")
def user_key(loom_server) -> str:
    return loom_server.make_key("user", name="chat-tests")


@pytest.fixture(scope="module")
def client(loom_server, user_key):
    with Loom(url=loom_server.url, api_key=user_key, timeout=30) as loom:
        yield loom


@pytest.fixture
def panel(client):
    chat = ChatPanel(client, provider="anthropic")
    yield chat
    chat.close()


def ask(panel: ChatPanel, text: str) -> None:
    panel.prompt.value = text
    panel.send_button.click()
    assert panel.wait(30), "the answer did not finish"


def test_streams_the_offline_answer_and_renders_markdown(panel):
    ask(panel, "What is *loom*?")
    question, answer = list(panel.turns)
    assert (question.role, question.content) == ("user", "What is *loom*?")
    assert answer.role == "assistant" and answer.content.startswith("[offline]")
    assert '"What is *loom*?"' in answer.content and not answer.cut and not answer.error
    assert "<em>loom</em>" in panel.history.value  # Markdown rendered once complete
    assert panel.answer.value == "" and panel.prompt.value == ""
    assert not panel.send_button.disabled and panel.stop_button.disabled
    assert panel.message == "Done."


def test_the_panel_shows_and_sends_the_newest_turns_but_keeps_them_all(client):
    chat = ChatPanel(client, provider="openai", max_history=4)
    try:
        assert chat.model.value == "gpt-4o-mini"  # the one default (client/models/providers.py)
        for n in range(3):
            ask(chat, f"question {n}")
        assert [t.content for t in chat.turns if t.role == "user"] == ["question 0", "question 1", "question 2"]
        assert len(chat.turns) == 6 and "question 2" in chat.turns[-1].content
        assert "question 1" in chat.history.value and "question 0" not in chat.history.value
        assert "2 earlier turns not shown" in chat.history.value
        window = chat.conversation.context("next")  # what the model is sent with the next question
        assert [m["content"] for m in window if m["role"] == "user"] == ["question 2", "next"]
    finally:
        chat.close()


def test_raw_html_in_a_question_is_escaped(panel):
    ask(panel, "<img src=x onerror=alert(1)>")
    assert "<img" not in panel.history.value
    assert "&lt;img" in panel.history.value


def test_stop_mid_stream_keeps_the_partial_answer_marked_cut(loom_server_factory, monkeypatch):
    monkeypatch.setenv("LOOM_LOCAL_OFFLINE_DELAY_MS", "150")  # the server subprocess reads it
    slow = loom_server_factory()
    with Loom(url=slow.url, api_key=slow.admin_key, timeout=30) as client:
        chat = ChatPanel(client)
        try:
            chat.send("a question answered slowly")
            assert chat.streaming and not chat.stop_button.disabled
            wait_until(lambda: len(chat.partial_text.split()) >= 3, timeout=20, what="a few words")
            wait_until(lambda: "▌" in chat.answer.value, what="the streaming view")
            chat.stop_button.click()
            assert chat.wait(10)
            answer = chat.turns[-1]
            assert answer.role == "assistant" and answer.cut == "stopped by you"
            assert answer.content.startswith("[offline]")
            assert "You said" not in answer.content  # cut long before the end of the reply
            assert "answer cut" in chat.history.value
            assert chat.message.startswith("Answer cut")
        finally:
            chat.close()


def test_save_creates_then_updates_a_thread(client, panel):
    ask(panel, "remember this")
    thread_id = panel.save()
    assert thread_id and thread_id.startswith("T-")
    stored = client.threads.get(thread_id)
    assert [m["role"] for m in stored.messages] == ["user", "assistant"]
    assert stored.messages[0]["content"] == "remember this"
    assert stored.title == "remember this"
    ask(panel, "and this")
    assert panel.save() == thread_id
    again = client.threads.get(thread_id)
    assert again.version == stored.version + 1 and len(again.messages) == 4


def test_save_merges_with_a_thread_changed_elsewhere(client, panel):
    ask(panel, "first")
    thread_id = panel.save()
    elsewhere = client.threads.get(thread_id)
    edited = {**(elsewhere.conversation or {}),
              "messages": [*elsewhere.messages, {"role": "user", "content": "from elsewhere"}]}
    client.threads.put(elsewhere.model_copy(update={"metadata": {"title": "renamed"}, "conversation": edited}),
                       expected_version=elsewhere.version)
    ask(panel, "second")
    assert panel.save() == thread_id
    assert panel.message.startswith(f"Saved to thread {thread_id} (version 3)")
    kept = client.threads.get(thread_id)
    contents = [m["content"] for m in kept.messages]
    assert kept.title == "renamed" and len(contents) == 5
    assert contents[0] == "first" and contents[2:4] == ["from elsewhere", "second"]


def test_a_150_turn_chat_is_saved_whole(client):
    """The panel shows the newest 100 turns; the thread gets every one of the 150 questions and answers."""
    chat = ChatPanel(client, provider="openai")
    try:
        for n in range(150):
            ask(chat, f"question {n}")
            if n == 59:
                thread_id = chat.save()
        assert chat.save() == thread_id
        stored = client.threads.get(thread_id)
        assert len(stored.messages) == 300 == len(chat.turns)
        assert [m["content"] for m in stored.messages[::2]] == [f"question {n}" for n in range(150)]
        assert all(f'"question {n}"' in m["content"] for n, m in enumerate(stored.messages[1::2]))
        assert "200 earlier turns not shown" in chat.history.value
        assert "question 99" not in chat.history.value and "question 100" in chat.history.value
    finally:
        chat.close()


def test_a_failed_question_is_given_back_and_not_kept(client):
    chat = ChatPanel(client, provider="nosuchprovider", model="m")
    try:
        ask(chat, "lost?")
        assert chat.message.startswith("Not answered:") and "nosuchprovider" in chat.message
        assert chat.turns == () and chat.prompt.value == "lost?"
        assert "lost?" not in chat.history.value and not chat.send_button.disabled
        assert chat.save() is None and chat.message.startswith("Nothing to save yet")
    finally:
        chat.close()


def test_every_provider_is_offered_with_its_default_model(client):
    chat = ChatPanel(client)
    try:
        assert tuple(chat.provider.options) == PROVIDERS
        assert chat.model.value == default_model("anthropic") != ""
        chat.provider.value = "vertex"  # no suggestion: the model must be named
        assert chat.model.value == "" and chat.model.options == ()
        ask(chat, "anyone?")
        assert chat.message == "Type a question and pick a model first." and chat.turns == ()
        chat.provider.value = "openai"
        assert chat.model.value == "gpt-4o-mini" and "gpt-4.1" in chat.model.options
    finally:
        chat.close()


def test_no_credential_in_widget_state_or_repr(panel, user_key):
    ask(panel, "hello")
    panel.save()
    assert assert_no_secret(panel, user_key) > 10
    assert "ChatPanel(anthropic/" in repr(panel) and "[offline]" in panel._repr_html_()
