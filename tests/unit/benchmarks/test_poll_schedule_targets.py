"""The adaptive schedule's rules, and the targets of benchmarks/bench_poll_schedule.py on a few seeds.

Time is simulated, so these are exact statements about ``PollSchedule.next_delay``, not timings.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from airflow_evolink.core.polling import PollSchedule
from airflow_evolink.core.status import TaskStatus
from airflow_evolink.core.task import TaskState

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))

import bench_poll_schedule as bench

STEADY = PollSchedule(jitter=0.0)


def state(progress: int = 0, estimated: float | None = None) -> TaskState:
    return TaskState("task-x", "processing", TaskStatus.PROCESSING, progress, None, estimated)


def test_an_estimate_alone_is_not_stretched_beyond_the_time_already_waited():
    # An estimate of 50 min, 10 s into the job: the wait grows with the evidence, not with the estimate.
    assert STEADY.next_delay(state(0, 3000.0), 10.0) == pytest.approx(15.0)
    # 20 s into a job estimated at 30 s: most of what is left of the estimate.
    assert STEADY.next_delay(state(0, 30.0), 20.0) == pytest.approx(0.8 * 10.0)


def test_an_overdue_estimate_falls_back_to_the_lag_budget():
    assert STEADY.next_delay(state(0, 30.0), 100.0) == pytest.approx(5.0)
    assert STEADY.next_delay(state(0, 30.0), 400.0) == pytest.approx(20.0)


@pytest.mark.parametrize("elapsed", [10.0, 100.0, 1000.0])
def test_progress_waits_a_share_of_the_projected_rest_within_the_growth_limit(elapsed):
    delay = STEADY.next_delay(state(50), elapsed)
    expected = max(5.0, 0.05 * elapsed, min(0.45 * elapsed * 49 / 51, 1.5 * elapsed))
    assert delay == pytest.approx(min(60.0, expected))


@pytest.mark.parametrize("elapsed", [0.0, 3.0, 50.0, 600.0, 5000.0])
@pytest.mark.parametrize("progress", [5, 50, 99])
def test_a_wait_never_exceeds_the_lag_budget_of_a_job_as_long_as_the_evidence_allows(elapsed, progress):
    # With the projection: ending right after this poll, at `elapsed`, would cost at most this lag.
    delay = STEADY.next_delay(state(progress), elapsed)
    budget = max(5.0, 0.05 * elapsed)
    projected_rest = 0.45 * elapsed * (99 - progress) / (progress + 1)
    assert delay <= max(budget, projected_rest) + 1e-9


@pytest.mark.parametrize("progress_model", list(bench.PROGRESS))
def test_benchmark_targets_hold_on_a_few_seeds(progress_model):
    seeds = range(12)
    fixed_total = ours_total = 0.0
    for estimate_name, estimate in bench.ESTIMATES.items():
        if estimate is None:
            continue
        rows = bench.run_scenario(progress_model, estimate_name, seeds)
        assert all(row.within_bound for row in rows), [(r.length, r.worst_lag) for r in rows]
        fixed, ours = bench.requests_per_video(rows)
        fixed_total += fixed
        ours_total += ours
    assert ours_total * 3 <= fixed_total


def test_simulation_is_deterministic_and_counts_the_first_poll():
    first = bench.simulate(600, PollSchedule(), seed=3, progress_model="uneven")
    assert first == bench.simulate(600, PollSchedule(), seed=3, progress_model="uneven")
    fixed = bench.simulate(30, PollSchedule(poll_interval=10), seed=0)
    assert fixed.requests >= 4 and 0 <= fixed.lag < 10
