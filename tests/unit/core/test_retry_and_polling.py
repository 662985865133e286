"""The retry table (reads vs the paid POST), backoff waits, and the adaptive poll schedule."""

from __future__ import annotations

import itertools
import json
import random
import time
from collections.abc import Callable, Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tenacity import Retrying

from airflow_evolink.core.errors import (
    EvolinkConnectionError,
    EvolinkError,
    EvolinkResponseError,
    EvolinkValidationError,
)
from airflow_evolink.core.models import build_video_request
from airflow_evolink.core.polling import PollSchedule, elapsed_since_submit, projected_remaining
from airflow_evolink.core.protocol import error_from_response, get_task_call, submit_call
from airflow_evolink.core.retry import RetryPolicy, outcome_unknown
from airflow_evolink.core.task import EvolinkTask, parse_task

GET = get_task_call("task-unified-1757169743-7cvnl5zw")
POST = submit_call(
    build_video_request({"model": "kling-v3-text-to-video", "prompt": "x"}), "idem-0001-0001-0001"
)
FAST = RetryPolicy(max_attempts=5, initial_wait=1.0, max_wait=30.0, max_retry_after=120.0, jitter=0.0)


def http(status: int, retry_after: str | None = None) -> EvolinkError:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return error_from_response(status, headers, b'{"error": {"message": "x"}}')


def not_sent() -> EvolinkConnectionError:
    return EvolinkConnectionError("refused", sent=False)


def sent() -> EvolinkConnectionError:
    return EvolinkConnectionError("read timeout", sent=True)


def coded(status: int, code: str) -> EvolinkError:
    return error_from_response(status, {}, json.dumps({"error": {"code": code, "message": "x"}}).encode())


def bad_body() -> EvolinkResponseError:
    return EvolinkResponseError("truncated", http_status=200)


# ---- the retry table ---------------------------------------------------------------------------------

READ_RETRIED = [http(429), http(500), http(502), http(503), http(504), not_sent(), sent(), bad_body()]
READ_NOT_RETRIED = [
    http(400),
    http(401),
    http(402),
    http(403),
    http(404),
    http(409),
    http(413),
    http(501),
    EvolinkValidationError("x", "bad"),
    ValueError("not ours"),
]


@pytest.mark.parametrize("exc", READ_RETRIED, ids=repr)
def test_get_retries_transient_failures(exc):
    assert FAST.should_retry(GET, exc) is True


@pytest.mark.parametrize("exc", READ_NOT_RETRIED, ids=repr)
def test_get_does_not_retry_permanent_failures(exc):
    assert FAST.should_retry(GET, exc) is False


@pytest.mark.parametrize(
    ("exc", "retried", "unknown"),
    [
        # Sent again with the same Idempotency-Key: the gateway's ledger answers with the job the
        # first send created, if any.
        (http(429), True, False),
        (http(503), True, False),
        (not_sent(), True, False),
        (http(500), True, True),
        (http(502), True, True),
        (http(504), True, True),
        (sent(), True, True),
        (bad_body(), True, True),
        (coded(409, "paid_outcome_unknown"), True, True),
        (coded(503, "model_unavailable"), True, False),
        (http(408), True, True),
        (http(499), True, True),
        # Refusals of the request as such.
        (http(400), False, False),
        (http(401), False, False),
        (http(402), False, False),
        (http(404), False, False),
        (http(413), False, False),
        (coded(402, "insufficient_quota"), False, False),
        (coded(409, "idempotency_conflict"), False, False),
        # Gateway admission rejections are never charged, whatever the status says.
        (coded(500, "insufficient_quota"), False, False),
        (coded(503, "key_disabled"), False, False),
    ],
    ids=repr,
)
def test_paid_post_table(exc, retried, unknown):
    assert FAST.should_retry(POST, exc) is retried
    assert outcome_unknown(POST, exc) is unknown


@pytest.mark.parametrize("exc", READ_RETRIED + READ_NOT_RETRIED, ids=repr)
def test_outcome_is_never_unknown_for_reads(exc):
    assert outcome_unknown(GET, exc) is False


