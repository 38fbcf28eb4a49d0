import logging
import socket
import time

import pytest
import spf
from hypothesis import given, settings, strategies as st

from smf_spf.mailbox import split_path
from smf_spf import mailbox, spfcheck
from smf_spf.spfcheck import SpfChecker, SpfResult

ZONE = {
    ('pass.test', 'TXT'): ['v=spf1 ip4:192.0.2.0/24 -all'],
    ('fail.test', 'TXT'): ['v=spf1 -all'],
    ('bad.test', 'TXT'): ['v=spf1 ip4:nonsense -all'],
    ('slow.test', 'TXT'): spf.TempError('DNS Timeout'),
}


def serve_zone(monkeypatch, zone):
    """spf.DNSLookup answers from zone, {(name, qtype): [text, ...] or an exception to
    raise}: TXT strings as pyspf's bytes, the others as they are. Returns the list of
    (name, qtype, timeout) asked, in order."""
    asked = []

    def lookup(name, qtype, strict=True, timeout=30):
        asked.append((name, qtype, timeout))
        answers = zone.get((name, qtype), [])
        if isinstance(answers, Exception):
            raise answers
        if qtype == 'TXT':
            return [((name, qtype), [r.encode()]) for r in answers]
        return [((name, qtype), r) for r in answers]
    monkeypatch.setattr(spf, 'DNSLookup', lookup)
    return asked


@pytest.fixture
def stub_dns(monkeypatch):
    """In-process resolver stub in place of dnspython."""
    return serve_zone(monkeypatch, ZONE)


@pytest.mark.parametrize('sender,ip,expected', [
    ('a@pass.test', '192.0.2.9', 'pass'),
    ('a@pass.test', '198.51.100.9', 'fail'),
    ('a@fail.test', '192.0.2.9', 'fail'),
    ('a@bad.test', '192.0.2.9', 'permerror'),
    ('a@nothing.test', '192.0.2.9', 'none'),
    ('a@slow.test', '192.0.2.9', 'temperror'),
])
def test_results(stub_dns, sender, ip, expected):
    assert SpfChecker(5).check(ip, split_path(sender), 'helo.test').result == expected


def test_every_lookup_is_bounded_by_the_budget(stub_dns):
    SpfChecker(7).check('192.0.2.9', split_path('a@pass.test'), 'helo.test')
    assert stub_dns and all(timeout <= 7 for _, _, timeout in stub_dns)


def test_a_shorter_timeout_bounds_every_lookup(stub_dns):
    SpfChecker(7).check('192.0.2.9', split_path('a@pass.test'), 'helo.test', timeout=2.5)
    assert stub_dns and all(timeout <= 2.5 for _, _, timeout in stub_dns)


def test_no_record_costs_only_the_sender_domains_txt_lookup(stub_dns):
    """No best guess (C's a/24 mx/24 ptr fallback): its A, MX and PTR lookups only fed a log line."""
    checked = SpfChecker(5).check('192.0.2.9', split_path('a@nothing.test'), 'h.test')
    assert checked.result == 'none'
    assert [(name, qtype) for name, qtype, _ in stub_dns] == [('nothing.test', 'TXT')]


def test_milter_logs_no_best_guess_and_asks_only_txt_with_spf_best_guess_on(stub_dns):
    """Through the daemon's own wiring (build_spf) with SPFBestGuess on, the default."""
    import Milter
    from miltertools import ListHandler, MtaCtx
    from smf_spf import config as configuration
    from smf_spf.__main__ import build_spf
    from smf_spf.milter import Services, SpfMilter
    conf = configuration.parse_lines([], 't.conf').config
    assert conf.spf_best_guess
    handler = ListHandler()
    log = logging.getLogger('smf-spf-no-best-guess')
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    try:
        Milter.factory = lambda: SpfMilter(Services(conf, build_spf(conf, None), log))
        ctx = MtaCtx()
        ctx._connect('client.test', 'h.test', '192.0.2.9')
        assert ctx._envfrom('<a@nothing.test>') == Milter.CONTINUE
        ctx._close()    # no queue ID came: the held lines are written as the session ends
    finally:
        log.removeHandler(handler)
    messages = [message for _, message in handler.lines]
    assert any(message.startswith('SPF none: ip=192.0.2.9') for message in messages), messages
    assert not [message for message in messages if 'guess' in message]
    assert [(name, qtype) for name, qtype, _ in stub_dns] == [('nothing.test', 'TXT')]


