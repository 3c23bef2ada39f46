"""The conversation core against the local Loom server: answers streamed into turns, saves that
merge with a concurrent writer after a 409 and never drop a message, the same for sync and async."""
from __future__ import annotations

import inspect
import re
import uuid

import pytest

from loom_jupyter.client import (
    AsyncConversation,
    AsyncLoom,
    Completed,
    Completion,
    ConflictError,
    Conversation,
    ErrorEvent,
    Loom,
    LoomValidationError,
    NotFoundError,
    TextDelta,
    Thread,
    Turn,
)
from loom_jupyter.client.conversation import SAVE_ATTEMPTS

UUID7 = re.compile(r"^T-[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def key(loom_server) -> str:
    return loom_server.make_key("user", name="conversation-tests")


@pytest.fixture
def loom(loom_server, key):
    with Loom(loom_server.url, key, timeout=30) as client:
        yield client


@pytest.fixture
def other(loom_server, key):
    """A second client saving the same threads: the concurrent writer."""
    with Loom(loom_server.url, key, timeout=30) as client:
        yield client


@pytest.fixture
def chat(loom) -> Conversation:
    return Conversation(loom, "anthropic", "claude-sonnet-4-20250514")


def add_message(client: Loom, thread_id: str, content: str, **changes) -> Thread:
    """What another tool does to a thread: read it, append one message, save it."""
    theirs = client.threads.get(thread_id)
    conversation = {**(theirs.conversation or {}),
                    "messages": [*theirs.messages, {"role": "user", "content": content}]}
    return client.threads.put(theirs.model_copy(update={"conversation": conversation, **changes}))


# -- streaming into turns -------------------------------------------------------------------

def test_an_answer_streams_into_a_turn_of_the_history(chat):
    pieces: list[str] = []
    turn = chat.ask("What is a weaver?", on_text=pieces.append)
    assert len(pieces) > 3 and "".join(pieces) == turn.content  # streamed, not in one piece
    assert turn.content.startswith("[offline]") and '"What is a weaver?"' in turn.content
    assert (turn.role, turn.cut, turn.error) == ("assistant", "", "")
    assert (turn.provider, turn.model) == ("anthropic", "claude-sonnet-4-20250514")
    assert chat.turns == (Turn("user", "What is a weaver?"), turn)
    assert chat.messages == chat.unsaved == [t.message() for t in chat.turns]
    assert not chat.streaming and chat.partial_text == ""


def test_partial_text_follows_the_stream_while_it_runs(chat):
    seen: list[tuple[bool, str]] = []
    turn = chat.ask("count my words", on_text=lambda _p: seen.append((chat.streaming, chat.partial_text)))
    assert all(streaming for streaming, _ in seen)
    texts = [text for _, text in seen]
    assert texts == sorted(texts, key=len) and texts[-1] == turn.content
    assert all(turn.content.startswith(text) for text in texts)


def test_stop_keeps_what_arrived_and_marks_the_turn_cut(chat):
    pieces: list[str] = []

    def stop_after_three(piece: str) -> None:
        pieces.append(piece)
        if len(pieces) == 3:
            chat.stop()

    turn = chat.ask("a long answer please", on_text=stop_after_three)
    assert turn.content == "".join(pieces) and len(pieces) == 3
    assert (turn.cut, turn.why) == ("stopped by you", "stopped by you")
    assert chat.messages[-1] == {"role": "assistant", "content": turn.content}
    assert chat.ask("and now in full").cut == ""  # the stop applied to one answer only


def test_ctrl_c_keeps_the_partial_answer(chat):
    def interrupt(_piece: str) -> None:
        if len(chat.partial_text.split()) >= 2:
            raise KeyboardInterrupt

    turn = chat.ask("interrupt me", on_text=interrupt)
    assert turn.cut == "interrupted" and len(turn.content.split()) == 2
    assert chat.unsaved[-1] == {"role": "assistant", "content": turn.content}


def test_an_error_before_the_answer_leaves_the_history_unchanged(chat):
    chat.ask("first")
    before = chat.turns
    with pytest.raises(NotFoundError):
        chat.ask("second", provider="nosuchprovider")
    with pytest.raises(LoomValidationError):
        chat.ask("   ")
    assert chat.turns == before and not chat.streaming


def test_provider_errors_and_completions_end_the_answer():
    """The sans-I/O half both drivers share, fed the events a stream can carry."""
    from loom_jupyter.client.conversation import _Answer

    answer = _Answer("q", "p", "m", None)
    assert not answer.feed(TextDelta(content="half "))
    assert answer.feed(ErrorEvent(message="overloaded"))
    turn = answer.turns()[1]
    assert (turn.content, turn.why) == ("half ", "the provider reported an error: overloaded")
    whole = _Answer("q", "p", "m", None)  # a provider that sends the text only at the end
    assert whole.feed(Completed(response=Completion.model_validate({"message": {"content": "all"}})))
    assert whole.turns()[1].content == "all" and not whole.cut


def test_the_model_is_sent_the_newest_messages_starting_with_a_question(chat):
    for n in range(3):
        chat.ask(f"question {n}")
    assert len(chat.context("next")) == 7
    chat.context_limit = 4  # [answer 1, question 2, answer 2, next]: starts at question 2
    window = chat.context("next")
    assert [m["content"] for m in window if m["role"] == "user"] == ["question 2", "next"]
    assert window[0]["role"] == "user" and len(window) == 3
    assert chat.ask("next").content.startswith("[offline]")
    assert len(chat.messages) == 8  # the whole history is kept


# -- saving -----------------------------------------------------------------------------------

def test_save_creates_the_thread_then_appends(chat, other):
    assert chat.save() is None and chat.thread_id is None  # nothing to save yet
    chat.ask("Remember   this,\nplease")
    created = chat.save()
    assert UUID7.match(created.id) and uuid.UUID(created.id[2:]).version == 7
    stored = other.threads.get(created.id)
    assert stored.title == "Remember this, please" and stored.metadata["tags"] == ["jupyter"]
    assert stored.messages == chat.messages and stored.version == 1
    assert getattr(stored, "provider", None) == "anthropic"
    assert chat.save() is None and chat.unsaved == []
    chat.ask("and this", provider="openai", model="gpt-4o-mini")
    again = chat.save()
    assert (again.id, again.version) == (created.id, 2)
    stored = other.threads.get(created.id)
    assert stored.messages == chat.messages and len(stored.messages) == 4
    assert getattr(stored, "model", None) == "gpt-4o-mini"


def test_a_409_merges_with_the_concurrent_writer(chat, other):
    chat.ask("first")
    thread_id = chat.save().id
    add_message(other, thread_id, "from elsewhere",
                metadata={"title": "renamed elsewhere", "tags": ["theirs"]})
    chat.ask("second")
    sent: list[int] = []
    stored = chat.save(before_put=lambda thread: sent.append(thread.version))
    assert sent == [1, 2]  # our first PUT met a 409; the retry went on top of their version 2
    assert stored.version == 3 == chat.version
    kept = other.threads.get(thread_id)
    contents = [m["content"] for m in kept.messages]
    assert contents[0] == "first" and contents[2:4] == ["from elsewhere", "second"]
    assert len(contents) == 5 and kept.title == "renamed elsewhere"


def test_a_thread_that_keeps_changing_keeps_our_messages_for_the_next_save(chat, other):
    chat.ask("first")
    thread_id = chat.save().id
    chat.ask("second")

    def race(_thread: Thread) -> None:  # someone saves between each of our reads and writes
        add_message(other, thread_id, f"theirs {other.threads.get(thread_id).version}")

    with pytest.raises(ConflictError):
        chat.save(before_put=race)
    assert [m["content"] for m in chat.unsaved if m["role"] == "user"] == ["second"]
    stored = chat.save()
    contents = [m["content"] for m in other.threads.get(thread_id).messages]
    assert contents[0] == "first" and contents[-2] == "second" and len(contents) == 4 + SAVE_ATTEMPTS
    assert sum(c.startswith("theirs ") for c in contents) == SAVE_ATTEMPTS
    assert stored.version == 1 + SAVE_ATTEMPTS + 1 and chat.unsaved == []


def test_open_continues_a_stored_thread(loom, chat, other):
    chat.ask("one")
    thread_id = chat.save().id
    add_message(other, thread_id, "two, from elsewhere")
    later = Conversation(loom, "openai", "gpt-4o")
    later.open(thread_id)
    assert [m["content"] for m in later.messages][::2] == ["one", "two, from elsewhere"]
    assert later.unsaved == [] and later.thread_id == thread_id
    later.ask("three")
    later.save()
    contents = [m["content"] for m in other.threads.get(thread_id).messages]
    assert contents[:1] + contents[2:4] == ["one", "two, from elsewhere", "three"]
    later.reset()
    assert later.turns == () and later.thread_id is None


# -- the async twin ---------------------------------------------------------------------------

def _public(cls: type) -> dict[str, inspect.Signature]:
    return {name: inspect.signature(value) for name, value in vars(cls).items()
            if callable(value) and not name.startswith("_")}


def test_sync_and_async_have_the_same_methods_and_signatures():
    assert _public(Conversation) == _public(AsyncConversation)
    assert set(_public(Conversation)) == {"ask", "open", "save"}
    for name in _public(AsyncConversation):
        assert inspect.iscoroutinefunction(getattr(AsyncConversation, name))


async def test_async_conversation_streams_saves_and_merges(loom_server, key, other):
    async with AsyncLoom(loom_server.url, key, timeout=30) as aloom:
        chat = AsyncConversation(aloom, "openai", "gpt-4o-mini")
        pieces: list[str] = []
        turn = await chat.ask("hello async", on_text=pieces.append)
        assert turn.content.startswith("[offline]") and "".join(pieces) == turn.content
        thread_id = (await chat.save()).id
        add_message(other, thread_id, "from elsewhere")
        await chat.ask("again")
        sent: list[int] = []
        stored = await chat.save(before_put=lambda thread: sent.append(thread.version))
        assert sent == [1, 2] and stored.version == 3
        contents = [m["content"] for m in other.threads.get(thread_id).messages]
        assert contents[0] == "hello async" and contents[2:4] == ["from elsewhere", "again"]
        reopened = AsyncConversation(aloom, "openai", "gpt-4o-mini")
        await reopened.open(thread_id)
        assert reopened.messages == [{"role": m["role"], "content": m["content"]}
                                     for m in other.threads.get(thread_id).messages]


async def test_a_cancelled_async_answer_keeps_what_arrived(loom_server_factory):
    import asyncio

    slow = loom_server_factory(env={"LOOM_LOCAL_OFFLINE_DELAY_MS": "100"})  # a pause between words
    async with AsyncLoom(slow.url, slow.admin_key, timeout=30) as aloom:
        chat = AsyncConversation(aloom, "anthropic", "claude-sonnet-4-20250514")

        def cancel_after_two(_piece: str) -> None:
            if len(chat.partial_text.split()) == 2:
                task.cancel()

        task = asyncio.ensure_future(chat.ask("cancel me", on_text=cancel_after_two))
        with pytest.raises(asyncio.CancelledError):
            await task
        question, answer = chat.turns
        assert question.content == "cancel me" and answer.cut == "interrupted"
        assert answer.content == "[offline] This " and not chat.streaming
        assert chat.unsaved[-1]["content"] == answer.content