def test_outcome_unknown_ignores_foreign_exceptions():
    assert outcome_unknown(POST, TimeoutError("x")) is False


# ---- attempts with tenacity --------------------------------------------------------------------------


class Script:
    """A callable that raises the given errors in order, then returns 'ok'."""

    def __init__(self, errors: Iterable[BaseException]) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def run(policy: RetryPolicy, call, script: Script) -> tuple[object, list[float]]:
    sleeps: list[float] = []
    retrying = Retrying(**policy.tenacity_kwargs(call), sleep=sleeps.append)
    try:
        result: object = retrying(script)
    except BaseException as exc:  # the test inspects what escaped
        result = exc
    return result, sleeps


def test_get_retried_until_success():
    script = Script([http(503), http(502), bad_body(), not_sent()])
    result, sleeps = run(FAST, GET, script)
    assert result == "ok"
    assert script.calls == 5
    assert sleeps == [1.0, 2.0, 4.0, 8.0]


def test_get_gives_up_after_max_attempts_with_the_last_error():
    script = Script([http(500) for _ in range(10)])
    result, sleeps = run(FAST, GET, script)
    assert isinstance(result, EvolinkError) and result.http_status == 500  # type: ignore[attr-defined]
    assert script.calls == FAST.max_attempts
    assert len(sleeps) == FAST.max_attempts - 1


@pytest.mark.parametrize("call", [GET, POST], ids=["GET", "POST"])
def test_rate_limits_do_not_count_toward_max_attempts(call):
    script = Script([http(429) for _ in range(3 * FAST.max_attempts)])
    result, sleeps = run(FAST, call, script)
    assert result == "ok"
    assert script.calls == 3 * FAST.max_attempts + 1 == len(sleeps) + 1


def test_other_failures_between_rate_limits_still_count():
    errors = [http(503), http(429), http(429), not_sent(), http(429), http(502), http(500), http(504)]
    script = Script(errors + [http(503)] * 5)
    result, _ = run(FAST, GET, script)
    # The fifth failure other than 429 (the 504) ends the call; the three 429s did not count.
    assert isinstance(result, EvolinkError) and result.http_status == 504  # type: ignore[attr-defined]
    assert script.calls == 8


class EndlessRateLimit(Script):
    def __call__(self) -> str:
        self.calls += 1
        raise http(429)


def test_a_rate_limit_storm_ends_at_max_elapsed():
    policy = RetryPolicy(max_attempts=2, initial_wait=0.01, max_wait=0.01, jitter=0.0, max_elapsed=0.3)
    script = EndlessRateLimit([])
    retrying = Retrying(**policy.tenacity_kwargs(GET), sleep=time.sleep)
    with pytest.raises(EvolinkError) as info:
        retrying(script)
    assert info.value.http_status == 429  # type: ignore[attr-defined]
    assert script.calls > policy.max_attempts


def test_one_retrying_object_counts_each_call_afresh():
    retrying = Retrying(**FAST.tenacity_kwargs(GET), sleep=lambda s: None)
    for _ in range(3):
        script = Script([http(503)] * (FAST.max_attempts - 1))
        assert retrying(script) == "ok"
        assert script.calls == FAST.max_attempts


@pytest.mark.parametrize("status", [400, 401, 402, 404])
def test_get_permanent_error_is_raised_at_once(status):
    script = Script([http(status)])
    result, sleeps = run(FAST, GET, script)
    assert isinstance(result, EvolinkError) and result.http_status == status  # type: ignore[attr-defined]
    assert script.calls == 1 and sleeps == []


@pytest.mark.parametrize("first", [lambda: http(429), lambda: http(503), not_sent])
def test_post_retried_when_not_processed(first):
    script = Script([first(), first()])
    result, sleeps = run(FAST, POST, script)
    assert result == "ok"
    assert script.calls == 3 and len(sleeps) == 2


@pytest.mark.parametrize(
    "first",
    [lambda: http(500), lambda: http(502), lambda: http(504), sent, bad_body],
)
def test_post_resent_with_the_same_key_when_its_outcome_is_unknown(first):
    script = Script([first(), first()])
    result, sleeps = run(FAST, POST, script)
    assert result == "ok"
    assert script.calls == 3 and len(sleeps) == 2


