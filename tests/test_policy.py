"""Policy decisions as pure functions: facts in, verdict out, no milter."""

import pytest
from hypothesis import given, settings, strategies as st

from smf_spf import c_rules
from smf_spf.ipaddr import parse_ip
from smf_spf.c_rules import ACCEPT, CONTINUE, REJECT, TEMPFAIL
from miltertools import config_of as conf, CONNECTION as CONN


MAIL = c_rules.Mail('<a@sender.example>', 'a', 'sender.example', 'mailfrom', 'helo.example')
NDR = c_rules.Mail('<>', 'postmaster', 'helo.example', 'helo', 'helo.example')


@pytest.mark.parametrize('raw,relaxed,expected', [
    ('<a@b>', False, 'a@b'),
    ('<A@B.example> SIZE=10', False, 'A@B.example'),
    ('<"x y"@b>', False, '"x y"@b'),
    ('<ab>', False, None),
    ('<a@>', False, 'a@'),              # C only asks for an @ and sane edges
    ('<@>', False, None),               # too short
    ('< a@b>', False, None),
    ('<a@b >', False, None),
    ('<\ta@b>', False, None),
    ('a@b', False, None),
    ('<%s@b>' % ('x' * 64), False, 'x' * 64 + '@b'),
    ('<%s@b>' % ('x' * 65), False, None),
    ('<%s@b>' % ('x' * 65), True, 'x' * 65 + '@b'),
])
def test_envelope_address(raw, relaxed, expected):
    assert c_rules.envelope_address(raw, relaxed) == expected


# (config lines, identity, result) -> (action, code, xcode)
TABLE = [
    ((), MAIL, 'pass', CONTINUE, None, None),
    ((), MAIL, 'fail', REJECT, '550', '5.7.23'),
    (('SoftFail on',), MAIL, 'fail', TEMPFAIL, '450', '4.7.23'),
    (('RefuseFail off',), MAIL, 'fail', CONTINUE, None, None),
    (('WhitelistTo postmaster@',), MAIL, 'fail', CONTINUE, None, None),
    ((), MAIL, 'softfail', CONTINUE, None, None),
    ((), MAIL, 'neutral', CONTINUE, None, None),
    ((), MAIL, 'none', CONTINUE, None, None),
    (('RefuseSPFNone on', 'SPFBestGuess off'), MAIL, 'none', REJECT, '550', '5.7.1'),
    (('RefuseSPFNone on', 'SoftFail on', 'SPFBestGuess off'), MAIL, 'none', REJECT, '550',
     '5.7.1'),
    (('RefuseSPFNone on', 'SPFBestGuess off'), NDR, 'none', CONTINUE, None, None),
    (('RefuseSPFNoneHelo on', 'SPFBestGuess off'), NDR, 'none', REJECT, '550', '5.7.1'),
    (('RefuseSPFNoneHelo on', 'SPFBestGuess off'), MAIL, 'none', CONTINUE, None, None),
    # SPFBestGuess on (the default): C's best guess stood in for none, nothing was refused
    (('RefuseSPFNone on',), MAIL, 'none', CONTINUE, None, None),
    (('RefuseSPFNoneHelo on',), NDR, 'none', CONTINUE, None, None),
    (('RefuseSPFNone on', 'RefuseSPFNoneHelo on', 'SPFBestGuess on'), MAIL, 'none', CONTINUE,
     None, None),
    ((), MAIL, 'temperror', CONTINUE, None, None),
    (('AcceptTempError off',), MAIL, 'temperror', TEMPFAIL, '451', '4.4.3'),
    ((), MAIL, 'permerror', CONTINUE, None, None),
    ((), NDR, 'fail', REJECT, '550', '5.7.23'),
]


@pytest.mark.parametrize('lines,mail,result,action,code,xcode', TABLE)
def test_after_spf_table(lines, mail, result, action, code, xcode):
    verdict = c_rules.after_spf(conf(*lines), CONN, mail, result, 'why')
    assert (verdict.action, verdict.code, verdict.xcode) == (action, code, xcode)
    if code:
        assert verdict.logs, 'a refusal says why in the log'
        # its own prefix: never a second `SPF <result>:` line for one message
        assert all(message.startswith('SPF refused: %s %s ' % (code, xcode))
                   for _, message in verdict.logs)


