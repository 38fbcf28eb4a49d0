"""The openspf RFC 7208 test suite, run through the milter.

tests/data/rfc7208-tests.yml is the suite pyspf 2.0.14 ships (license in
tests/data/rfc7208-tests.LICENSE).  Each case connects from its `host`, says its
`helo`, sends MAIL FROM <`mailfrom`> and one message through pymilter's TestCtx
and our real SpfChecker (pyspf); DNS answers come from an in-process stub built
from the scenario's zonedata.  What is checked is what we write: the `spf=` value
of Authentication-Results must be one of the results the suite accepts.

The stub answers as a recursive resolver would: CNAME chains are followed in
the answer, a CNAME loop is a server failure (SERVFAIL, a temperror for pyspf),
TIMEOUT entries time out, names under `error.` fail.  Explanations (`exp=`) are
not compared: the milter does not fetch them (they only went into logs).
"""

import email.message
import logging
import os

import Milter
import pytest
import spf
import yaml

from miltertools import MtaCtx
from smf_spf import c_rules, config as configuration
from smf_spf.milter import Services, SpfMilter
from smf_spf.spfcheck import CachedChecker, SpfChecker

SUITE = os.path.join(os.path.dirname(__file__), 'data', 'rfc7208-tests.yml')
CONFIG = ['RefuseFail off', 'AddHeader on', 'AuthservID mx.test', 'SPFTimeout 20']
MAX_CHAIN = 16


def _records(entries, name):
    """zonedata entries -> [(type, value)] or 'TIMEOUT'; an SPF-type record also
    serves TXT when the name has no TXT entry (as the suite intends)."""
    records = []
    has_txt = any(isinstance(e, dict) and 'TXT' in e for e in entries)
    for entry in entries:
        if entry == 'TIMEOUT':
            records.append(('TIMEOUT', None))
            continue
        for rtype, value in entry.items():
            if rtype in ('TXT', 'SPF') and isinstance(value, str):
                value = (value,)
            if value == ('NONE',):
                continue
            records.append((rtype, value))
            if rtype == 'SPF' and not has_txt:
                records.append(('TXT', value))
    return records


def load_suite():
    cases = []
    with open(SUITE, 'rb') as stream:
        for scenario in yaml.safe_load_all(stream):
            zone = dict((name.lower().rstrip('.'), _records(entries, name))
                        for name, entries in scenario['zonedata'].items())
            for test_id, case in sorted(scenario['tests'].items()):
                cases.append(pytest.param(zone, case, id=test_id))
    return cases


CASES = load_suite()


class ZoneResolver(object):
    """spf.DNSLookup stand-in answering from one scenario's zonedata."""

    def __init__(self, zone):
        self.zone = zone

    def __call__(self, name, qtype, strict=True, timeout=30):
        import dns.name
        dns.name.from_text(name)   # what dnspython refuses to ask, it refuses here too
        answers = []
        seen = set()
        current = name.lower().rstrip('.')
        while True:
            if current in seen or len(seen) > MAX_CHAIN:
                raise spf.TempError('DNS SERVFAIL: CNAME loop at %s' % name)
            seen.add(current)
            records = self.zone.get(current)
            if records is None:
                if current.startswith('error.'):
                    raise spf.TempError('DNS SERVFAIL for %s' % current)
                return answers
            for rtype, value in records:
                if rtype == qtype and value == 'TIMEOUT':
                    raise spf.TempError('DNS timeout')
            found = [(rtype, value) for rtype, value in records if rtype == qtype]
            cname = [value for rtype, value in records if rtype == 'CNAME']
            if not found and cname and qtype != 'CNAME':
                answers.append(((current, 'CNAME'), cname[0].lower().rstrip('.')))
                current = cname[0].lower().rstrip('.')
                continue
            if not found and ('TIMEOUT', None) in records:
                raise spf.TempError('DNS timeout')
            for rtype, value in found:
                answers.append(((current, rtype), self._rdata(rtype, value)))
            return answers

    @staticmethod
    def _rdata(rtype, value):
        if rtype in ('TXT', 'SPF'):
            return tuple(part.encode('utf-8') for part in value)
        if rtype == 'MX':
            return (value[0], value[1])
        return value


def run_through_milter(case):
    conf = configuration.parse_lines(CONFIG, 'openspf.conf').config
    log = logging.getLogger('smf-spf-openspf')
    log.propagate = False
    checker = SpfChecker(conf.spf_timeout, receiver='mx.test')
    services = Services(conf, CachedChecker(checker, None, c_rules.is_cacheable), log)
    Milter.factory = lambda: SpfMilter(services)
    ctx = MtaCtx()
    ctx._setsymval('j', 'mx.test')
    assert ctx._connect('client.test', case['helo'], case['host']) == Milter.CONTINUE
    mailfrom = case['mailfrom']
    assert ctx._envfrom('<%s>' % mailfrom) == Milter.CONTINUE, ctx._reply
    assert ctx._envrcpt('<rcpt@mx.test>') == Milter.CONTINUE
    ctx._msg = email.message.Message()
    ctx._msg['Subject'] = 'openspf'
    assert ctx._header('Subject', 'openspf') == Milter.CONTINUE
    assert ctx._eom() == Milter.CONTINUE
    header = ctx._msg['Authentication-Results']
    assert header.startswith('mx.test; spf='), header
    return header.split('spf=', 1)[1].split(' ', 1)[0]


def test_suite_is_complete():
    assert len(CASES) == 203


@pytest.mark.parametrize('zone,case', CASES)
def test_openspf(monkeypatch, zone, case):
    monkeypatch.setattr(spf, 'DNSLookup', ZoneResolver(zone))
    expected = case['result']
    if isinstance(expected, str):
        expected = [expected]
    written = run_through_milter(case)
    assert written in expected, '%s: %s (suite accepts %s)' % (
        case.get('description', ''), written, expected)
