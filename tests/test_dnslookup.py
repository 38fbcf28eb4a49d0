"""smf_spf.dnslookup, pyspf's DNS hook, against a real DNS server on loopback (tests/slowdns.py)
through dnspython's default resolver as the daemon sets it up: the answers pyspf's own hook
(spf.DNSLookup_dnspython) gives, asked once, for the absolute name, without the deprecated
dnspython call."""

import subprocess
import sys
import time
import warnings

import dns.message
import dns.name
import dns.resolver
import pytest
import spf
from hypothesis import HealthCheck, given, settings, strategies as st

from smf_spf.mailbox import split_path
from smf_spf import dnscache, dnslookup
from smf_spf.spfcheck import SpfChecker
from slowdns import SlowDns, point_resolver

RECORDS = {
    ('a.test', 'A'): ['192.0.2.1', '192.0.2.2'],
    ('a.test', 'AAAA'): ['2001:db8::1'],
    ('a.test', 'MX'): ['10 mx1.a.test.', '20 mx2.a.test.'],
    ('a.test', 'TXT'): ['v=spf1 ip4:192.0.2.0/24 -all'],
    ('a.test', 'SPF'): ['"v=spf1 -all"'],
    ('split.test', 'TXT'): ['v=spf1 ip4:192.0.2.0/24 " "-all'],   # two strings
    ('9.2.0.192.in-addr.arpa', 'PTR'): ['mail.a.test'],
    ('alias.test', 'CNAME'): ['hop.test'],
    ('hop.test', 'CNAME'): ['a.test'],
    ('loop1.test', 'CNAME'): ['loop2.test'],
    ('loop2.test', 'CNAME'): ['loop1.test'],
    ('nodata.test', 'A'): ['192.0.2.9'],
}
SILENT = 'silent.test'
BROKEN = 'broken.test'


@pytest.fixture
def server(monkeypatch):
    """The DNS server, with the daemon's resolver set-up (use_nameservers) aimed at it."""
    monkeypatch.setattr(dns.resolver, 'default_resolver', dns.resolver.default_resolver)
    monkeypatch.setattr(spf, 'DNSLookup', spf.DNSLookup)
    with SlowDns(RECORDS, silent=[SILENT], servfail=[BROKEN], negative_ttl=60) as running:
        resolver = point_resolver([running], 1.0)
        # no local domain: pyspf's own hook would try one after an NXDOMAIN
        resolver.domain = dns.name.root
        resolver.search = []
        yield running


def outcome(lookup, name, qtype, timeout=1.0):
    """The answers (in no particular order: a server may shuffle an RRset) or the error."""
    try:
        return sorted(lookup(name, qtype, True, timeout), key=repr)
    except Exception as exc:
        return type(exc)


def pyspf_lookup(name, qtype, strict=True, timeout=30):
    with warnings.catch_warnings():   # dnspython 2 deprecates the query() pyspf calls
        warnings.simplefilter('ignore', DeprecationWarning)
        return spf.DNSLookup_dnspython(name, qtype, strict, timeout)


def strings(answers):
    """TXT and SPF answers with their strings as a tuple (dnspython 1.16 gives a list)."""
    return [(key, tuple(value)) for key, value in answers]


def test_answers_what_pyspf_mechanisms_expect(server):
    lookup = dnslookup.lookup
    assert sorted(v for _, v in lookup('a.test', 'A')) == ['192.0.2.1', '192.0.2.2']
    assert lookup('a.test', 'AAAA') == [(('a.test', 'AAAA'), '2001:db8::1')]
    assert sorted(lookup('a.test', 'MX')) == [
        (('a.test', 'MX'), (10, dns.name.from_text('mx1.a.test'))),
        (('a.test', 'MX'), (20, dns.name.from_text('mx2.a.test')))]
    assert strings(lookup('a.test', 'TXT')) == [
        (('a.test', 'TXT'), (b'v=spf1 ip4:192.0.2.0/24 -all',))]
    assert strings(lookup('split.test', 'TXT')) == [
        (('split.test', 'TXT'), (b'v=spf1 ip4:192.0.2.0/24 ', b'-all'))]
    assert strings(lookup('a.test', 'SPF')) == [(('a.test', 'SPF'), (b'v=spf1 -all',))]
    assert lookup('9.2.0.192.in-addr.arpa', 'PTR') == [
        (('9.2.0.192.in-addr.arpa', 'PTR'), 'mail.a.test')]


