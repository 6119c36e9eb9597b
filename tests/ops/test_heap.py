"""ops.heap: the collector settings of `main.py run`, checked in a child interpreter (they are
process-wide and would otherwise change how this test process collects)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_CHILD = """
import gc, weakref
from ops.heap import YOUNG_THRESHOLD, settle_heap

class Config:  # a config that holds a reference cycle, as object graphs often do
    def __init__(self):
        self.me = self

old = Config()
settle_heap()
assert gc.get_threshold()[0] == YOUNG_THRESHOLD, gc.get_threshold()
assert gc.get_freeze_count() > 0
dead = weakref.ref(old)
del old
gc.collect()
assert dead() is not None, "a frozen object is not collected: that is the point of freezing"
settle_heap()  # as after a reload: the replaced config's cycle must go
assert dead() is None, "the replaced config stayed in memory"
print("ok")
"""


def test_settle_heap_freezes_and_a_later_call_frees_what_was_replaced() -> None:
    done = subprocess.run([sys.executable, "-c", _CHILD], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
