"""Each job step records its own wall time and peak memory (``metrics.json``, ``-v``)."""

from __future__ import annotations

import resource
import sys
import time

import numpy as np
import pytest

from clvpredict.jobs.pipeline import StepRecord, step

MB = 1 << 20


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-step peaks need Linux")
def test_each_step_has_its_own_memory_peak():
    record = StepRecord()
    with step("warm up", record):
        pass
    baseline = record.peak_memory_bytes["warm up"]
    with step("allocate 400 MB", record):
        block = np.ones(400 * MB // 8)  # ones, not empty: the pages are touched
        time.sleep(0.1)  # several of the sampler's 20 ms ticks
        del block
    with step("allocate nothing", record):
        pass
    # The step's peak includes the 400 MB; the next step has its own, without the freed block.
    assert record.peak_memory_bytes["allocate 400 MB"] >= baseline + 390 * MB
    assert record.peak_memory_bytes["allocate nothing"] < baseline + 100 * MB
    # The process's own high-water mark (what /usr/bin/time reports) is left alone.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 >= baseline + 390 * MB
    assert set(record.seconds) == {"warm up", "allocate 400 MB", "allocate nothing"}
    assert all(seconds >= 0 for seconds in record.seconds.values())
