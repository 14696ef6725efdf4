"""Ids are generated here and nowhere else: time-ordered, so indexes stay local."""

import os
import time


def new_id(prefix: str = "") -> str:
    """A 26-char time-ordered id (48-bit ms time + 80 random bits, Crockford base32)."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    chars = []
    for _ in range(26):
        value, rem = divmod(value, 32)
        chars.append(alphabet[rem])
    return prefix + "".join(reversed(chars))
