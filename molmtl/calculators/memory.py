"""Keep freed memory in the process between MD steps (glibc ``mallopt``).

Every evaluation of a large structure allocates and frees the same edge-sized buffers, tens
of MB each. By default glibc returns such blocks to the operating system when they are
freed, so the next step faults every page in again and the kernel zeroes it. On a 192-atom
water box that was about a third of the step time (measured with ``perf``), and the share
grows with the number of atoms. :func:`retain_freed_memory` raises glibc's thresholds so
that freed blocks up to 32 MB (glibc's largest mmap threshold) stay in the heap and are
reused. The cost is that the process keeps its peak heap size instead of shrinking after a
large evaluation.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

#: ``mallopt`` parameter numbers from glibc's ``malloc.h``.
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3

#: glibc's upper limit for ``M_MMAP_THRESHOLD`` on 64-bit systems (bytes).
MMAP_THRESHOLD = 32 * 1024 * 1024
#: Free memory at the top of the heap that is kept rather than returned (bytes). This is the
#: largest value that mallopt's int argument takes, about 2 GiB.
TRIM_THRESHOLD = 2**31 - 1
#: Extra heap requested at each growth, so that growing buffers need fewer system calls (bytes).
TOP_PAD = 64 * 1024 * 1024


@functools.cache
def retain_freed_memory() -> bool:
    """Set glibc's thresholds once per process; return False where glibc is not the C library."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    ok = mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and ok
    ok = mallopt(_M_TOP_PAD, TOP_PAD) == 1 and ok
    return ok
