"""MAIL FROMs that arrive together while DNS is slow, against the running daemon.

Eight sessions each get through CONNECT and HELO, then send MAIL FROM at the same moment
for senders of their own (nothing cached) whose TXT record a DNS server on loopback
answers SPFTimeout - 1 s late. With a libmilter that runs a thread per session (el7's
8.14.7, el8's 8.15.2, el9's 8.16.1) every one is answered within SPFTimeout + 1 s. With
one built with its worker pool (Debian's), the daemon says so at start, and a burst is
shared among the workers idle at that moment: the others wait for one of them to end a
whole check, so answers come in rounds of the check time (docs/libmilter.md); each check
itself still ends within SPFTimeout.
"""

import rawmilter
from dnsstub import stub_address
from slowdns import SlowDns
from smf_spf.__main__ import WORKER_POOL_WARNING

SPF_TIMEOUT = 5
CHECK = SPF_TIMEOUT - 1         # what the slow DNS makes every check take
SESSIONS = 8


def test_simultaneous_mail_froms_are_each_answered_within_spf_timeout(tmp_path):
    senders = [b's%d.burst.test' % index for index in range(SESSIONS)]
    records = dict(((sender.decode(), 'TXT'), ['v=spf1 ip4:127.0.0.0/8 -all'])
                   for sender in senders)
    with SlowDns(records, delay=CHECK, host=stub_address(2), port=53):
        daemon = rawmilter.Daemon(tmp_path, stub_address(2),
                                  'SPFTimeout %d' % SPF_TIMEOUT).start()
        try:
            answered = rawmilter.simultaneous_mail(daemon.port, senders)
            pooled = WORKER_POOL_WARNING in daemon.log()
        finally:
            daemon.stop()
    assert [letter for _, letter in answered] == [b'c'] * SESSIONS     # SPF pass
    seconds = sorted(elapsed for elapsed, _ in answered)
    assert seconds[0] >= CHECK - 0.1, seconds          # the slow DNS was asked, not a cache
    if not pooled:
        assert seconds[-1] <= SPF_TIMEOUT + 1, seconds
    else:
        assert all(abs(elapsed - CHECK * max(1, round(elapsed / CHECK))) <= 1
                   for elapsed in seconds), seconds