def test_cname_chain_answers_under_the_asked_name(server):
    assert strings(dnslookup.lookup('alias.test', 'TXT')) == [
        (('alias.test', 'TXT'), (b'v=spf1 ip4:192.0.2.0/24 -all',))]


def test_nxdomain_and_no_data_are_empty(server):
    assert dnslookup.lookup('nx.test', 'TXT') == []
    assert dnslookup.lookup('nodata.test', 'TXT') == []


def test_silent_server_is_a_temperror_within_the_timeout(server):
    started = time.monotonic()
    with pytest.raises(spf.TempError):
        dnslookup.lookup(SILENT, 'TXT', True, 0.5)
    assert time.monotonic() - started < 2


def test_servfail_is_a_temperror(server):
    with pytest.raises(spf.TempError):
        dnslookup.lookup(BROKEN, 'TXT')


@pytest.mark.parametrize('name,qtype', [
    (name, qtype) for name in ('a.test', 'split.test', 'alias.test', 'hop.test', 'nx.test',
                               'nodata.test', 'loop1.test', '9.2.0.192.in-addr.arpa',
                               SILENT, BROKEN)
    for qtype in ('A', 'AAAA', 'MX', 'PTR', 'TXT', 'SPF')])
def test_same_outcome_as_pyspfs_own_hook(server, name, qtype):
    timeout = 0.3 if name == SILENT else 1.0
    assert outcome(dnslookup.lookup, name, qtype, timeout) == \
        outcome(pyspf_lookup, name, qtype, timeout)


@pytest.mark.parametrize('name', [
    'a\\', 'a\\.test', 'a..test', 'x' * 64 + '.test', ('x' * 60 + '.') * 5 + 'test',
    u'b\u00fccher.test', u'b\u00fccher\u3002test', 'xn--zz.test', 'A.TEST', 'a.test\\046'])
def test_names_pyspf_would_not_vet_read_as_pyspfs_own_hook_reads_them(server, name):
    assert outcome(dnslookup.lookup, name, 'TXT') == outcome(pyspf_lookup, name, 'TXT')


NAMES = ['n%d.test' % index for index in range(4)]
VALUES = {
    'A': st.sampled_from(['192.0.2.1', '192.0.2.2', '198.51.100.7']),
    'AAAA': st.sampled_from(['2001:db8::1', '2001:db8::2']),
    'MX': st.sampled_from(['0 mx.test.', '10 n1.test.', '20 other.example.']),
    'TXT': st.sampled_from(['v=spf1 -all', 'v=spf1 a mx ~all', 'x', 'v=spf1 " "+all']),
    'SPF': st.sampled_from(['"v=spf1 -all"', '"v=spf1 ?all"']),
    'PTR': st.sampled_from(['n0.test', 'host.example']),
}
ZONES = st.dictionaries(
    st.tuples(st.sampled_from(NAMES), st.sampled_from(sorted(VALUES) + ['CNAME'])),
    st.just(None), max_size=12).flatmap(lambda keys: st.fixed_dictionaries(dict(
        (key, st.lists(st.sampled_from(NAMES), min_size=1, max_size=1) if key[1] == 'CNAME'
         else st.lists(VALUES[key[1]], min_size=1, max_size=3, unique=True))
        for key in keys)))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(zone=ZONES, name=st.sampled_from(NAMES), qtype=st.sampled_from(sorted(VALUES)))