@pytest.mark.parametrize("first", [lambda: http(500), sent])
def test_post_resends_are_bounded_by_paid_max_attempts(first):
    script = Script([first() for _ in range(3 * FAST.paid_max_attempts)])
    result, _ = run(FAST, POST, script)
    assert isinstance(result, EvolinkError)
    assert script.calls == FAST.paid_max_attempts < FAST.max_attempts


@pytest.mark.parametrize(
    "first", [lambda: http(400), lambda: http(402), lambda: coded(409, "idempotency_conflict")]
)
def test_post_refused_as_such_is_sent_once(first):
    error = first()
    script = Script([error])
    result, sleeps = run(FAST, POST, script)
    assert result is error
    assert script.calls == 1 and sleeps == []


def test_a_key_in_flight_does_not_use_up_attempts_and_waits_at_least_ten_seconds():
    script = Script([coded(409, "paid_outcome_unknown") for _ in range(2 * FAST.paid_max_attempts)])
    result, sleeps = run(FAST, POST, script)
    assert result == "ok"
    assert script.calls == 2 * FAST.paid_max_attempts + 1
    assert min(sleeps) >= 10.0


def test_post_429_then_5xx_then_success():
    script = Script([http(429), http(500), http(503)])
    result, _ = run(FAST, POST, script)
    assert result == "ok"
    assert script.calls == 4


def test_retry_after_is_used_by_tenacity():
    script = Script([http(429, "7"), http(503, "1000")])
    result, sleeps = run(FAST, POST, script)
    assert result == "ok"
    assert sleeps == [7.0, 120.0]


def test_max_elapsed_stops_retrying():
    policy = RetryPolicy(max_attempts=10, initial_wait=0.0, max_wait=0.0, jitter=0.0, max_elapsed=0.0)
    script = Script([http(503), http(503)])
    result, sleeps = run(policy, GET, script)
    assert isinstance(result, EvolinkError)
    assert script.calls == 1 and sleeps == []


def test_max_attempts_one_means_no_retry():
    script = Script([http(503)])
    result, sleeps = run(RetryPolicy(max_attempts=1), GET, script)
    assert isinstance(result, EvolinkError) and script.calls == 1 and sleeps == []


# ---- wait_seconds ------------------------------------------------------------------------------------


def test_backoff_is_exponential_and_capped():
    waits = [FAST.wait_seconds(attempt, http(500)) for attempt in range(1, 9)]
    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_backoff_attempt_zero_or_negative_uses_the_initial_wait():
    assert FAST.wait_seconds(0, None) == 1.0
    assert FAST.wait_seconds(-3, None) == 1.0


@settings(max_examples=200, deadline=None)
@given(
    attempt=st.integers(1, 40),
    initial=st.floats(0.01, 5.0),
    cap=st.floats(0.01, 60.0),
    jitter=st.floats(0.0, 5.0),
    seed=st.integers(0, 2**32),
)
def test_backoff_with_jitter_stays_between_backoff_and_cap(attempt, initial, cap, jitter, seed):
    random.seed(seed)
    policy = RetryPolicy(initial_wait=initial, max_wait=cap, jitter=jitter)
    base = min(cap, initial * 2 ** (attempt - 1))
    wait = policy.wait_seconds(attempt, http(502))
    assert base - 1e-9 <= wait <= cap + 1e-9


@pytest.mark.parametrize(
    ("header", "expected"), [("5", 5.0), ("0.5", 0.5), ("120", 120.0), ("121", 120.0), ("86400", 120.0)]
)
def test_retry_after_honoured_and_capped(header, expected):
    assert FAST.wait_seconds(1, http(429, header)) == expected


def test_retry_after_ignores_the_backoff_cap():
    # A server asking for 60 s is obeyed even though backoff alone would cap at max_wait.
    policy = RetryPolicy(max_wait=2.0, max_retry_after=300.0, jitter=0.0)
    assert policy.wait_seconds(1, http(503, "60")) == 60.0


def test_retry_after_zero_falls_back_to_backoff():
    assert FAST.wait_seconds(3, http(429, "0")) == 4.0


