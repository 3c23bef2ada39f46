"""`%loom attach ID`: the weaver's terminal as a widget, once the weaver is known to be there."""
from __future__ import annotations

from argparse import Namespace
from typing import Any

from .._errors import MagicError

SUMMARY = "Open the weaver's terminal in the notebook (terminal widget)."


def configure(parser: Any) -> None:
    parser.add_argument("id", help="the weaver id")


def check(magics: Any, weaver_id: str) -> Any:
    """The weaver, if it can have a terminal: an unknown id or an ended weaver is one line now,
    not a terminal stuck on "connecting"."""
    from loom_jupyter.client.models.weavers import FINAL_STATUSES, TERMINATING

    weaver = magics.client.weavers.get(weaver_id)  # unknown id: NotFoundError, said in one line
    if weaver.status in FINAL_STATUSES or weaver.status == TERMINATING:
        raise MagicError(f"Weaver {weaver.id} is {weaver.status_text}: it has no terminal to attach to "
                         f"(%loom logs {weaver.id} shows what it printed).")
    return weaver


def run(magics: Any, args: Namespace, cell: str | None) -> Any:
    from .._widgets import make_widget

    weaver = check(magics, args.id)
    return make_widget("Terminal", "terminal", weaver.id, client=magics.client)
