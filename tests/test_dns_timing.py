"""DNS timing against a slow DNS server on loopback, through dnspython as the daemon
sets it up (use_nameservers): slow answers within SPFTimeout are used, MAIL FROM is
answered within SPFTimeout + 0.1 s, and exp= never delays the verdict."""

import logging
import time

import dns.resolver
import Milter
import pytest

from smf_spf.mailbox import split_path
from smf_spf import c_rules, config as configuration
from smf_spf.milter import Services, SpfMilter
from smf_spf.spfcheck import CachedChecker, SpfChecker
from miltertools import MtaCtx
from slowdns import SlowDns, point_resolver

RECORDS = {
    ('slow.test', 'TXT'): ['v=spf1 ip4:192.0.2.0/24 -all'],
    ('chain.test', 'TXT'): ['v=spf1 include:c1.test -all'],
    ('c1.test', 'TXT'): ['v=spf1 include:c2.test -all'],
    ('c2.test', 'TXT'): ['v=spf1 include:c3.test -all'],
    ('c3.test', 'TXT'): ['v=spf1 ip4:192.0.2.0/24 -all'],
    ('exp.test', 'TXT'): ['v=spf1 -all exp=why.exp.test'],
}
SLACK = 0.1


@pytest.fixture(autouse=True)
def keep_default_resolver():
    saved = dns.resolver.default_resolver
    yield
    dns.resolver.default_resolver = saved


def mail_from(sender, budget, ip='192.0.2.9'):
    """(SMTP action, A-R spf= value, seconds MAIL FROM took) through the milter."""
    conf = configuration.parse_lines(['SPFTimeout %s' % budget, 'RefuseFail on',
                                      'AcceptTempError off'], 't.conf').config
    log = logging.getLogger('smf-spf-timing')
    log.propagate = False
    checker = SpfChecker(conf.spf_timeout)
    services = Services(conf, CachedChecker(checker, None, c_rules.is_cacheable), log)
    Milter.factory = lambda: SpfMilter(services)
    ctx = MtaCtx()
    assert ctx._connect('client.test', 'h.test', ip) == Milter.CONTINUE
    started = time.monotonic()
    action = ctx._envfrom('<%s>' % sender)
    return action, ctx._reply, time.monotonic() - started


def test_answer_slower_than_dnspythons_2_s_try_is_used_within_budget():
    with SlowDns(RECORDS, delay=2.6) as server:
        server.resolver(5)
        action, reply, took = mail_from('a@slow.test', 5)
    assert action == Milter.CONTINUE and reply is None   # pass, not a 451 temperror
    assert 2.6 <= took < 5


@pytest.mark.parametrize('delay,silent,budget', [
    (0, ['slow.test'], 1.0),          # never answered
    (0.45, [], 1.0),                  # each answer in time, the chain is not
    (0.3, [], 0.7),
])
def test_mail_from_is_answered_within_budget_plus_100_ms(delay, silent, budget):
    sender = 'a@slow.test' if silent else 'a@chain.test'
    with SlowDns(RECORDS, delay=delay, silent=silent) as server:
        server.resolver(budget)
        action, reply, took = mail_from(sender, budget)
    assert action == Milter.TEMPFAIL and reply[0] == '451'
    assert took <= budget + SLACK, 'MAIL FROM took %.2f s for a %.1f s budget' % (took, budget)


def test_no_record_is_one_txt_lookup_and_no_best_guess():
    """C's best guess would add A, MX and PTR lookups after `none`, only for a log line."""
    with SlowDns({('guess.test', 'A'): ['192.0.2.1']}, delay=0.3) as server:
        server.resolver(3)
        action, reply, took = mail_from('a@guess.test', 3)
        asked = list(server.asked)
    assert action == Milter.CONTINUE and reply is None
    assert asked == [('guess.test', 'TXT')]
    assert took < 0.3 * 2


def test_unanswered_exp_does_not_delay_the_verdict():
    with SlowDns(RECORDS, silent=['why.exp.test']) as server:
        server.resolver(3)
        action, reply, took = mail_from('a@exp.test', 3)
        assert ('why.exp.test', 'TXT') not in server.asked
    assert action == Milter.REJECT and reply[0] == '550'
    assert took < 0.5


def test_dead_first_nameserver_leaves_time_for_the_second():
    with SlowDns(RECORDS, silent=['slow.test'], host='127.0.0.1') as dead, \
            SlowDns(RECORDS, delay=0.2, host='127.0.0.2') as alive:
        point_resolver([dead, alive], 3)
        action, reply, took = mail_from('a@slow.test', 3)
    assert action == Milter.CONTINUE and reply is None
    assert took < 3


def test_cname_loop_under_ptr_skips_the_name_rfc7208_5_5():
    """The openspf suite's ptr-cname-loop over real dnspython: neutral, not temperror."""
    records = {
        ('loop.example.com', 'TXT'): ['v=spf1 ptr'],
        ('4.2.0.192.in-addr.arpa', 'PTR'): ['loop4.example.com'],
        ('loop4.example.com', 'CNAME'): ['CNAME.example.com'],
        ('cname.example.com', 'CNAME'): ['CNAME.example.com'],
    }
    with SlowDns(records) as server:
        server.resolver(3)
        checked = SpfChecker(3).check(
            '192.0.2.4', split_path('postmaster@loop.example.com'), 'loop.example.com')
    assert checked.result == 'neutral'