@settings(max_examples=100, deadline=None)
@given(retry_after=st.floats(0.01, 10_000.0), jitter=st.floats(0.0, 4.0), seed=st.integers(0, 2**32))
def test_retry_after_jitter_is_small(retry_after, jitter, seed):
    random.seed(seed)
    policy = RetryPolicy(max_retry_after=120.0, jitter=jitter)
    exc = http(429)
    exc.retry_after = retry_after  # type: ignore[attr-defined]
    wait = policy.wait_seconds(1, exc)
    honoured = min(retry_after, 120.0)
    assert honoured <= wait <= honoured + jitter / 4 + 1e-9


def test_policy_dict_round_trip_ignores_unknown_keys():
    policy = RetryPolicy(
        max_attempts=3, initial_wait=0.5, max_wait=4.0, max_retry_after=9.0, jitter=0.1, max_elapsed=60.0
    )
    assert RetryPolicy.from_dict(policy.to_dict()) == policy
    assert RetryPolicy.from_dict({"max_attempts": 2, "bogus": 1}) == RetryPolicy(max_attempts=2)
    assert RetryPolicy.from_dict(None) == RetryPolicy()


# ---- PollSchedule ------------------------------------------------------------------------------------

TASK_ID = "task-unified-1757169743-7cvnl5zw"


def task(
    progress: int = 0, estimated: float | None = None, status: str = "processing", created: int | None = None
) -> EvolinkTask:
    data: dict[str, object] = {"id": TASK_ID, "status": status, "progress": progress}
    if estimated is not None:
        data["task_info"] = {"estimated_time": estimated}
    if created is not None:
        data["created"] = created
    return parse_task(data)


class FixedDraw:
    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


@pytest.mark.parametrize("interval", [0.2, 7.5, 10, 600])
@pytest.mark.parametrize("progress", [0, 50, 99])
def test_fixed_poll_interval_is_exact(interval, progress):
    schedule = PollSchedule(poll_interval=interval)
    for elapsed in (0.0, 30.0, 5000.0):
        for draw in (0.0, 0.5, 0.999):
            assert schedule.next_delay(task(progress), elapsed, FixedDraw(draw)) == float(interval)
    assert schedule.next_delay(None, 0.0) == float(interval)


def test_fixed_poll_interval_never_negative():
    assert PollSchedule(poll_interval=-5).next_delay(task(), 0.0) == 0.0
    assert PollSchedule(poll_interval=0).next_delay(task(), 0.0) == 0.0


@settings(max_examples=200, deadline=None)
@given(
    progress=st.integers(0, 100),
    elapsed=st.floats(0.0, 20_000.0),
    estimated=st.one_of(st.none(), st.floats(0.0, 5000.0)),
    draw=st.floats(0.0, 0.999999),
    no_task=st.booleans(),
)
def test_adaptive_delay_within_bounds_and_jitter_only_shortens(progress, elapsed, estimated, draw, no_task):
    schedule = PollSchedule()
    seen = None if no_task else task(progress, estimated)
    delay = schedule.next_delay(seen, elapsed, FixedDraw(draw))
    assert schedule.min_interval <= delay <= schedule.max_interval
    steady = PollSchedule(jitter=0.0).next_delay(seen, elapsed, FixedDraw(draw))
    assert steady * (1 - schedule.jitter) - 1e-9 <= delay <= steady + 1e-9


def test_jitter_never_goes_below_min_interval():
    schedule = PollSchedule(min_interval=10.0)
    delay = schedule.next_delay(task(99), 100.0, FixedDraw(0.99))
    assert delay >= schedule.min_interval, delay


@pytest.mark.parametrize("elapsed", [20.0, 100.0, 600.0, 2000.0])
def test_adaptive_delay_shrinks_as_progress_nears_100(elapsed):
    schedule = PollSchedule(jitter=0.0)
    delays = [schedule.next_delay(task(p), elapsed) for p in range(5, 101)]
    assert all(later <= earlier + 1e-9 for earlier, later in itertools.pairwise(delays))
    if schedule.lag_fraction * elapsed < schedule.max_interval:  # else 5 % of the job exceeds the cap anyway
        assert delays[-1] < delays[0]
    assert schedule.next_delay(task(99), elapsed) <= max(schedule.min_lag, 0.05 * elapsed * 100 / 99) + 1e-9