def test_exceptions_inside_pyspf_become_temperror(monkeypatch):
    def broken(*args, **kwargs):
        raise UnicodeError('odd input')
    monkeypatch.setattr(spf, 'query', broken)
    assert SpfChecker(5).check('192.0.2.9', split_path('a@x.test'), 'h').result == 'temperror'


@pytest.fixture
def silent_nameserver():
    """The resolver (spfcheck.use_nameservers, 1 s) pointed at a UDP socket on loopback
    that never answers; the default resolver is put back afterwards."""
    import dns.resolver
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(('127.0.0.1', 0))
    saved = dns.resolver.default_resolver
    try:
        resolver = spfcheck.use_nameservers(['127.0.0.1'], 1.0)
        resolver.port = silent.getsockname()[1]
        if hasattr(resolver, 'nameserver_ports'):
            resolver.nameserver_ports = {'127.0.0.1': resolver.port}
        yield resolver
    finally:
        dns.resolver.default_resolver = saved
        silent.close()


def test_silent_nameserver_gives_temperror_within_budget(silent_nameserver):
    """A real UDP server on loopback that never answers: the budget ends the check."""
    started = time.monotonic()
    checked = SpfChecker(1.0).check('192.0.2.9', split_path('a@example.test'), 'h')
    elapsed = time.monotonic() - started
    assert checked.result == 'temperror'
    assert elapsed < 10, 'the 1 s budget was not applied (took %.1f s)' % elapsed


def test_cached_checker_stores_and_skips_temperror():
    from smf_spf.cache import ResultCache

    class Counting(object):
        def __init__(self, result):
            self.result, self.calls = result, 0

        def check(self, ip, sender, helo, timeout=None):
            self.calls += 1
            return SpfResult(self.result)
    for result, expected_calls in (('pass', 1), ('temperror', 2)):
        inner = Counting(result)
        cached = spfcheck.CachedChecker(inner, ResultCache(60, 10), lambda r: r != 'temperror')
        first = cached.evaluate('k', '192.0.2.1', split_path('a@x'), 'h')
        second = cached.evaluate('k', '192.0.2.1', split_path('a@x'), 'h')
        assert first == (SpfResult(result), False)
        assert second[1] is (expected_calls == 1)
        assert inner.calls == expected_calls


def test_check_leaves_the_process_wide_warning_filters_alone(stub_dns, monkeypatch):
    """catch_warnings() in a worker thread would swap warnings.filters for every thread."""
    import warnings
    filters = warnings.filters
    during = []
    real_check = spfcheck._DeadlineQuery.check

    def watched(self, *args, **kwargs):
        during.append(warnings.filters is filters)
        return real_check(self, *args, **kwargs)
    monkeypatch.setattr(spfcheck._DeadlineQuery, 'check', watched)
    SpfChecker(5).check('192.0.2.9', split_path('a@pass.test'), 'helo.test')
    assert during == [True]


def test_importing_changes_no_warning_filter():
    """Nothing at import time: pyspf's deprecated dnspython path is not ours to silence
    (the daemon resolves through smf_spf.dnslookup wherever dnspython deprecates it)."""
    import subprocess
    import sys
    code = ('import warnings\nbefore = list(warnings.filters)\n'
            'import smf_spf.spfcheck, smf_spf.dnslookup, smf_spf.milter\n'
            'assert warnings.filters == before, warnings.filters\n')
    done = subprocess.run([sys.executable, '-c', code], stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=60)
    assert done.returncode == 0, done.stderr


# -- the result cache and macros on data outside its key ------------------------------

