"""`LoomMagics`: the one `%loom` / `%%loom` entry point, its settings and its error boundary."""
from __future__ import annotations

import difflib
import importlib
import os
import re
import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any
from collections.abc import Callable

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from traitlets import Bool, Float, Int, Unicode, observe
from traitlets.config import Configurable

from ._errors import HelpShown, MagicError, SecretOnCommandLine
from ._expand import expand_tokens
from ._parser import CommandParser, tokenize
from ._secrets import redact, refuse_literal_secrets
from ._waiting import watching
from .commands.connections import NOT_FOR as CONNECTIONLESS
from .commands.connections import take_connection

if TYPE_CHECKING:
    from loom_jupyter.client import Loom

    from ._chat import ChatSession

COMMANDS = (
    "help", "connect", "status", "weavers", "get", "create", "delete", "cleanup",
    "logs", "attach", "dashboard", "chat", "threads", "thread", "login", "logout",
    "connections", "request",
)


HELP_FLAGS = ("-h", "--help", "help")


def load_command(name: str) -> ModuleType:
    """The module behind `%loom <name>`; imported on first use so `%load_ext` stays fast."""
    if name not in COMMANDS:
        close = difflib.get_close_matches(name, COMMANDS, n=1, cutoff=0.6)
        hint = f"did you mean %loom {close[0]}? " if close else ""
        raise MagicError(f"%loom has no command {name!r}: {hint}%loom help lists them.")
    return importlib.import_module(f"{__package__}.commands.{name}")


def build_parser(name: str) -> CommandParser:
    module = load_command(name)
    parser = CommandParser(name, module.SUMMARY)
    module.configure(parser)
    return parser