def test_any_zone_same_outcome_as_pyspfs_own_hook(server, zone, name, qtype):
    records = dict(zone)
    for key in list(records):
        if key[1] == 'CNAME':        # a CNAME owner has no other records
            for rtype in VALUES:
                records.pop((key[0], rtype), None)
    server.records = records
    assert outcome(dnslookup.lookup, name, qtype) == outcome(pyspf_lookup, name, qtype)


def test_the_absolute_name_is_asked_once(server):
    """No search domains: pyspf's hook gives dnspython a relative name, so an NXDOMAIN is
    asked again under the host's domain (and, on dnspython 1.16, once more as it was)."""
    resolver = dns.resolver.default_resolver
    resolver.domain = dns.name.from_text('corp.test')
    resolver.search = [dns.name.from_text('corp.test')]
    resolver.use_search_by_default = True       # dnspython 2; 1.16 always searches
    assert dnslookup.lookup('nx.test', 'TXT') == []
    assert server.asked == [('nx.test', 'TXT')]


def test_answers_come_from_the_shared_answer_cache(server):
    dnscache.enable()
    first = dnslookup.lookup('a.test', 'TXT')
    assert dnslookup.lookup('a.test', 'TXT') == first != []
    assert dnslookup.lookup('alias.test', 'TXT') == dnslookup.lookup('alias.test', 'TXT')
    assert sorted(server.asked) == [('a.test', 'TXT'), ('alias.test', 'TXT')]


def test_no_data_answers_come_from_the_shared_answer_cache(server):
    """Kept for the SOA's negative TTL, on dnspython 1.16 too (which keeps no NXDOMAIN)."""
    dnscache.enable()
    assert dnslookup.lookup('nodata.test', 'TXT') == dnslookup.lookup('nodata.test', 'TXT') == []
    assert server.asked == [('nodata.test', 'TXT')]


def test_full_collections_are_considered_rarely():
    import gc
    before = gc.get_threshold()
    try:
        dnscache.collect_rarely()
        assert gc.get_threshold() == (before[0], before[1], dnscache.FULL_COLLECTION_EVERY)
    finally:
        gc.set_threshold(*before)


def test_no_deprecated_dnspython_call(server):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        dnslookup.lookup('a.test', 'TXT')
        dnslookup.lookup('nodata.test', 'TXT')
    assert [str(warning.message) for warning in caught] == []


def test_the_daemons_resolver_set_up_installs_it(server):
    assert spf.DNSLookup is dnslookup.lookup     # by point_resolver's use_nameservers


def test_a_dnspython_without_lifetime_keeps_pyspfs_hook(monkeypatch):
    """dnspython 1.15 (el8): its Resolver.query has no lifetime= to bound a lookup by."""
    def query(self, qname, rdtype=1, rdclass=1, tcp=False, source=None,
              raise_on_no_answer=True, source_port=0):
        raise AssertionError('not to be asked')
    monkeypatch.setattr(dns.resolver.Resolver, dnslookup._ASK, query)
    monkeypatch.setattr(spf, 'DNSLookup', spf.DNSLookup_dnspython)
    dnslookup.install()
    assert spf.DNSLookup is spf.DNSLookup_dnspython


def test_importing_installs_nothing():
    code = ('import spf, smf_spf.spfcheck, smf_spf.dnslookup\n'
            'assert spf.DNSLookup is spf.DNSLookup_dnspython\n')
    done = subprocess.run([sys.executable, '-c', code], stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize('sender,expected', [
    ('a@a.test', 'pass'), ('a@alias.test', 'pass'), ('a@nx.test', 'none'),
    ('a@nodata.test', 'none'), ('a@' + BROKEN, 'temperror'), ('a@' + SILENT, 'temperror'),
    # a CNAME loop: dnspython 2 sees the chain is too long; 1.16 sees no data
    ('a@loop1.test', 'temperror' if hasattr(dns.message, 'ChainTooLong') else 'none'),
])
def test_checks_through_the_hook(server, sender, expected):
    checker = SpfChecker(0.5)
    assert checker.check('192.0.2.9', split_path(sender), 'helo.test').result == expected
    assert spf.DNSLookup is dnslookup.lookup
