"""Hot-path benchmark (not a test): per-lookup times as ratios within one run.

    make bench        (or: .venv/bin/python bench/hotpaths.py [--quick])

Compares the compiled modules with their plain-Python twins, with what a Python
programmer would pick instead (pytricia, pyahocorasick) and with a linear scan
(what the C milter does), then times a config load and measures the cache.
"""

import ipaddress
import os
import random
import sys
import tempfile
import threading
import time
import tracemalloc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from smf_spf import _cache_c, _cache_py, _cidr_c, _cidr_py, _match_c, _match_py  # noqa: E402
from smf_spf import config as configuration  # noqa: E402
from smf_spf.spfcheck import SpfResult  # noqa: E402

QUICK = '--quick' in sys.argv
SIZES = [10, 1000, 10000, 100000] + ([] if QUICK else [1000000])
rng = random.Random(7208)


def per_call(function, probes, min_time=0.2, star=False):
    """Best-of-3 seconds per call of function(probe) (star: function(*probe)), cycling
    through probes."""
    best = None
    for _ in range(3):
        count = 0
        start = time.perf_counter()
        while True:
            if star:
                for probe in probes:
                    function(*probe)
            else:
                for probe in probes:
                    function(probe)
            count += len(probes)
            elapsed = time.perf_counter() - start
            if elapsed >= min_time:
                break
        value = elapsed / count
        best = value if best is None else min(best, value)
    return best


def ns(seconds):
    return '%9.0f' % (seconds * 1e9) if seconds is not None else '        -'


def cidr_entries(n):
    entries = []
    for i in range(n):
        if i % 2:
            entries.append('%s/24' % ipaddress.IPv4Address(rng.getrandbits(32) & ~0xff))
        else:
            entries.append('%s/48' % ipaddress.IPv6Address(rng.getrandbits(128) >> 80 << 80))
    return entries


def cidr_probes(entries, count=2000):
    probes = []
    for i in range(count):
        if i % 2 and entries:
            net = ipaddress.ip_network(rng.choice(entries))
            probes.append(str(net.network_address + rng.randrange(net.num_addresses)))
        elif i % 4:
            probes.append(str(ipaddress.IPv4Address(rng.getrandbits(32))))
        else:
            probes.append(str(ipaddress.IPv6Address(rng.getrandbits(128))))
    return probes


