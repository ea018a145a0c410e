"""Owns thread control of the numerical libraries (BLAS) used by the models.

The golden model runs many small GEMMs (one per weight plane).  Multi-threaded OpenBLAS
is slower than one thread on them (thread wake-up dominates, 8x slower on 2 cores here),
and the reference engines are compared at one thread, so the model pins BLAS to one thread
while it runs.
"""

from __future__ import annotations

import contextlib
import functools

__all__ = ["single_blas_thread"]


@functools.cache
def _controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextlib.contextmanager
def single_blas_thread():
    """Context in which BLAS libraries use one thread (restored afterwards)."""
    with _controller().limit(limits=1, user_api="blas"):
        yield
