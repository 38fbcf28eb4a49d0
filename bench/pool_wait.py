"""How long MAIL FROM waits when several arrive together and DNS is slow (see
tests/test_simultaneous_mail.py, which runs one burst): N sessions each get through
CONNECT and HELO, then all send MAIL FROM at once for senders of their own (nothing
cached) whose TXT record a DNS server on loopback answers SPFTimeout - 1 s late. Prints,
per run, each session's seconds from sending MAIL FROM to its reply, and whether the
daemon's libmilter runs a worker pool (its start-up warning).

    SMF_SPF_E2E_DNS=127.53.53.N .venv/bin/python bench/pool_wait.py [SPFTIMEOUT [RUNS [N]]]
"""

import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), os.path.join(os.path.dirname(HERE), 'tests')]

import rawmilter  # noqa: E402
from dnsstub import stub_address  # noqa: E402
from slowdns import SlowDns  # noqa: E402
from smf_spf.__main__ import WORKER_POOL_WARNING  # noqa: E402


def main():
    timeout = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    sessions = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    names = [[b'r%d-s%d.pool.test' % (run, i) for i in range(sessions)] for run in range(runs)]
    records = dict(((name.decode(), 'TXT'), ['v=spf1 ip4:127.0.0.0/8 -all'])
                   for run in names for name in run)
    with SlowDns(records, delay=timeout - 1, host=stub_address(2), port=53):
        daemon = rawmilter.Daemon(tempfile.mkdtemp(), stub_address(2),
                                  'SPFTimeout %g' % timeout).start()
        try:
            with open('/proc/%d/maps' % daemon.pid) as maps:
                paths = sorted(set(line.split()[-1] for line in maps if 'libmilter' in line))
            print('%s, %s; SPFTimeout %g, DNS answers after %g s, %d sessions' % (
                ' '.join(paths), 'worker pool' if WORKER_POOL_WARNING in daemon.log()
                else 'a thread per session', timeout, timeout - 1, sessions))
            for run, senders in enumerate(names):
                answered = rawmilter.simultaneous_mail(daemon.port, senders)
                seconds = sorted(round(elapsed, 2) for elapsed, _ in answered)
                print('run %d: %s  max %.2f s, over SPFTimeout + 1 s: %d, replies %s' % (
                    run + 1, seconds, seconds[-1], sum(1 for s in seconds if s > timeout + 1),
                    ''.join(sorted(set(letter.decode() for _, letter in answered)))))
                sys.stdout.flush()
        finally:
            daemon.stop()


if __name__ == '__main__':
    main()