MACRO_ZONE = {
    ('local.test', 'TXT'): ['v=spf1 exists:%{l}.allow.local.test -all'],
    ('alice.allow.local.test', 'A'): ['127.0.0.2'],
    ('helo.test', 'TXT'): ['v=spf1 a:%{h} -all'],
    ('good.helo', 'A'): ['192.0.2.9'],
    ('sender.test', 'TXT'): ['v=spf1 exists:%{s}.allow.local.test -all'],
    ('alice@sender.test.allow.local.test', 'A'): ['127.0.0.2'],
    ('plain.test', 'TXT'): ['v=spf1 ip4:192.0.2.0/24 -all'],
    ('late.test', 'TXT'): ['v=spf1 ip4:192.0.2.0/24 include:lp.local.test -all'],
    ('lp.local.test', 'TXT'): ['v=spf1 exists:%{l}.allow.local.test -all'],
}


@pytest.fixture
def macro_dns(monkeypatch):
    return serve_zone(monkeypatch, MACRO_ZONE)


def _cached_checker():
    from smf_spf import c_rules
    from smf_spf.cache import ResultCache
    return spfcheck.CachedChecker(SpfChecker(5), ResultCache(60, 100),
                                  c_rules.is_cacheable)


def _evaluate(checker, ip, sender, helo):
    from smf_spf import c_rules
    connection = c_rules.Connection(ip, ip, 'client.test', 'mx.test')
    mail = c_rules.Mail('<%s>' % sender, *split_path(sender), identity='mailfrom', helo=helo)
    checked, cached = checker.evaluate(c_rules.cache_key(connection, mail), ip, mail.mailbox, helo,
                                       c_rules.detailed_cache_key(connection, mail))
    return checked.result, cached


@pytest.mark.parametrize('first,second,helo2', [
    ('bob@local.test', 'alice@local.test', 'h.test'),        # %{l}
    ('bob@sender.test', 'alice@sender.test', 'h.test'),      # %{s}
    ('a@helo.test', 'a@helo.test', 'good.helo'),             # %{h}
])
def test_result_using_sender_details_is_not_served_to_another_sender(macro_dns, first,
                                                                       second, helo2):
    checker = _cached_checker()
    assert _evaluate(checker, '192.0.2.9', first, 'bad.helo') == ('fail', False)
    assert _evaluate(checker, '192.0.2.9', second, helo2) == ('pass', False)
    # each is still cached for the very same sender and HELO
    assert _evaluate(checker, '192.0.2.9', first, 'bad.helo') == ('fail', True)
    assert _evaluate(checker, '192.0.2.9', second, helo2) == ('pass', True)


def test_macro_use_is_learned_from_the_evaluation_path(macro_dns):
    """late.test expands %{l} only for clients outside 192.0.2.0/24."""
    checker = _cached_checker()
    assert _evaluate(checker, '192.0.2.9', 'bob@late.test', 'h') == ('pass', False)
    assert _evaluate(checker, '192.0.2.9', 'carol@late.test', 'h') == ('pass', True)
    assert _evaluate(checker, '198.51.100.1', 'bob@late.test', 'h') == ('fail', False)
    assert _evaluate(checker, '198.51.100.1', 'alice@late.test', 'h') == ('pass', False)


def test_ordinary_records_stay_cached_across_senders_and_helos(macro_dns):
    checker = _cached_checker()
    assert _evaluate(checker, '192.0.2.9', 'bob@plain.test', 'a.helo') == ('pass', False)
    asked = len(macro_dns)
    assert _evaluate(checker, '192.0.2.9', 'alice@plain.test', 'b.helo') == ('pass', True)
    assert len(macro_dns) == asked


def test_without_a_detailed_key_sender_dependent_results_are_not_stored(macro_dns):
    checker = _cached_checker()
    assert checker.evaluate('k', '192.0.2.9', split_path('bob@local.test'), 'h') == (
        SpfResult('fail', 'SPF fail - not authorized', True), False)
    assert checker.evaluate('k', '192.0.2.9', split_path('bob@local.test'), 'h')[1] is False


# -- sender domains that cannot be DNS names: RFC 7208 4.3 says none -----------------

