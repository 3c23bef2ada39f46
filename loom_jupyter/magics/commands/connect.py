"""`%loom connect [URL] [--api-key-env NAME | --api-key-file PATH]`: point the magics at a Loom.

The key itself is never accepted on the command line: IPython keeps every typed line in
`In` and its history database, and notebooks keep cells on disk.
"""
from __future__ import annotations

import os
from argparse import Namespace
from pathlib import Path
from typing import Any

from .._errors import MagicError

SUMMARY = "Connect to Loom: URL plus --api-key-env NAME or --api-key-file PATH (never a literal key)."


def configure(parser: Any) -> None:
    parser.add_argument("url", nargs="?", help="Loom base URL (default: from the environment)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--api-key-env", metavar="NAME", help="read the key from this environment variable")
    source.add_argument("--api-key-file", metavar="PATH", help="read the key from this file (first line)")
    parser.add_argument("--no-check", action="store_true", help="do not contact the server now")


def read_key(args: Namespace) -> str | None:
    if args.api_key_env:
        key = os.environ.get(args.api_key_env, "").strip()
        if not key:
            raise MagicError(f"The environment variable {args.api_key_env} is not set or empty; "
                             "set it before starting Jupyter, or use --api-key-file PATH.")
        return key
    if args.api_key_file:
        path = Path(args.api_key_file).expanduser()
        try:
            lines = path.read_text(encoding="utf-8").strip().splitlines()
        except OSError as exc:
            raise MagicError(f"Cannot read the key file {path}: {exc.strerror or exc}.") from None
        if not lines or not lines[0].strip():
            raise MagicError(f"The key file {path} is empty; put the key alone on its first line.")
        return lines[0].strip()
    return None


def run(magics: Any, args: Namespace, cell: str | None) -> None:
    from loom_jupyter.client import LoomError

    client = magics.make_client(url=args.url, api_key=read_key(args))
    who = ""
    if not args.no_check:
        try:
            me = client.me()
        except LoomError:
            client.close()
            raise
        who = f" as {me.display_name or me.username or me.id}"
    magics.set_client(client)
    print(f"Connected to {client.url} ({client.mode} mode){who}.")
