"""Where the local server's settings come from: defaults, environment, command-line flags."""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path

MIB = 1024 * 1024
RATE_LIMIT_ENV = "LOOM_LOCAL_LLM_RATE_LIMIT_EVERY"
KEEP_WEAVERS_ENV = "LOOM_LOCAL_KEEP_WEAVERS"
ATTACH_STALL_ENV = "LOOM_LOCAL_ATTACH_STALL_SECONDS"
DEFAULT_ATTACH_STALL_SECONDS = 30.0


def default_data_dir() -> Path:
    """`$XDG_DATA_HOME/loom-jupyter/local`, else `~/.local/share/loom-jupyter/local`."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "loom-jupyter" / "local"


def _env_rate_limit() -> int:
    value = os.environ.get(RATE_LIMIT_ENV, "").strip()
    try:
        return max(0, int(value)) if value else 0
    except ValueError:
        raise SystemExit(f"{RATE_LIMIT_ENV} must be an integer, got {value!r}") from None


def _env_keep_weavers() -> bool:
    return os.environ.get(KEEP_WEAVERS_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _positive_seconds(text: str) -> float:
    """`text` as a number of seconds above 0 (the flag's type; the variable reuses it)."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {text!r}")
    return seconds


def _env_attach_stall() -> float:
    value = os.environ.get(ATTACH_STALL_ENV, "").strip()
    if not value:
        return DEFAULT_ATTACH_STALL_SECONDS
    try:
        return _positive_seconds(value)
    except argparse.ArgumentTypeError as exc:
        raise SystemExit(f"{ATTACH_STALL_ENV} {exc}") from None


@dataclass
class LocalConfig:
    host: str = "127.0.0.1"
    port: int = 8420
    data_dir: Path = field(default_factory=default_data_dir)
    max_body_bytes: int = 10 * MIB
    cleanup_interval: float = 30.0
    # 0 = off; N > 0: every Nth LLM request answers 503 rate_limited (client retry tests).
    llm_rate_limit_every: int = field(default_factory=_env_rate_limit)
    # Session-WS timings (loom-api.md §1.4, §6); knobs so tests need not sleep 30 s.
    ws_token_ttl: float = 30.0
    ws_auth_timeout: float = 5.0
    ws_ping_interval: float = 30.0
    # Device-code sign-in (§1.3): how long a code may wait for its approval.
    device_code_ttl: float = 600.0
    # Weavers (loom-api.md §4): how many may be pending/running at once, the grace period of a
    # delete, the log keep-alive, and the length of an "hour" of lifetime (a knob for tests).
    max_weavers: int = 256
    weaver_grace_seconds: float = 5.0
    log_keepalive_seconds: float = 15.0
    weaver_hour_seconds: float = 3600.0
    # A clean stop (Ctrl-C, SIGTERM) stops the weavers unless this is set; then they keep
    # running under their hosts and the next server on this data directory adopts them.
    # (After a crash or SIGKILL they always keep running.)
    keep_weavers: bool = field(default_factory=_env_keep_weavers)
    # A terminal whose reader takes nothing this long is closed so the weaver goes on.
    attach_stall_seconds: float = field(default_factory=_env_attach_stall)

    @property
    def admin_key_file(self) -> Path:
        return self.data_dir / "admin.key"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `loom-jupyter local` flags (shared by the CLI and `python -m loom_jupyter.local`)."""
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8420,
                        help="port; 0 picks a free one (default: %(default)s)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="SQLite, logs and admin.key (default: $XDG_DATA_HOME/loom-jupyter/local)")
    parser.add_argument("--llm-rate-limit-every", type=int, default=None, metavar="N",
                        help=f"answer every Nth LLM request with 503 rate_limited (0 = off; env {RATE_LIMIT_ENV})")
    parser.add_argument("--max-weavers", type=int, default=256, metavar="N",
                        help="weavers that may be pending or running at once (default: %(default)s)")
    parser.add_argument("--keep-weavers", action="store_true", default=None,
                        help="on Ctrl-C/SIGTERM leave the weavers running for the next server "
                             f"on this data directory to adopt (env {KEEP_WEAVERS_ENV}=1)")
    parser.add_argument("--attach-stall-seconds", type=_positive_seconds, default=None,
                        metavar="S",
                        help="close a terminal whose reader takes no output for S seconds, so "
                             f"its weaver goes on (default: 30; env {ATTACH_STALL_ENV})")
    parser.add_argument("--cleanup-interval", type=float, default=30.0, help=argparse.SUPPRESS)
    parser.add_argument("--weaver-grace-seconds", type=float, default=5.0, help=argparse.SUPPRESS)
    parser.add_argument("--log-keepalive-seconds", type=float, default=15.0, help=argparse.SUPPRESS)
    parser.add_argument("--weaver-hour-seconds", type=float, default=3600.0, help=argparse.SUPPRESS)
    parser.add_argument("--ws-token-ttl", type=float, default=30.0, help=argparse.SUPPRESS)
    parser.add_argument("--ws-auth-timeout", type=float, default=5.0, help=argparse.SUPPRESS)
    parser.add_argument("--ws-ping-interval", type=float, default=30.0, help=argparse.SUPPRESS)
    parser.add_argument("--device-code-ttl", type=float, default=600.0, help=argparse.SUPPRESS)


def from_args(args: argparse.Namespace) -> LocalConfig:
    config = LocalConfig(host=args.host, port=args.port,
                         cleanup_interval=args.cleanup_interval, ws_token_ttl=args.ws_token_ttl,
                         ws_auth_timeout=args.ws_auth_timeout,
                         ws_ping_interval=args.ws_ping_interval,
                         device_code_ttl=args.device_code_ttl, max_weavers=args.max_weavers,
                         weaver_grace_seconds=args.weaver_grace_seconds,
                         log_keepalive_seconds=args.log_keepalive_seconds,
                         weaver_hour_seconds=args.weaver_hour_seconds)
    if args.data_dir is not None:
        config.data_dir = args.data_dir.expanduser().resolve()
    if args.keep_weavers:
        config.keep_weavers = True
    if args.attach_stall_seconds is not None:
        config.attach_stall_seconds = args.attach_stall_seconds
    if args.llm_rate_limit_every is not None:
        config.llm_rate_limit_every = max(0, args.llm_rate_limit_every)
    return config
