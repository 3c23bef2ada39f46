"""`python -m loom_jupyter.local`: the same as `loom-jupyter local`."""
from __future__ import annotations

import sys

from ..cli import main

if __name__ == "__main__":
    sys.exit(main(["local", *sys.argv[1:]]))
