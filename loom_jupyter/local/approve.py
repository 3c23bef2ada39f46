"""`loom-jupyter local approve CODE --as USER`: approve a device-code sign-in from a script.

The approval is written straight into the data directory's database, which the running server
reads on the program's next poll. Why not through the server's API: whoever may write the data
directory can read `admin.key` in it, so this is no more power than the admin key; it needs no
URL (test servers listen on random ports) and works while the server is stopped (the code waits
in the database until it expires); and it is the same `DeviceFlow.approve` that
`POST /api/auth/device/complete` runs, so both ways keep the same rules.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .auth import Auth
from .config import LocalConfig, default_data_dir
from .device import DeviceFlow
from .errors import LocalError
from .store import Store

DATABASE = "loom.sqlite3"
_PROG = "loom-jupyter local approve"


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """`approve` under `loom-jupyter local` (and `python -m loom_jupyter.local`)."""
    parser = commands.add_parser(
        "approve", help="approve a device-code sign-in as a user of this local server",
        description="Approve the code a program shows (`%loom login`, Loom's CLI) as USER, a "
                    "user name or id of the local server whose data is in --data-dir. The "
                    "program's next poll then receives an access token for that user.")
    parser.add_argument("code", metavar="CODE", help="the code to approve, e.g. 123-456-789")
    parser.add_argument("--as", dest="as_user", required=True, metavar="USER",
                        help="the user to sign the program in as: a display name or a user id")
    # SUPPRESS: when not given here, `loom-jupyter local --data-dir DIR approve ...` still counts.
    parser.add_argument("--data-dir", type=Path, default=argparse.SUPPRESS,
                        help="the local server's data directory (default: "
                             "$XDG_DATA_HOME/loom-jupyter/local)")
    parser.set_defaults(func=run)


def _the_user(auth: Auth, name: str) -> tuple[str, str]:
    """(id, display name) of the one user with this id or name; a clear error otherwise."""
    found = auth.accounts.user_ids_named(name)
    if not found:
        raise SystemExit(f"{_PROG}: no user named {name!r} on this server (see its "
                         "GET /api/orgs/<org>/members, or pass a user id)")
    if len(found) > 1:
        raise SystemExit(f"{_PROG}: {len(found)} users are named {name!r}; pass one of their ids: "
                         f"{', '.join(found)}")
    user = auth.accounts.user(found[0])
    return found[0], str(user["display_name"]) if user else name


def approve(data_dir: Path, code: str, user: str) -> tuple[str, str]:
    """Approve `code` as `user` in the server data in `data_dir`; returns (user id, name)."""
    database = data_dir / DATABASE
    if not database.is_file():
        raise SystemExit(f"{_PROG}: no local Loom data in {data_dir} (start `loom-jupyter local` "
                         "first, or pass its --data-dir)")
    store = Store.open(database)
    try:
        config = LocalConfig(data_dir=data_dir)
        auth = Auth(store, config)
        user_id, name = _the_user(auth, user)
        DeviceFlow(auth, config.device_code_ttl).approve(user_id, code)
    except LocalError as exc:
        raise SystemExit(f"{_PROG}: {exc.message}") from None
    finally:
        store.close()
    return user_id, name


def run(args: Any) -> int:
    data_dir = getattr(args, "data_dir", None) or default_data_dir()
    user_id, name = approve(Path(data_dir).expanduser().resolve(), args.code, args.as_user)
    print(f"loom-jupyter local: approved the sign-in as {name} ({user_id})", flush=True)
    return 0