@magics_class
class LoomMagics(Magics, Configurable):
    """Loom from IPython: `%loom help` lists the commands; `%config LoomMagics` lists the settings."""

    show_tracebacks = Bool(False, help="Show full tracebacks instead of one-line errors.").tag(config=True)
    default_provider = Unicode("anthropic", help="LLM provider for %%loom chat.").tag(config=True)
    default_model = Unicode("", help="Model for %%loom chat ('' = the provider's default).").tag(config=True)
    max_history = Int(20, help="Chat messages sent to the model with each question (the "
                      "conversation and its thread keep all of them).").tag(config=True)
    max_tokens = Int(0, help="Default max_tokens for %%loom chat (0 = the server's default).").tag(config=True)
    log_refresh_hz = Float(4.0, help="How often a followed log or a streaming answer is redrawn.").tag(config=True)
    log_buffer_lines = Int(500, help="Lines of a followed log kept on screen.").tag(config=True)
    wait_timeout = Float(180.0, help="Seconds `%loom create --wait` waits for `running`.").tag(config=True)
    request_timeout = Float(30.0, help="Seconds to wait for Loom's answer to one request (connecting: "
                            "at most 10 s) before it counts as timed out.").tag(config=True)
    request_retries = Int(2, help="Times a request that may safely be repeated is sent again after a "
                          "timeout or a temporary failure (so a hung Loom is reported after about "
                          "(1 + request_retries) x request_timeout).").tag(config=True)
    waiting_after = Float(1.0, help="Seconds of silence before a %loom command prints 'waiting for "
                          "Loom…' on stderr (0 = never).").tag(config=True)
    confirm_count_above = Int(20, help="`%loom create --count N` above this asks first, or needs "
                              "--yes where nobody can answer.").tag(config=True)
    board_rows = Int(20, help="`%loom create --count N` shows one line per weaver up to this many, "
                     "and one summary line above it.").tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self._client: Loom | None = None
        self._own_client = False  # made by `client` from the environment (not by %loom connect)
        self._connection: str | None = None  # `--connection NAME` of the running command
        self._clients: dict[str, Loom] = {}  # one client per named connection, made on first use
        self._chat: ChatSession | None = None
        #: Extension points called in the kernel's main thread (tests inject interrupts
        #: and races through them): "log_line"(LogLine), "chat_token"(str),
        #: "before_thread_put"(Thread).
        self.hooks: dict[str, Callable[[Any], Any]] = {}

    # -- connection -------------------------------------------------------------------
    @property
    def client(self) -> Loom:
        """The connection, made from the environment on first use unless `%loom connect` set one
        (during a command given `--connection NAME`: that named connection's client)."""
        if self._connection is not None:
            return self.connection_client(self._connection)
        if self._client is None:
            self._client = self.make_client()
            self._own_client = True
        return self._client

    def make_client(self, url: str | None = None, api_key: str | None = None, *,
                    connection: str | None = None) -> Loom:
        """A client with this object's timeouts (`request_timeout`, `request_retries`)."""
        import httpx

        from loom_jupyter.client import Loom

        timeout = httpx.Timeout(self.request_timeout, connect=min(10.0, self.request_timeout))
        if connection is not None:
            return Loom(connection=connection, timeout=timeout,
                        max_retries=max(0, self.request_retries))
        return Loom(url=url, api_key=api_key, timeout=timeout, max_retries=max(0, self.request_retries))

    def connection_client(self, name: str) -> Loom:
        """The client of the Jupyter server's connection `name` (kept for the next command)."""
        if name not in self._clients:
            from loom_jupyter.client import LoomConfigError

            try:
                self._clients[name] = self.make_client(connection=name)
            except LoomConfigError as exc:  # unknown name, no Jupyter server: no Loom hint
                raise MagicError(f"{exc} (%loom connections lists them)") from None
        return self._clients[name]

    @observe("request_timeout", "request_retries")
    def _timeouts_changed(self, change: Any) -> None:
        """The connection made from the environment is made again with the new timeouts."""
        if getattr(self, "_own_client", False):  # (also called while traitlets loads the config)
            self.set_client(None)
        self._close_connection_clients()

    def _close_connection_clients(self) -> None:
        clients, self._clients = getattr(self, "_clients", {}), {}
        for client in clients.values():
            client.close()

    def set_client(self, client: Loom | None) -> None:
        if self._client is not None and self._client is not client:
            self._client.close()
        self._client = client
        self._own_client = False

    @property
    def chat(self) -> ChatSession:
        if self._chat is None:
            from ._chat import ChatSession

            self._chat = ChatSession(self)
        return self._chat

    def close(self) -> None:
        self.set_client(None)
        self._close_connection_clients()
        self._chat = None

    # -- the entry point ----------------------------------------------------------------
    @line_cell_magic
    @no_var_expand  # {var} on a line follows the cell body's rules (_expand.py)
    def loom(self, line: str, cell: str | None = None) -> Any:
        """Loom from the notebook: `%loom help` lists the commands, `%loom CMD --help` explains one."""
        with watching(self.shell, self.waiting_after):  # "waiting for Loom…" after a silence
            return self._dispatch(line, cell)

    def _dispatch(self, line: str, cell: str | None) -> Any:
        """Run one command; every failure ends here as one line (or a traceback if asked)."""
        try:
            tokens = tokenize(line)
            refuse_literal_secrets(self.shell, tokens)
            tokens = expand_tokens(tokens, self.shell.user_ns if self.shell else {})
            tokens, connection = take_connection(tokens)  # `--connection NAME`, anywhere
            name, rest = (tokens[0], tokens[1:]) if tokens else ("help", [])
            if name in HELP_FLAGS:  # `%loom -h` and `%loom --help` mean `%loom help`
                name = "help"
            if cell is not None and name != "chat":
                raise MagicError(f"%%loom works as a cell magic only for chat; use %loom {name} on one line.")
            args = build_parser(name).parse(rest)
            if connection is not None and name in CONNECTIONLESS:
                raise MagicError(f"%loom {name} does not take --connection.")
            self._connection = connection
            try:
                return load_command(name).run(self, args, cell)
            finally:
                self._connection = None
        except HelpShown:
            return None
        except KeyboardInterrupt:
            # One line, like --follow's stop: never a traceback through httpcore's internals.
            print(f"Interrupted: %loom {line.split()[0] if line.split() else 'help'} stopped.",
                  file=sys.stderr)
            return None
        except Exception as exc:
            if self.show_tracebacks and not isinstance(exc, SecretOnCommandLine):
                raise
            raise UsageError(self._one_line(exc)) from None

    def _one_line(self, exc: BaseException) -> str:
        """Every failure as one line that says what to do, with no credential in it."""
        from loom_jupyter.client import LoomError, UnsupportedFeatureError

        from ._errors import in_user_words

        if isinstance(exc, (MagicError, UnsupportedFeatureError)):  # (the latter names the kind)
            text = str(exc)
        elif isinstance(exc, LoomError):
            text = in_user_words(exc)  # the HTTP detail stays on exc (show_tracebacks)
        else:
            text = (f"{type(exc).__name__}: {exc} (unexpected; "
                    "%config LoomMagics.show_tracebacks = True shows the traceback).")
        return re.sub(r"\s+", " ", redact(text, self._secrets())).strip()

    def _secrets(self) -> list[str]:
        found = list(self._client._secrets()) if self._client is not None else []
        env = [os.environ.get(n, "") for n in ("LOOM_API_KEY", "LOOM_JUPYTER_PROXY_TOKEN")]
        return found + [v for v in env if len(v) >= 4]


def _hint(exc: Exception) -> str:
    """The next step for an error not about one object (see `_errors.hint`)."""
    from ._errors import hint

    return hint(exc)
