import socket
import time

import pytest
import spf

from smf_spf import spfcheck
from smf_spf.spfcheck import SpfChecker, SpfResult

ZONE = {
    ('pass.test', 'TXT'): ['v=spf1 ip4:192.0.2.0/24 -all'],
    ('fail.test', 'TXT'): ['v=spf1 -all'],
    ('bad.test', 'TXT'): ['v=spf1 ip4:nonsense -all'],
}


@pytest.fixture
def stub_dns(monkeypatch):
    """In-process resolver stub in place of dnspython."""
    asked = []

    def lookup(name, qtype, strict=True, timeout=30):
        asked.append((name, qtype, timeout))
        if (name, qtype) == ('slow.test', 'TXT'):
            raise spf.TempError('DNS Timeout')
        return [((name, qtype), [r.encode()]) for r in ZONE.get((name, qtype), [])]
    monkeypatch.setattr(spf, 'DNSLookup', lookup)
    return asked


@pytest.mark.parametrize('sender,ip,expected', [
    ('a@pass.test', '192.0.2.9', 'pass'),
    ('a@pass.test', '198.51.100.9', 'fail'),
    ('a@fail.test', '192.0.2.9', 'fail'),
    ('a@bad.test', '192.0.2.9', 'permerror'),
    ('a@nothing.test', '192.0.2.9', 'none'),
    ('a@slow.test', '192.0.2.9', 'temperror'),
])
def test_results(stub_dns, sender, ip, expected):
    assert SpfChecker(5, best_guess=False).check(ip, sender, 'helo.test').result == expected


def test_every_lookup_is_bounded_by_the_budget(stub_dns):
    SpfChecker(7).check('192.0.2.9', 'a@pass.test', 'helo.test')
    assert stub_dns and all(timeout <= 7 for _, _, timeout in stub_dns)


def test_a_shorter_timeout_bounds_every_lookup(stub_dns):
    SpfChecker(7).check('192.0.2.9', 'a@pass.test', 'helo.test', timeout=2.5)
    assert stub_dns and all(timeout <= 2.5 for _, _, timeout in stub_dns)


def test_best_guess_only_for_none_and_only_reported(stub_dns):
    checked = SpfChecker(5, best_guess=True).check('192.0.2.9', 'a@nothing.test', 'h.test')
    assert checked.result == 'none' and checked.best_guess in ('neutral', 'none', 'temperror')
    assert SpfChecker(5, best_guess=True).check('192.0.2.9', 'a@pass.test', 'h').best_guess is None


def test_exceptions_inside_pyspf_become_temperror(monkeypatch):
    def broken(*args, **kwargs):
        raise UnicodeError('odd input')
    monkeypatch.setattr(spf, 'query', broken)
    assert SpfChecker(5).check('192.0.2.9', 'a@x.test', 'h').result == 'temperror'


def test_silent_nameserver_gives_temperror_within_budget():
    """A real UDP server on loopback that never answers: the budget ends the check."""
    import dns.resolver
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(('127.0.0.1', 0))
    saved = dns.resolver.default_resolver
    try:
        resolver = spfcheck.use_nameservers(['127.0.0.1'], 1.0)
        resolver.port = silent.getsockname()[1]
        if hasattr(resolver, 'nameserver_ports'):
            resolver.nameserver_ports = {'127.0.0.1': resolver.port}
        started = time.monotonic()
        checked = SpfChecker(1.0, best_guess=False).check('192.0.2.9', 'a@example.test', 'h')
        elapsed = time.monotonic() - started
    finally:
        dns.resolver.default_resolver = saved
        silent.close()
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
        first = cached.evaluate('k', '192.0.2.1', 'a@x', 'h')
        second = cached.evaluate('k', '192.0.2.1', 'a@x', 'h')
        assert first == (SpfResult(result), False)
        assert second[1] is (expected_calls == 1)
        assert inner.calls == expected_calls
