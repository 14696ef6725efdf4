"""Ids are generated here and nowhere else: time-ordered, so indexes stay local."""

from random import getrandbits
from time import time_ns


def new_id(prefix: str = "") -> str:
    """A time-ordered id: prefix, 48-bit milliseconds and 64 random bits as 28 lower-case hex digits."""
    # Not a secret (access is checked on every read), so the fast PRNG is enough. One integer turned to hex in
    # C: a lodging makes about ten ids, and string formatting of two numbers cost four times as much.
    return prefix + ((time_ns() // 1_000_000) << 64 | getrandbits(64)).to_bytes(14, "big").hex()
