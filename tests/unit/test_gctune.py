"""``LINLI_GC_THRESHOLD`` (linli/gctune.py): the young generation's threshold is set and the
start-up objects are frozen; 0 leaves Python's collector alone; a negative value is refused."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from linli.config import load_settings
from linli.gctune import tune_gc


@pytest.fixture
def restore_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_threshold_set_and_startup_objects_frozen(restore_gc: None) -> None:
    gc.unfreeze()
    tune_gc(10_000)
    assert gc.get_threshold()[0] == 10_000
    assert gc.get_freeze_count() > 1000  # the modules imported so far, at least


def test_zero_leaves_the_collector_alone(restore_gc: None) -> None:
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    tune_gc(0)
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0


def test_setting_default_and_validation() -> None:
    assert load_settings({}).gc_threshold == 2_000
    assert load_settings({"LINLI_GC_THRESHOLD": "0"}).gc_threshold == 0
    with pytest.raises(ValueError, match="LINLI_GC_THRESHOLD"):
        load_settings({"LINLI_GC_THRESHOLD": "-1"})
