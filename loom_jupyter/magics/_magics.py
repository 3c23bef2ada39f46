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
from IPython.core.magic import Magics, line_cell_magic, magics_class
from traitlets import Bool, Float, Int, Unicode
from traitlets.config import Configurable

from ._errors import HelpShown, MagicError, SecretOnCommandLine
from ._parser import CommandParser, tokenize
from ._secrets import redact, refuse_literal_secrets

if TYPE_CHECKING:
    from loom_jupyter.client import Loom

    from ._chat import ChatSession

COMMANDS = (
    "help", "connect", "status", "weavers", "get", "create", "delete", "cleanup",
    "logs", "attach", "dashboard", "chat", "threads", "thread", "login", "logout",
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

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self._client: Loom | None = None
        self._chat: ChatSession | None = None
        #: Extension points called in the kernel's main thread (tests inject interrupts
        #: and races through them): "log_line"(LogLine), "chat_token"(str),
        #: "before_thread_put"(Thread).
        self.hooks: dict[str, Callable[[Any], Any]] = {}

    # -- connection -------------------------------------------------------------------
    @property
    def client(self) -> Loom:
        """The connection, made from the environment on first use unless `%loom connect` set one."""
        if self._client is None:
            from loom_jupyter.client import Loom

            self._client = Loom()
        return self._client

    def set_client(self, client: Loom | None) -> None:
        if self._client is not None and self._client is not client:
            self._client.close()
        self._client = client

    @property
    def chat(self) -> ChatSession:
        if self._chat is None:
            from ._chat import ChatSession

            self._chat = ChatSession(self)
        return self._chat

    def close(self) -> None:
        self.set_client(None)
        self._chat = None

    # -- the entry point ----------------------------------------------------------------
    @line_cell_magic
    def loom(self, line: str, cell: str | None = None) -> Any:
        """Loom from the notebook: `%loom help` lists the commands, `%loom CMD --help` explains one."""
        try:
            tokens = tokenize(line)
            refuse_literal_secrets(self.shell, tokens)
            name, rest = (tokens[0], tokens[1:]) if tokens else ("help", [])
            if name in HELP_FLAGS:  # `%loom -h` and `%loom --help` mean `%loom help`
                name = "help"
            if cell is not None and name != "chat":
                raise MagicError(f"%%loom works as a cell magic only for chat; use %loom {name} on one line.")
            args = build_parser(name).parse(rest)
            return load_command(name).run(self, args, cell)
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
        from loom_jupyter.client import LoomError

        if isinstance(exc, MagicError):
            text = str(exc)
        elif isinstance(exc, LoomError):
            text = f"{exc}{_hint(exc)}"
        else:
            text = (f"{type(exc).__name__}: {exc} (unexpected; "
                    "%config LoomMagics.show_tracebacks = True shows the traceback).")
        return re.sub(r"\s+", " ", redact(text, self._secrets())).strip()

    def _secrets(self) -> list[str]:
        found = list(self._client._secrets()) if self._client is not None else []
        env = [os.environ.get(n, "") for n in ("LOOM_API_KEY", "LOOM_JUPYTER_PROXY_TOKEN")]
        return found + [v for v in env if len(v) >= 4]


def _hint(exc: Exception) -> str:
    from loom_jupyter import client as c

    hints: list[tuple[type, str]] = [
        (c.LoomConfigError, " Run %loom connect URL --api-key-env NAME, or set LOOM_URL and LOOM_API_KEY."),
        (c.AuthenticationError, " Check the API key, or sign in with %loom login (%loom status "
         "shows where the connection comes from)."),
        (c.PermissionDeniedError, " Your key's role does not allow this."),
        (c.APIConnectionError, " Is Loom running and reachable? %loom status checks."),
    ]
    text = str(exc)
    for cls, hint in hints:
        if isinstance(exc, cls) and "%loom" not in text:
            return hint
    return ""