@pytest.mark.parametrize('cached,result,level', [
    (False, 'pass', c_rules.NOTICE), (False, 'fail', c_rules.NOTICE),
    (False, 'none', c_rules.INFO), (True, 'fail', c_rules.INFO)])
def test_result_line_as_c_wrote_it(cached, result, level):
    mail = c_rules.Mail('<A@x.example>', 'a', 'x.example', 'mailfrom', 'helo.example')
    assert c_rules.spf_result_log(result, cached, CONN, mail) == (
        level, 'SPF %s%s: ip=%s, fqdn=%s, helo=helo.example, from=<A@x.example>'
        % (result, ' (cached)' if cached else '', CONN.spf_ip, CONN.hostname))


def test_nat_line_as_c_wrote_it():
    # C printed inet_addr's value as a long on a little-endian host, then the dotted quad
    assert c_rules.nat_log('10.0.0.1', '192.0.2.1') == (
        'Found  NAT IP address. Original: 10.0.0.1 . Final 16908480 (192.0.2.1)')
    assert c_rules.nat_log('2001:db8::9', '2001:db8::1') == (
        'Found  NAT IP address. Original: 2001:db8::9 . Final (2001:db8::1)')


def test_on_connect_order_whitelist_then_nat_then_fixed():
    c = conf('WhitelistIP 10.0.0.0/8', 'ClientIPNAT 192.0.2.1:198.51.100.1',
             'FixedClientIP 203.0.113.5')
    assert c_rules.on_connect(c, '10.1.1.1', 'h', 'mx')[0].action == ACCEPT
    assert c_rules.on_connect(c, '::ffff:10.1.1.1', 'h', 'mx')[0].action == ACCEPT
    assert c_rules.on_connect(c, '192.0.2.1', 'h', 'mx')[1].spf_ip == '198.51.100.1'
    assert c_rules.on_connect(c, '192.0.2.2', 'h', 'mx')[1].spf_ip == '203.0.113.5'
    assert c_rules.on_connect(c, None, 'h', 'mx')[0].action == ACCEPT
    assert c_rules.on_connect(c, 'garbage', 'h', 'mx')[0].action == ACCEPT
    assert c_rules.on_connect(c, '192.0.2.2', 'h', None)[1].mta_name == 'localhost'


def test_cache_key_uses_evaluated_ip_and_domain():
    assert c_rules.cache_key(CONN, MAIL) == '192.0.2.1|sender.example'
    assert c_rules.cache_key(CONN, NDR) == '192.0.2.1|helo.example'


@pytest.mark.parametrize('result,tagged', [('fail', True), ('softfail', True), ('pass', False),
                                           ('neutral', False), ('none', False),
                                           ('temperror', False)])
def test_eom_tags_only_fail_and_softfail(result, tagged):
    edits = c_rules.on_eom(conf('AddHeader off'), CONN, MAIL, result, 'Hi', [])
    assert (edits == [c_rules.Edit('chgheader', 'Subject', '[SPF:fail] Hi', 1)]) is tagged


_ipv4_like = st.one_of(
    st.tuples(*[st.integers(min_value=0, max_value=300)] * 4).map(
        lambda octets: '.'.join(str(o) for o in octets)),
    st.tuples(*[st.text('0123456789', min_size=1, max_size=4)] * 4).map('.'.join),
    st.ip_addresses().map(str),
    st.ip_addresses(v=4).map(lambda a: '::ffff:%s' % a),
    st.text(max_size=20))


@settings(max_examples=500, deadline=None)
@given(_ipv4_like)
def test_unwrap_ip_fast_path_agrees_with_the_ipaddress_reading(text):
    parsed = parse_ip(text)
    assert c_rules.unwrap_ip(text) == (None if parsed is None else str(parsed))


def test_the_log_table_names_every_line_we_write():
    import os
    import re
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sources = ''
    for name in ('c_rules.py', 'milter.py'):
        with open(os.path.join(root, 'smf_spf', name), encoding='utf-8') as handle:
            sources += handle.read()
    with open(os.path.join(root, 'docs', 'operations.md'), encoding='utf-8') as handle:
        operations = handle.read()
    table = operations.split('## Log lines', 1)[1].split('\n## ', 1)[0]
    # the fixed start of every decision line the policy and the adapter write
    starts = set(re.findall(r"'((?:SPF [a-z]+ ?:?|Found  NAT|unknown sender)[^%']*)", sources))
    starts |= {c_rules.REFUSED}
    assert starts
    for start in starts:
        assert start.strip() in table, start
