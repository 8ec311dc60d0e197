"""contacts.ratelimit against the real Redis: a call holds its slot while in flight and for a window after its answer,
so the API never sees more than the limit in any window, however long a call takes to arrive."""

import threading
import time

import pytest
import redis

from contacts import ratelimit


@pytest.fixture(params=["redis", "in-process"])
def name(request, settings, test_redis_url):
    settings.RATE_LIMIT_REDIS_URL = test_redis_url if request.param == "redis" else ""
    return f"test-limit-{time.time_ns()}"


def take(name, *, wait=0.0, flight=5.0):
    return ratelimit.acquire(name, limit=3, window_seconds=0.4, max_wait_seconds=wait, flight_seconds=flight)


def test_a_call_in_flight_holds_its_slot_until_a_window_after_its_answer(name):
    slots = [take(name) for _ in range(3)]
    time.sleep(0.5)  # a window has passed since they were sent, but none has been answered
    with pytest.raises(ratelimit.RateLimitTimeout):
        take(name)
    # Read before the answer is stamped: the stamp is taken inside answered(), so a clock read after it returns can be
    # later than the stamp by however long the call took to come back (a loaded machine made that 2 ms too many).
    answered_at = time.monotonic()
    ratelimit.answered(name, slots[0], window_seconds=0.4)
    take(name, wait=2.0)  # blocks until a window after that answer, then gets the slot
    assert time.monotonic() - answered_at >= 0.399  # Redis's clock (TIME) is read in whole milliseconds
    with pytest.raises(ratelimit.RateLimitTimeout):
        take(name)  # the two others are still in flight, and the new one too


def test_an_unanswered_call_frees_its_slot_after_its_longest_flight_and_a_window(name):
    for _ in range(3):
        take(name, flight=0.3)
    started = time.monotonic()
    take(name, wait=2.0, flight=0.3)
    assert time.monotonic() - started >= 0.6  # flight (0.3) + window (0.4), less the time the three took


def test_threads_at_the_limit_never_put_more_than_it_in_any_window_whatever_each_call_takes(name):
    arrivals: list[float] = []
    lock = threading.Lock()

    def worker(seed):
        for n in range(3):
            slot = ratelimit.acquire(name, limit=3, window_seconds=0.4, max_wait_seconds=10, flight_seconds=1.0)
            delay = ((seed * 7 + n * 3) % 5) * 0.03  # the request reaches the API after 0 to 120 ms
            time.sleep(delay)
            with lock:
                arrivals.append(time.monotonic())
            time.sleep(0.02)  # then the answer takes a little longer
            ratelimit.answered(name, slot, window_seconds=0.4)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    arrivals.sort()
    assert len(arrivals) == 12
    # No 4 arrivals within one 0.4 s window.
    assert all(arrivals[i + 3] - arrivals[i] >= 0.4 for i in range(len(arrivals) - 3))


def test_a_call_answered_after_its_longest_flight_still_counts_a_window_from_its_answer(name):
    slot = take(name, flight=0.1)
    take(name, flight=0.1)
    take(name, flight=0.1)
    time.sleep(0.6)  # past flight and window: the log has let the three go
    ratelimit.answered(name, slot, window_seconds=0.4)  # but the first one's answer only comes now
    take(name, wait=0.0)
    take(name, wait=0.0)
    with pytest.raises(ratelimit.RateLimitTimeout):
        take(name)  # the late answer holds the third slot for a window from now


def test_redis_out_of_reach_stops_the_call_rather_than_letting_it_out_uncounted(settings, closed_port):
    settings.RATE_LIMIT_REDIS_URL = f"redis://127.0.0.1:{closed_port}/0"
    with pytest.raises(redis.RedisError):
        take(f"test-limit-{time.time_ns()}")
    ratelimit.answered("any", "slot", window_seconds=0.4)  # best effort: no error
    ratelimit.penalise("any", seconds=1)
