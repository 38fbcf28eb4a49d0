import threading
import time

import pytest
from hypothesis import given, settings, strategies as st

from smf_spf.mailbox import split_path
from smf_spf import _cache_c, _cache_py


class SteppedClock(object):
    """A monotonic clock the test moves by hand: expiry without sleeping."""

    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now

    def step(self, seconds):
        self.now += seconds


def test_get_put_and_missing(cache_impl):
    c = cache_impl.ResultCache(60, 10)
    assert c.get('1.2.3.4|example.com') is None
    c.put('1.2.3.4|example.com', 'pass')
    assert c.get('1.2.3.4|example.com') == 'pass'
    c.put('1.2.3.4|example.com', 'fail')
    assert c.get('1.2.3.4|example.com') == 'fail'
    assert len(c) == 1


def test_entries_expire(cache_impl):
    clock = SteppedClock()
    c = cache_impl.ResultCache(60, 10, clock)
    c.put('k', 'v')
    clock.step(59.9)
    assert c.get('k') == 'v'
    clock.step(0.1)
    assert c.get('k') is None
    assert len(c) == 0


def test_the_default_clock_is_the_monotonic_one(cache_impl):
    c = cache_impl.ResultCache(0.05, 10)
    c.put('k', 'v')
    assert c.get('k') == 'v'
    deadline = time.monotonic() + 30
    while c.get('k') is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert c.get('k') is None


def test_expired_entries_are_swept_within_64_puts(cache_impl):
    clock = SteppedClock()
    c = cache_impl.ResultCache(60, 1000, clock)
    for i in range(50):
        c.put('old%d' % i, i)
    clock.step(60)
    for i in range(64):
        c.put('new%d' % i, i)
    assert len(c) == 64


def test_bounded_evicts_oldest(cache_impl):
    c = cache_impl.ResultCache(60, 3)
    for key in 'abcd':
        c.put(key, key.upper())
    assert c.get('a') is None
    assert [c.get(k) for k in 'bcd'] == ['B', 'C', 'D']
    c.put('b', 'B2')       # a re-put entry becomes the newest
    c.put('e', 'E')
    assert c.get('c') is None and c.get('b') == 'B2' and len(c) == 3


def test_evictions_count_entries_dropped_for_room_not_replaced_or_expired(cache_impl):
    clock = SteppedClock()
    c = cache_impl.ResultCache(60, 3, clock)
    for key in 'abc':
        c.put(key, key)
    c.put('a', 'again')              # replaced in place: nothing evicted
    assert c.evictions == 0
    c.put('d', 'd')
    c.put('e', 'e')
    assert c.evictions == 2
    clock.step(61)
    assert c.get('a') is None        # expired, not evicted
    assert c.evictions == 2


def test_zero_ttl_or_size_disables(cache_impl):
    for ttl, size in ((0, 10), (60, 0)):
        c = cache_impl.ResultCache(ttl, size)
        c.put('k', 'v')
        assert c.get('k') is None


def test_negative_arguments_rejected(cache_impl):
    with pytest.raises(ValueError):
        cache_impl.ResultCache(-1, 1)


def test_threads_hammering_keep_the_bound_and_values(cache_impl):
    c = cache_impl.ResultCache(60, 500)
    errors = []

    def worker(n):
        try:
            for i in range(4000):
                key = 'k%d' % ((i * 7 + n) % 900)
                c.put(key, key)
                got = c.get(key)
                if got is not None and got != key:
                    errors.append((key, got))
                if len(c) > 500:
                    errors.append(('size', len(c)))
        except Exception as exc:  # pragma: no cover - a failure shows in errors
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(c) <= 500


def test_compiled_and_twin_agree_on_a_sequence():
    ops = [('put', 'k%d' % (i % 13), i) if i % 3 else ('get', 'k%d' % (i % 11), None)
           for i in range(300)]
    results = []
    for impl in (_cache_c, _cache_py):
        c = impl.ResultCache(60, 7)
        seen = []
        for op, key, value in ops:
            if op == 'put':
                c.put(key, value)
            else:
                seen.append(c.get(key))
        results.append((seen, len(c)))
    assert results[0] == results[1]


def test_evictions_are_counted_and_expiry_is_not(cache_impl):
    c = cache_impl.ResultCache(60, 2)
    for key in 'abcd':
        c.put(key, key)
    assert c.evictions == 2
    clock = SteppedClock()
    short = cache_impl.ResultCache(60, 10, clock)
    short.put('k', 'v')
    clock.step(60)
    assert short.get('k') is None and short.evictions == 0


def test_many_re_puts_keep_order_and_bound(cache_impl):
    # re-put entries leave dead slots behind in the compiled cache's order list
    c = cache_impl.ResultCache(60, 100)
    for round_ in range(50):
        for i in range(100):
            c.put('k%d' % i, (round_, i))
    assert len(c) == 100 and c.evictions == 0
    c.put('new', 1)
    assert c.get('k0') is None and c.get('k1') == (49, 1) and c.evictions == 1


_operations = st.lists(st.tuples(st.sampled_from(['put', 'get', 'wait']),
                                 st.integers(min_value=0, max_value=40),
                                 st.integers()), max_size=400)


@settings(max_examples=200, deadline=None)
@given(_operations, st.integers(min_value=0, max_value=12))
def test_compiled_and_twin_agree_on_random_operations(operations, maxsize):
    """'wait' moves the clock by 0 to 40 s against a 60 s TTL: entries expire midway."""
    observed = []
    for impl in (_cache_c, _cache_py):
        clock = SteppedClock()
        c = impl.ResultCache(60, maxsize, clock)
        seen = []
        for op, key, value in operations:
            if op == 'put':
                c.put('k%d' % key, value)
            elif op == 'get':
                seen.append(c.get('k%d' % key))
            else:
                clock.step(key)
            seen.append(len(c))
        observed.append((seen, c.evictions))
    assert observed[0] == observed[1]


def test_cached_checker_shares_equal_results():
    from smf_spf.spfcheck import CachedChecker, SpfResult

    class Fresh(object):
        def check(self, ip, sender, helo, timeout=None):
            return SpfResult('pass', 'sender SPF authorized')

    cache = _cache_c.ResultCache(60, 10)
    checker = CachedChecker(Fresh(), cache, lambda result: True)
    checker.evaluate('1.2.3.4|a.example', '1.2.3.4', split_path('x@a.example'), 'h')
    checker.evaluate('1.2.3.5|b.example', '1.2.3.5', split_path('x@b.example'), 'h')
    first, second = cache.get('1.2.3.4|a.example'), cache.get('1.2.3.5|b.example')
    assert first == SpfResult('pass', 'sender SPF authorized')
    assert first is second
