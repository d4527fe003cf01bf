"""Process settings for analysing tactile frames one after another on CPUs that other processes share.

- torch (:func:`inspection.tactile.classifier.use_one_torch_thread`) and OpenCV on the calling thread (the
  classifier's ONNX Runtime session is made with one thread of its own).
- glibc's allocator keeps freed blocks (up to 64 MiB each) for reuse instead of handing them back to the
  kernel: a frame makes a dozen temporary 1 MB images, and with the default policy each one was returned
  and then faulted in again page by page, which cost about a third of the Stage II time per frame.
"""
from __future__ import annotations

import ctypes
import ctypes.util

import cv2

# mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
KEPT_BLOCK_BYTES = 64 << 20


def keep_freed_memory(block_bytes: int = KEPT_BLOCK_BYTES) -> bool:
    """Ask glibc to serve blocks below ``block_bytes`` from the heap and not to trim it below twice that;
    False where the C library has no ``mallopt`` (not glibc), which changes nothing else."""
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None:
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, block_bytes)) and bool(mallopt(_M_TRIM_THRESHOLD, 2 * block_bytes))


def tune_for_frames() -> None:
    """One torch thread, one OpenCV thread, freed memory kept: call once before the first frame."""
    from inspection.tactile.classifier import use_one_torch_thread

    use_one_torch_thread()
    cv2.setNumThreads(1)
    keep_freed_memory()