def test_first_poll_without_information_uses_min_lag():
    schedule = PollSchedule(jitter=0.0)
    assert schedule.next_delay(None, 0.0) == schedule.min_lag
    assert schedule.next_delay(task(0), 0.0) == schedule.min_lag
    assert (
        schedule.next_delay(task(0), 400.0) == 45.0
    )  # min_lag + 10 % of the elapsed time, when nothing else is known


def test_projected_remaining():
    assert projected_remaining(None, 10.0) is None
    assert projected_remaining(task(0), 10.0) is None
    assert projected_remaining(task(50), 100.0) == pytest.approx(100.0)
    assert projected_remaining(task(4, estimated=300), 100.0) == pytest.approx(200.0)
    assert projected_remaining(task(0, estimated=300), 400.0) == 0.0
    assert projected_remaining(task(100), 100.0) == 0.0


def test_elapsed_since_submit():
    assert elapsed_since_submit(None, now=1000.0, started_at=990.0) == 10.0
    assert elapsed_since_submit(task(created=900), now=1000.0, started_at=990.0) == 100.0
    assert elapsed_since_submit(task(), now=1000.0, started_at=1010.0) == 0.0
    # A task created "after" now (clock skew) never shortens the elapsed time below the local count.
    assert elapsed_since_submit(task(created=2000), now=1000.0, started_at=990.0) == 10.0


# ---- simulated jobs: detection lag and number of polls -----------------------------------------------


def simulate(
    length: float, schedule: PollSchedule, seed: int, estimate: Callable[[float, float], float] | None = None
) -> tuple[float, int]:
    """Poll a job of ``length`` seconds whose progress grows linearly; return (detection lag, polls).

    The first poll happens at submission (t=0), as in the trigger. The lag is the time of the first poll
    that sees the job finished minus ``length``.
    """
    rng = random.Random(seed)
    now, polls = 0.0, 0
    while True:
        polls += 1
        if now >= length:
            return now - length, polls
        progress = int(100 * now / length)
        seen = task(progress, None if estimate is None else estimate(length, now))
        now += schedule.next_delay(seen, now, rng)


LENGTHS = [30, 45, 60, 90, 120, 180, 300, 450, 600, 900, 1200, 1800, 2400]
SEEDS = range(40)


def lag_bound(length: float, schedule: PollSchedule) -> float:
    return max(5.0, 0.05 * length) + schedule.min_interval


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize(
    "estimate",
    [None, lambda length, now: max(1.0, length - now), lambda length, now: length],
    ids=["progress-only", "accurate-estimate", "static-estimate"],
)
def test_detection_lag_is_bounded(length, estimate):
    schedule = PollSchedule()
    worst = max(simulate(length, schedule, seed, estimate)[0] for seed in SEEDS)
    assert worst <= lag_bound(length, schedule), f"L={length}: lag {worst:.1f} s"


@pytest.mark.parametrize("length", [600, 900, 1200, 1800, 2400])
def test_long_jobs_need_far_fewer_polls_than_fixed_10s(length):
    fixed = simulate(length, PollSchedule(poll_interval=10), 0)[1]
    worst = max(simulate(length, PollSchedule(), seed)[1] for seed in SEEDS)
    assert worst * 3 <= fixed, f"L={length}: {worst} adaptive polls vs {fixed} fixed"


def test_fixed_10s_polling_baseline():
    lag, polls = simulate(600, PollSchedule(poll_interval=10), 0)
    assert (lag, polls) == (0.0, 61)


@pytest.mark.parametrize("length", [30, 45])
def test_detection_lag_with_an_overestimated_estimate(length):
    schedule = PollSchedule()
    worst = max(simulate(length, schedule, seed, lambda _length, _now: 300.0)[0] for seed in SEEDS)
    assert worst <= lag_bound(length, schedule), f"L={length}: lag {worst:.1f} s"