@pytest.mark.parametrize('domain,why', [
    ('a' * 64 + '.example', 'label longer than 63'),
    ('.'.join(['a' * 60] * 5), 'longer than 255'),
    ('.'.join(['b\u00fccher' + 'x' * 50] * 4), 'longer than 255'),
    ('exa\u200fmple.test', 'internationalized'),
    ('\ufffd.example', 'internationalized'),
    ('b\u00fccher' + 'x' * 54 + '.example', 'internationalized'),
    ('example..test', 'empty label'),
    ('.example.test', 'empty label'),
    ('localhost', 'multi-label'),
    ('', 'multi-label'),
])
def test_malformed_sender_domain_is_none_without_dns(silent_nameserver, domain, why):
    """A real dnspython resolver pointed at a nameserver that never answers: a query
    sent would be a temperror, so `none` proves no lookup was tried."""
    checked = SpfChecker(1.0).check('192.0.2.9', split_path('a@' + domain), 'h.test')
    assert checked.result == 'none'
    assert why in checked.explanation


def test_ordinary_and_idn_domains_are_well_formed():
    for domain in ('example.com', 'b\u00fccher.example', 'mx.example.', 'x' * 63 + '.test'):
        assert mailbox.malformed_domain(domain) is None


def idna_reference(domain):
    """malformed_domain's length checks with every label through the idna codec."""
    name = domain[:-1] if domain.endswith('.') else domain
    labels = name.split('.')
    if len(labels) < 2 or not all(labels) or any(len(label) > 63 for label in labels):
        return 'early'
    if any(ord(char) < 128 and not (char.isalnum() or char in '-_.') for char in name):
        return 'early'      # ASCII no host name label holds
    if any(label[0] == '-' or label[-1] == '-' for label in labels) or labels[-1].isdigit():
        return 'early'
    try:
        octets = [len(label.encode('idna')) for label in labels]
    except UnicodeError:
        return 'internationalized'
    if max(octets) > 63 or sum(octets) + len(octets) - 1 > mailbox.MAX_DNS_NAME:
        return 'too long'
    return None


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.text(alphabet='abcXYZ09-_*\u00fc', min_size=0, max_size=70),
                min_size=1, max_size=6).map('.'.join))
def test_ascii_shortcut_judges_as_the_idna_codec_does(domain):
    found = mailbox.malformed_domain(domain)
    expected = idna_reference(domain)
    if expected == 'early':
        assert found is not None
    elif expected is None:
        assert found is None
    else:
        assert found is not None and found != 'empty label'


def unaskable_names(monkeypatch, record):
    """odd.test publishes `record`; every name starting with x is one dnspython cannot
    build."""
    import dns.name

    def lookup(name, qtype, strict=True, timeout=30):
        if name.startswith('x'):
            raise dns.name.NameTooLong
        if (name, qtype) == ('odd.test', 'TXT'):
            return [((name, qtype), [record.encode()])]
        return []
    monkeypatch.setattr(spf, 'DNSLookup', lookup)


def test_unaskable_mechanism_target_is_a_void_lookup_not_temperror(monkeypatch):
    """a:<name dnspython refuses to build> matches nothing (pyspf's reading of bad labels)."""
    unaskable_names(monkeypatch, 'v=spf1 a:xx.%{d} ip4:192.0.2.0/24 -all')
    assert SpfChecker(5).check('192.0.2.9', split_path('a@odd.test'), 'h').result == 'pass'
    assert SpfChecker(5).check('198.51.100.1', split_path('a@odd.test'),
                                                 'h').result == 'fail'


def test_milter_does_not_serve_bobs_fail_to_alice(macro_dns):
    """The issue's case end to end through the milter: exists:%{l}.allow with the cache on."""
    import logging
    import Milter
    from miltertools import MtaCtx
    from smf_spf import c_rules, config as configuration
    from smf_spf.cache import ResultCache
    from smf_spf.milter import Services, SpfMilter
    conf = configuration.parse_lines(['TTL 1h'], 't.conf').config
    log = logging.getLogger('smf-spf-cache-macro')
    log.propagate = False
    checker = spfcheck.CachedChecker(SpfChecker(5), ResultCache(3600, 100),
                                     c_rules.is_cacheable)
    Milter.factory = lambda: SpfMilter(Services(conf, checker, log))
    replies = []
    for sender in ('bob@local.test', 'alice@local.test', 'bob@local.test'):
        ctx = MtaCtx()
        ctx._connect('client.test', 'h.test', '192.0.2.9')
        replies.append((ctx._envfrom('<%s>' % sender), (ctx._reply or (None,))[0]))
    assert replies == [(Milter.REJECT, '550'), (Milter.CONTINUE, None), (Milter.REJECT, '550')]


