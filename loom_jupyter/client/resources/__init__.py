"""Resource namespaces (`client.weavers`, ...): one-line public methods around shared flows."""
from __future__ import annotations

from .auth import Auth
from .llm import Llm
from .signin import SignIn
from .threads import Threads
from .weavers import Weavers

__all__ = ["Auth", "Llm", "SignIn", "Threads", "Weavers"]