def bench_cidr():
    print('\nCIDR lookup, ns per lookup (address string in, bool out; half IPv4 /24, half IPv6 /48)')
    print('%10s %9s %9s %9s %9s' % ('entries', 'compiled', 'twin', 'pytricia', 'linear'))
    try:
        import pytricia
    except ImportError:
        pytricia = None
    rows = {}
    for n in SIZES:
        entries = cidr_entries(n)
        probes = cidr_probes(entries)
        compiled = _cidr_c.CidrSet(entries)
        twin = _cidr_py.CidrSet(entries)
        c = per_call(compiled.__contains__, probes)
        t = per_call(twin.__contains__, probes, 0.1)
        p = None
        if pytricia is not None:
            tries = {4: pytricia.PyTricia(32), 6: pytricia.PyTricia(128)}
            for e in entries:
                tries[6 if ':' in e else 4][e] = True

            def tricia(address):
                return address in tries[6 if ':' in address else 4]
            p = per_call(tricia, probes)
        lin = None
        if n <= 100000:
            nets = [ipaddress.ip_network(e) for e in entries]

            def linear(address):
                a = ipaddress.ip_address(address)
                for net in nets:
                    if a in net:
                        return True
                return False
            lin = per_call(linear, probes[:max(2, 2000 // n)], 0.05)
        rows[n] = (c, t, p, lin)
        print('%10d %s %s %s %s' % (n, ns(c), ns(t), ns(p), ns(lin)))
    c1k, c100k = rows[1000][0], rows[100000][0]
    print('  targets: 100k vs linear >= 100x: %.0fx;  vs pytricia <= 1.0: %s;  '
          '100k / 1k <= 2: %.2f' % (rows[100000][3] / c100k,
                                    '%.2f' % (c100k / rows[100000][2]) if rows[100000][2] else '-',
                                    c100k / c1k))
    if 1000000 in rows:
        print('           1M / 1k <= 3: %.2f' % (rows[1000000][0] / c1k))


def email_patterns(n):
    return ['user%d@host%d.example%d.org' % (rng.randrange(10 ** 6), i, i % 1000)
            for i in range(n)]


def bench_address():
    print('\nAddress matching (WhitelistFrom/To), ns per sender (local part, domain)')
    print('%10s %9s %9s %9s %9s' % ('patterns', 'mailbox', 'domain', 'twin', 'pyahocor.'))
    try:
        import ahocorasick
    except ImportError:
        ahocorasick = None
    senders = [('someone.%d' % i, 'mail%d.sender-example.com' % i) for i in range(500)]
    texts = ['%s@%s' % sender for sender in senders]
    # senders in the patterns' parent domains: the trie walks their last labels
    nearby = [('someone.%d' % i, 'host%d.example%d.org' % (i * 997, i % 1000))
              for i in range(500)]
    rows = {}
    for n in [10, 1000, 10000, 100000]:
        patterns = email_patterns(n)           # user@host.example.org: mailboxes
        compiled = _match_c.AddressMatcher(patterns)
        twin = _match_py.AddressMatcher(patterns)
        # domains without '@' (whole labels: the trie), as many
        by_domain = _match_c.AddressMatcher([p.split('@')[1] for p in patterns])
        c = per_call(compiled.matches, senders, star=True)
        d = per_call(by_domain.matches, nearby, star=True)
        t = per_call(twin.matches, senders[:max(2, 5000 // n)], 0.05, star=True)
        a = None
        if ahocorasick is not None:
            automaton = ahocorasick.Automaton()
            for p in patterns:
                automaton.add_word(p.lower(), True)
            automaton.make_automaton()

            def aho(text):
                for _ in automaton.iter(text.lower()):
                    return True
                return False
            a = per_call(aho, texts)
        rows[n] = (c, d, t, a)
        print('%10d %s %s %s %s' % (n, ns(c), ns(d), ns(t), ns(a)))
    # the domain column walks deeper as more patterns share the probes' last labels (at
    # most the name's length): no ratio to 10 patterns there
    print('  targets: 10k / 10 <= 2: %.2f (mailbox);  100k / 1k <= 1.5: %.2f (domain)' % (
        rows[10000][0] / rows[10][0], rows[100000][1] / rows[1000][1]))


def bench_names():
    print('\nName matching (WhitelistPTR, whole labels), ns per host name')
    print('%10s %9s %9s' % ('patterns', 'compiled', 'twin'))
    hosts = ['mail%d.out.sender-example%d.com' % (i, i) for i in range(500)]
    rows = {}
    for n in [10, 1000, 10000, 100000]:
        patterns = ['.relay%d.example%d.net' % (i, i % 977) for i in range(n)]
        compiled = _match_c.DomainMatcher(patterns)
        twin = _match_py.DomainMatcher(patterns)
        c = per_call(compiled.matches, hosts)
        t = per_call(twin.matches, hosts[:max(2, 5000 // n)], 0.05)
        rows[n] = c
        print('%10d %s %s' % (n, ns(c), ns(t)))
    print('  target: 10k / 10 <= 1.5: %.2f' % (rows[10000] / rows[10]))


def bench_config_load():
    lines = ['WhitelistIP %s' % e for e in cidr_entries(100000)]
    lines += ['WhitelistFrom %s' % p for p in email_patterns(100000)]
    with tempfile.NamedTemporaryFile('w', suffix='.conf', delete=False) as handle:
        handle.write('\n'.join(lines) + '\n')
    try:
        best = min(_timed(lambda: configuration.load(handle.name)) for _ in range(3))
    finally:
        os.unlink(handle.name)
    print('\nConfig load, 100,000 WhitelistIP + 100,000 WhitelistFrom lines: %.3f s (target < 1 s)'
          % best)


def _timed(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


class LockedDict(object):
    """The baseline: a dict behind a lock, what a Python programmer writes first."""

    def __init__(self):
        self.data = {}
        self.lock = threading.Lock()

    def get(self, key):
        with self.lock:
            return self.data.get(key)

    def put(self, key, value):
        with self.lock:
            self.data[key] = value


def bench_cache():
    print('\nResult cache')
    keys = ['%s|example%d.com' % (ipaddress.IPv4Address(rng.getrandbits(32)), i)
            for i in range(100000)]
    value = SpfResult('pass', 'sender SPF authorized')
    for label, factory in (('compiled', lambda: _cache_c.ResultCache(3600, 10 ** 7)),
                           ('twin', lambda: _cache_py.ResultCache(3600, 10 ** 7)),
                           ('dict+lock', LockedDict)):
        cache = factory()
        put = per_call(lambda k: cache.put(k, value), keys)
        get = per_call(cache.get, keys)
        print('  %-10s put %s ns   get %s ns' % (label, ns(put), ns(get)))
    n = 200000 if QUICK else 1000000
    for label, impl in (('compiled', _cache_c), ('twin', _cache_py)):
        many = ['%s|example%d.com' % (ipaddress.IPv4Address(rng.getrandbits(32)), i)
                for i in range(n)]
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        filled = impl.ResultCache(3600, n)
        for k in many:      # each entry holds its own result, as the milter's do
            filled.put(k, SpfResult('pass', 'sender SPF authorized'))
        used = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
        keys_bytes = sum(sys.getsizeof(k) for k in many)
        print('  %-10s %d entries: %.0f MB in all, %.0f bytes per entry (of which the key '
              'string %.0f); the default CacheSize %d: %.0f MB' % (
                  label, n, used / 1e6, used / n, keys_bytes / n,
                  configuration.DEFAULT_CACHE_SIZE,
                  configuration.DEFAULT_CACHE_SIZE * used / n / 1e6))
        del filled


if __name__ == '__main__':
    print('smf-spf-py hot paths (%s; Python %s)' % ('quick' if QUICK else 'full',
                                                   sys.version.split()[0]))
    bench_cidr()
    bench_address()
    bench_names()
    bench_config_load()
    bench_cache()