@pytest.mark.parametrize('failing,result', [
    ('9.2.0.192.in-addr.arpa', 'softfail'),     # the PTR lookup: ptr does not match
    ('bad.ptr.test', 'pass'),                   # one name's address lookup: name skipped
])
def test_dns_errors_under_ptr_follow_rfc7208_5_5(monkeypatch, failing, result):
    zone = {
        ('ptr.test', 'TXT'): [((('ptr.test', 'TXT')), [b'v=spf1 ptr:ptr.test ~all'])],
        ('9.2.0.192.in-addr.arpa', 'PTR'): [(('9.2.0.192.in-addr.arpa', 'PTR'), 'bad.ptr.test'),
                                             (('9.2.0.192.in-addr.arpa', 'PTR'), 'ok.ptr.test')],
        ('ok.ptr.test', 'A'): [(('ok.ptr.test', 'A'), '192.0.2.9')],
        ('bad.ptr.test', 'A'): [(('bad.ptr.test', 'A'), '192.0.2.9')],
    }

    def lookup(name, qtype, strict=True, timeout=30):
        if name == failing:
            raise spf.TempError('DNS SERVFAIL')
        return zone.get((name, qtype), [])
    monkeypatch.setattr(spf, 'DNSLookup', lookup)
    assert SpfChecker(5).check('192.0.2.9', split_path('a@ptr.test'), 'h').result == result


# -- SPFVoidLimit: RFC 7208 section 4.6.4's limit, per checker ---------------------------

VOID_ZONE = {
    ('void.test', 'TXT'): ['v=spf1 a:n1.void.test a:n2.void.test mx:n3.void.test '
                           'ip4:192.0.2.0/24 -all'],
}


@pytest.fixture
def void_dns(monkeypatch):
    serve_zone(monkeypatch, VOID_ZONE)


@pytest.mark.parametrize('limit,result', [(None, 'permerror'), (2, 'permerror'),
                                          (3, 'pass'), (0, 'permerror')])
def test_void_limit_is_the_checkers_own(void_dns, limit, result):
    """Three lookups answer nothing before ip4 matches: over the default 2, within 3."""
    checker = SpfChecker(5) if limit is None else SpfChecker(5, void_limit=limit)
    checked = checker.check('192.0.2.9', split_path('a@void.test'), 'h.test')
    assert checked.result == result
    if result == 'permerror':
        assert 'Void lookup limit of %d exceeded' % (2 if limit is None else limit) in \
            checked.explanation
    assert spf.MAX_VOID_LOOKUPS == 2, 'pyspf\'s module-wide limit is left alone'


def test_void_limits_of_two_checkers_do_not_meet(void_dns):
    """Each checker holds its own limit: no global is swapped for the length of a check."""
    import threading
    results = {}

    def run(limit):
        results[limit] = SpfChecker(5, void_limit=limit).check(
            '192.0.2.9', split_path('a@void.test'), 'h.test').result
    threads = [threading.Thread(target=run, args=(limit,)) for limit in (2, 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {2: 'permerror', 3: 'pass'}


def test_a_name_that_cannot_be_asked_counts_against_the_void_limit(monkeypatch):
    unaskable_names(monkeypatch, 'v=spf1 a:x1.%{d} a:x2.%{d} ip4:192.0.2.0/24 -all')
    assert SpfChecker(5, void_limit=1).check('192.0.2.9', split_path('a@odd.test'),
                                             'h').result == 'permerror'
    assert SpfChecker(5, void_limit=2).check('192.0.2.9', split_path('a@odd.test'),
                                             'h').result == 'pass'
