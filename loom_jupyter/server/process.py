"""Hide the credential from this process's /proc entries, which same-user processes can read.

Removing `LOOM_API_KEY` from `os.environ` does not rewrite the environment block the kernel
gave the process at exec time: `/proc/<pid>/environ` (and `/proc/<pid>/cmdline`, for a key given
as `--LoomJupyter.api_key=`) keep showing it to every process of the same user, kernels
included. On Linux this overwrites those bytes in place through `/proc/self/mem`; elsewhere
it does nothing and says so.
"""
from __future__ import annotations

import sys

__all__ = ["erase_from_process_blocks"]

# /proc/self/stat fields 48-51 (arg_start, arg_end, env_start, env_end), counted after the
# command name, whose closing parenthesis ends field 2.
_ARG_START, _ENV_END = 45, 48


def _blocks() -> list[tuple[int, int]]:
    with open("/proc/self/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    arg_start, arg_end, env_start, env_end = (int(x) for x in fields[_ARG_START:_ENV_END + 1])
    return [(arg_start, arg_end), (env_start, env_end)]


def erase_from_process_blocks(secret: str) -> bool:
    """Overwrite every copy of `secret` in the initial argv and environment blocks with '*'.

    True when the blocks were rewritten (or held no copy); False where the platform cannot.
    """
    if not secret or not sys.platform.startswith("linux"):
        return False
    needle = secret.encode()
    try:
        with open("/proc/self/mem", "r+b", buffering=0) as mem:
            for start, end in _blocks():
                if end <= start:
                    continue
                mem.seek(start)
                block = mem.read(end - start)
                at = block.find(needle)
                while at != -1:
                    mem.seek(start + at)
                    mem.write(b"*" * len(needle))
                    at = block.find(needle, at + len(needle))
    except (OSError, ValueError, IndexError):
        return False
    return True
