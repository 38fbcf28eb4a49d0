"""One reading of an SMTP path for every use: '@' in a quoted local part, a source route or
the HELO name can neither choose the domain SPF checks nor plant a cached result for
another domain (issue: SPF fail bypass and cache poisoning through '@')."""

import re

import pytest
import spf
from hypothesis import HealthCheck, assume, given, settings, strategies as st

import rawmilter
from miltertools import Harness
from rawmilter import HELO, MAIL, Client, final, mails
from smf_spf import c_rules, config as configuration
from smf_spf.cache import ResultCache
from smf_spf.mailbox import Mailbox, malformed_domain, split_path
from smf_spf.spfcheck import CachedChecker, SpfChecker

# -- the parser, against the grammar it reads (RFC 5321 section 4.1.2) --------------

atom = st.text(alphabet="abcXYZ019!#$%&'*+/=?^_`{|}~-", min_size=1, max_size=8)
dot_string = st.lists(atom, min_size=1, max_size=3).map('.'.join)
# qtextSMTP and quoted-pairSMTP: '@', '"' and '\' may all stand inside the quotes
quoted_string = st.lists(st.one_of(
    st.text(alphabet=' !#$%&()*+,-./:;<=>?@[]^_`{|}~aZ09', min_size=1, max_size=3),
    st.sampled_from(['\\"', '\\\\', '\\@', '@'])), max_size=6).map(
        lambda parts: '"%s"' % ''.join(parts))
label = st.from_regex(r'\A[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?\Z')
domain = st.lists(label, min_size=2, max_size=4).map('.'.join)
source_route = st.lists(domain.map(lambda d: '@' + d), min_size=1, max_size=3).map(
    lambda hops: ','.join(hops) + ':')


@settings(max_examples=500, deadline=None)
@given(route=st.one_of(st.just(''), source_route), local=st.one_of(dot_string, quoted_string),
       domain=domain)
def test_a_path_is_read_as_its_grammar_builds_it(route, local, domain):
    assert split_path('%s%s@%s' % (route, local, domain)) == Mailbox(local, domain)


@pytest.mark.parametrize('address,expected', [
    ('ceo@victim.example', ('ceo', 'victim.example')),
    ('"ceo@x"@victim.example', ('"ceo@x"', 'victim.example')),
    ('"a\\"@b"@victim.example', ('"a\\"@b"', 'victim.example')),
    ('@relay.example:ceo@victim.example', ('ceo', 'victim.example')),
    ('@a.example,@b.example:ceo@victim.example', ('ceo', 'victim.example')),
    ('a@b@victim.example', ('a@b', 'victim.example')),        # unquoted: the last '@'
    ('"never closed@victim.example', ('"never closed', 'victim.example')),   # as C read it
    ('@victim.example', ('', 'victim.example')),               # no local part
    ('user@', ('user', '')),
    ('postmaster', None),
    ('"a@b"', None),
])
def test_split_path_examples(address, expected):
    assert split_path(address) == (None if expected is None else Mailbox(*expected))


@pytest.mark.parametrize('name', [
    'x@victim.example', 'x"@victim.example', 'x\\4@pass.example', 'x\\4.pass.example',
    '[192.0.2.1]', '192.0.2.1', 'undefined', 'a b.example', '-bad.example', 'bad-.example',
    'a..example', ''])
def test_no_domain_name_is_checkable(name):
    assert malformed_domain(name) is not None


@pytest.mark.parametrize('name', ['victim.example', 'mx_1.example.org', 'MX.Example.',
                                  'b\u00fccher.example', 'xn--bcher-kva.example'])
def test_domain_names_are_checkable(name):
    assert malformed_domain(name) is None


# -- pyspf is handed the identity as read here -----------------------------------------

ZONE = {
    'victim.test': 'v=spf1 -all',
    'pass.test': 'v=spf1 ip4:198.51.100.0/24 -all',
    'macro.test': 'v=spf1 exists:%{l}.in.macro.test -all',
    'in.macro.test': None,
}


@pytest.fixture
def stub_dns(monkeypatch):
    asked = []

    def lookup(name, qtype, strict=True, timeout=30):
        asked.append((name, qtype))
        record = ZONE.get(name)
        if qtype == 'TXT' and record:
            return [((name, qtype), [record.encode()])]
        return []
    monkeypatch.setattr(spf, 'DNSLookup', lookup)
    return asked


@pytest.mark.parametrize('address', ['ceo@victim.test', '"ceo@x"@victim.test',
                                     '@relay.example:ceo@victim.test', 'a@b@victim.test'])
