"""Ids are generated here and nowhere else: time-ordered, so indexes stay local."""

import random
import time


def new_id(prefix: str = "") -> str:
    """A time-ordered id: prefix, 48-bit milliseconds and 64 random bits as 28 lower-case hex digits."""
    # Not a secret (access is checked on every read), so the fast PRNG is enough.
    return f"{prefix}{time.time_ns() // 1_000_000:012x}{random.getrandbits(64):016x}"
