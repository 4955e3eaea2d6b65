"""The C library's `malloc_trim`: hands the memory the process freed back to the system.

The allocator keeps freed memory for the next allocations; after a burst (a sale, a receipt), a till that then
stays idle for hours would hold it all that time. glibc's `malloc_trim(0)` releases what is free at the top of the
heap and in its arenas; other C libraries (musl) have no such call, and the agent then does without.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


def malloc_trim() -> Callable[[], None] | None:
    """A call that trims the heap, or None where the C library has no `malloc_trim`."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        log.info("the C library has no malloc_trim: freed memory stays with the process")
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int

    def run() -> None:
        trim(0)

    return run