def test_pyspf_evaluates_the_domain_after_the_last_at(stub_dns, address):
    local, domain = split_path(address)
    assert SpfChecker(5).check('198.51.100.7', Mailbox(local, domain), 'h.test').result == 'fail'
    assert stub_dns[0] == ('victim.test', 'TXT')


def test_local_part_macro_expands_the_local_part_as_read(stub_dns):
    SpfChecker(5).check('198.51.100.7', split_path('"a@b"@macro.test'), 'h.test')
    assert ('"a@b".in.macro.test', 'A') in stub_dns


def test_a_local_part_dnspython_cannot_ask_for_is_no_internal_error(stub_dns):
    checked = SpfChecker(5).check('198.51.100.7', Mailbox('x\\4', 'macro.test'), 'h.test')
    assert checked.result == 'fail' and 'internal error' not in checked.explanation


# -- random identities: no internal error, and no result cached under another name --------

_BYTES = st.binary(max_size=30).map(lambda b: b.decode('utf-8', 'surrogateescape'))
_TEXT = st.one_of(st.text(max_size=30), _BYTES,
                  st.text(alphabet='@"\\.:,<>[]% xX4', max_size=20))
_DOMAIN = st.one_of(st.sampled_from(sorted(ZONE)), _TEXT,
                    st.builds(lambda t, d: t + d, _TEXT, st.sampled_from(['@victim.test',
                                                                         '.victim.test'])))
CONN = c_rules.Connection('198.51.100.7', '198.51.100.7', 'client.test', 'mx.test')


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])   # a stateless stub
@given(local=_TEXT, domain=_DOMAIN, helo=st.one_of(_DOMAIN, _TEXT), empty=st.booleans())
def test_random_identity_no_internal_error_and_cache_holds_the_clean_result(
        stub_dns, local, domain, helo, empty):
    assume('>' not in local + domain)
    config = configuration.parse_lines([], 't.conf').config
    raw_from = '<>' if empty else '<%s@%s>' % (local, domain)
    verdict, mail = c_rules.on_mail(config, CONN, raw_from, helo)
    if mail is None:
        return          # refused for its syntax, before any check
    cache = ResultCache(60, 100)
    checker = SpfChecker(5)
    cached = CachedChecker(checker, cache, c_rules.is_cacheable)
    checked, _ = cached.evaluate(c_rules.cache_key(CONN, mail), CONN.spf_ip, mail.mailbox,
                                 mail.helo, c_rules.detailed_cache_key(CONN, mail))
    assert 'internal error' not in checked.explanation
    entry = cache.get(c_rules.cache_key(CONN, mail))
    if entry is not None and not entry.uses_sender_details:
        clean = checker.check(CONN.spf_ip, Mailbox('postmaster', mail.domain), 'clean.test')
        assert entry.result == clean.result
    for name, result in (('victim.test', 'fail'), ('pass.test', 'pass')):
        stored = cache.get('%s|%s' % (CONN.spf_ip, name))
        assert stored is None or stored.result == result


# -- through the adapter (pymilter's testctx) ----------------------------------------------

def _mail_from(h, ip, helo, sender):
    h.connect(ip=ip, helo=helo)
    return h.mail(sender)


@pytest.mark.parametrize('sender', ['<"ceo@x"@victim.example>',
                                    '<@relay.example:ceo@victim.example>',
                                    '<"a@x"@victim.example>'])
def test_at_in_the_path_cannot_leave_the_victims_domain(sender):
    import Milter
    h = Harness(victim_example='fail')
    assert _mail_from(h, '192.0.2.22', 'mx.a.example', sender) == Milter.REJECT
    assert h.checker.calls[-1][1].endswith('@victim.example')


def test_helo_with_at_plants_nothing_for_the_domain_after_it():
    import Milter
    h = Harness(victim_example='fail')
    assert _mail_from(h, '192.0.2.23', 'x@victim.example', '<>') == Milter.CONTINUE
    assert h.checker.calls == [('192.0.2.23', 'postmaster@x@victim.example', 'x@victim.example')]
    assert _mail_from(h, '192.0.2.23', 'mx.a.example', '<ceo@victim.example>') == Milter.REJECT
    assert not any('(cached)' in line for line in h.logs)


# -- through the running daemon (raw milter protocol, DNS stub on loopback) ----------------

REFUSED = b'550 5.7.23 '


@pytest.fixture(scope='module')
def daemon_config():
    return ('AcceptTempError off',)


def refused(answer):
    return answer[0] == b'y' and answer[1].startswith(REFUSED)


