"""Result cache memory as the process sees it (RSS), per entry: fills a cache the way the
milter does (a fresh key string and a fresh SpfResult per SPF check, through CachedChecker)
in a process of its own and reads VmRSS before and after.

    .venv/bin/python bench/cache_rss.py [ENTRIES] [compiled|twin]
"""

import gc
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from smf_spf import _cache_c, _cache_py  # noqa: E402
from smf_spf.spfcheck import CachedChecker, SpfResult  # noqa: E402
from smf_spf.mailbox import Mailbox  # noqa: E402


def rss_bytes():
    with open('/proc/self/status') as handle:
        for line in handle:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) * 1024
    raise RuntimeError('no VmRSS in /proc/self/status')


class FreshResults(object):
    """What SpfChecker.check hands back: a new SpfResult per check."""

    def check(self, ip, sender, helo, timeout=None):
        return SpfResult('pass', 'sender SPF authorized')


def main():
    entries = int(sys.argv[1]) if len(sys.argv) > 1 else 400000
    impl = _cache_py if len(sys.argv) > 2 and sys.argv[2] == 'twin' else _cache_c
    cache = impl.ResultCache(3600, entries)
    checker = CachedChecker(FreshResults(), cache, lambda result: True)
    gc.collect()
    before = rss_bytes()
    for index in range(entries):
        ip = '%d.%d.%d.%d' % (198, index >> 16 & 255, index >> 8 & 255, index & 255)
        identity = Mailbox('user', 'sender%d.example' % index)
        checker.evaluate('%s|%s' % (ip, identity.domain), ip, identity, 'mx.example')
    gc.collect()
    after = rss_bytes()
    assert len(cache) == entries
    print('%s cache, %d entries: %.1f MB RSS, %.0f bytes per entry' % (
        'compiled' if impl is _cache_c else 'twin', entries, (after - before) / 1e6,
        (after - before) / float(entries)))


if __name__ == '__main__':
    main()
