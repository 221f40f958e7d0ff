"""Helpers for the work done on large batches of plain values (usage events by thousands)."""

import gc
from contextlib import contextmanager


@contextmanager
def cyclic_gc_paused():
    """Pause Python's cyclic garbage collector for the block (as Odoo's profiler does with
    ``disable_gc``), then restore it as it was.

    For code that builds and checks many plain values (the dicts of a decoded request, the rows
    of a batch of usage events): they form no reference cycle and are freed by reference
    counting, but the collector, triggered by every few hundred new containers, would traverse
    them again and again (and the whole process's objects at each full collection), for nothing:
    a few µs per usage event. Memory is not at stake: what is not freed by reference counting is
    collected at the next collection after the block. Only a collector enabled on entry is
    enabled again on exit (another thread or the profiler may have paused it)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
