"""Garbage-collector settings for the long-running bot process.

Polling allocates a few short-lived containers per feed (headers, results, state dicts), so
CPython's default young-generation threshold (700) ran a collection every few feeds, each
walking the young objects, and older collections kept walking the config's feed table.
Measured in `bench/feeds_bench.py`: the collector took 16 us of the ~190 us a 304 poll costs.
"""
from __future__ import annotations

import gc

# Young collections after this many new container objects rather than 700. Garbage without
# cycles is freed by reference counting at once whatever this is; only cyclic garbage waits.
YOUNG_THRESHOLD = 20_000


def settle_heap() -> None:
    """Call once the config and feed table are loaded (and again after a reload): what exists
    now lives as long as the process, so the collector stops walking it (`gc.freeze`), and
    young collections become rarer. Unfreezing first lets a replaced config be collected."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