# fail.stub.test publishes `ip4:192.0.2.0/24 -all`: every client below fails it
@pytest.mark.parametrize('ip,sender', [
    ('198.51.100.21', b'ceo@fail.stub.test'),
    ('198.51.100.22', b'"ceo@x"@fail.stub.test'),
    ('198.51.100.30', b'@relay.example:ceo@fail.stub.test'),
    ('198.51.100.31', b'@a.example,@b.example:"x@y"@fail.stub.test'),
])
def test_the_victims_domain_is_checked_however_the_path_is_written(daemon, ip, sender):
    answer, = mails(daemon.port, [sender], b'mx.a.example', ip)
    assert refused(answer), answer


def test_a_quoted_at_plants_no_result_for_the_next_sender(daemon):
    first, second = mails(daemon.port, [b'"a@x"@fail.stub.test', b'ceo@fail.stub.test'],
                          b'mx.a.example', '198.51.100.24')
    assert refused(first) and refused(second), (first, second)


def test_a_helo_with_at_plants_no_result_for_the_domain_after_it(daemon):
    answer, = mails(daemon.port, [b''], b'x@fail.stub.test', '198.51.100.23')
    assert answer == (b'c', b''), answer
    answer, = mails(daemon.port, [b'ceo@fail.stub.test'], b'mx.a.example', '198.51.100.23')
    assert refused(answer), answer
    assert 'SPF fail: ip=198.51.100.23' in daemon.log()
    assert 'SPF none (cached): ip=198.51.100.23' not in daemon.log()


def test_a_helo_dnspython_cannot_parse_is_no_internal_error(daemon):
    """`x\\4@pass.stub.test` once reached dnspython as a name: BadEscape, an 'internal
    error' temperror, 451 with AcceptTempError off."""
    answer, = mails(daemon.port, [b''], b'x\\4@pass.stub.test', '198.51.100.25')
    assert answer == (b'c', b''), answer
    answer, = mails(daemon.port, [b''], b'x\\4.pass.stub.test', '198.51.100.25')
    assert answer == (b'c', b''), answer
    assert 'internal error' not in daemon.log()


def test_commands_before_connect_are_answered_quietly(daemon):
    for attempt in range(3):
        client = Client(daemon.port)
        try:
            client.negotiate()
            assert final(client.step(HELO, b'mx.client.test\0')) == (b'c', b'')
            assert final(client.step(MAIL, b'<a@fail.stub.test>\0')) == (b'c', b'')
            assert final(client.step(rawmilter.RCPT, b'<b@x.test>\0')) == (b'c', b'')
        finally:
            client.close()
    assert rawmilter.wait_for(lambda: daemon.log().count('before CONNECT') >= 3)
    log = daemon.log()
    assert log.count('before CONNECT') == 3, log[-3000:]
    assert 'Traceback' not in log and 'untrapped' not in log
    # and a session that does connect is still checked
    answer, = mails(daemon.port, [b'ceo@fail.stub.test'], b'mx.a.example', '198.51.100.26')
    assert refused(answer), answer


def test_a_huge_client_value_is_cut_in_the_log(daemon):
    helo = b'h' * 60000 + b'.example'
    answer, = mails(daemon.port, [b'x@pass.stub.test'], helo, '127.0.0.1')
    assert answer == (b'c', b''), answer
    assert rawmilter.wait_for(lambda: 'more octets]' in daemon.log())
    lines = [line for line in daemon.log().splitlines() if 'more octets]' in line]
    assert lines and all(len(line) < 2500 for line in lines), [len(line) for line in lines]
    assert 'helo=%s...[%d more octets]' % ('h' * 1000, 60008 - 1000) in lines[0]
    assert max(len(line) for line in daemon.log().splitlines()) < 4000


# -- the fast paths of the one reading give the slow paths' answers -------------------------

@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(max_size=30), _BYTES,
                st.lists(st.one_of(st.characters(), st.integers(0xd800, 0xdfff).map(chr)),
                         max_size=30).map(''.join)))     # lone surrogates too
def test_ascii_lower_folds_a_to_z_and_nothing_else(text):
    from smf_spf.mailbox import ascii_lower
    assert ascii_lower(text) == ''.join(chr(ord(c) + 32) if 'A' <= c <= 'Z' else c
                                        for c in text)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet='ab@.:,\\ ', max_size=20))
def test_a_path_without_quotes_splits_at_its_last_at(address):
    route = re.match(r'@[^@:,"<>\s]*(?:,@[^@:,"<>\s]*)*:', address)
    rest = address[route.end():] if route else address
    local, at, domain = rest.rpartition('@')
    assert split_path(address) == (Mailbox(local, domain) if at else None)
