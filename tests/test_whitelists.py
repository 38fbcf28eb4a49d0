"""Whitelists an attacker cannot satisfy: WhitelistPTR by whole labels, WhitelistFrom and
WhitelistTo against the mailbox as split_path reads it (docs/whitelists.md), while the
senders and hosts C whitelisted with the usual pattern forms stay whitelisted."""

import os
import re

import pytest
from hypothesis import given, settings, strategies as st

import rawmilter
from dnsstub import DnsStub
from rawmilter import CONNECT, HELO, MAIL, RCPT, Client, connect_data, final
from smf_spf import c_rules, config as configuration, whitelist

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fold(text):
    return re.sub('[A-Z]', lambda m: m.group().lower(), text)


def c_whitelists(key, pattern, target):
    """smf-spf 2.x: the end of the client's name (strcasecmp), or the pattern anywhere in
    the lower-cased text between the first '<' and the last '>' (strtolower, strstr)."""
    if key == 'WhitelistPTR':
        return fold(target).endswith(fold(pattern))
    return fold(pattern) in fold(target[target.index('<') + 1:target.rindex('>')])


CLIENT = '198.51.100.7'


def ours_whitelists(key, pattern, target):
    """Whether the policy skips the check for `target` with the one config line."""
    config = configuration.parse_lines(['%s %s' % (key, pattern)], 't.conf').config
    verdict, connection = c_rules.on_connect(config, CLIENT, target if key == 'WhitelistPTR'
                                            else 'client.test', 'mx.test')
    if key == 'WhitelistPTR':
        return verdict.skipped_by == key
    sender = target if key == 'WhitelistFrom' else '<ceo@victim.example>'
    verdict, mail = c_rules.on_mail(config, connection, sender, 'helo.test')
    if key == 'WhitelistFrom':
        return verdict.skipped_by == key
    verdict, _ = c_rules.on_rcpt(config, connection, mail, 'fail', target)
    return verdict.skipped_by == key


def documented_table():
    """(key, pattern, sender or client name, C's answer, ours, why) of each row of the
    table in docs/whitelists.md."""
    with open(os.path.join(ROOT, 'docs', 'whitelists.md'), encoding='utf-8') as handle:
        text = handle.read()
    section = text.split("## C's reading and ours, sender by sender", 1)[1].split('\n## ')[0]
    rows = []
    for line in section.splitlines():
        if not line.startswith('| `'):
            continue
        line_cell, target, c_answer, ours, why = [cell.strip() for cell in
                                                  line.strip().strip('|').split('|')]
        key, pattern = line_cell.strip('`').split(' ', 1)
        rows.append((key, pattern, target.strip('`'), c_answer == 'whitelisted',
                     ours == 'whitelisted', why))
    return rows


TABLE = documented_table()


def test_the_table_holds_the_usual_forms_and_the_issue_rows():
    lines = set((key, pattern) for key, pattern, _, _, _, _ in TABLE)
    assert {('WhitelistPTR', 'partner.example'), ('WhitelistPTR', '.partner.example'),
            ('WhitelistFrom', 'friend@'), ('WhitelistFrom', '@partner.example'),
            ('WhitelistFrom', 'friend@partner.example'), ('WhitelistFrom', 'trusted.example'),
            ('WhitelistTo', 'postmaster@')} <= lines
    assert ('WhitelistFrom', '@partner.example', '<"x@partner.example"@victim.example>',
            True, False) in [row[:5] for row in TABLE]
    assert len(TABLE) >= 30


@pytest.mark.parametrize('key,pattern,target,c_answer,ours,why', TABLE)
def test_documented_pattern_by_sender(key, pattern, target, c_answer, ours, why):
    assert c_whitelists(key, pattern, target) is c_answer
    assert ours_whitelists(key, pattern, target) is ours
    assert bool(why) is (c_answer != ours)


# -- smf-spf -t: every line whose meaning narrowed, with an example ------------------------

def compat_notes(*lines):
    return [problem.reason for problem in configuration.parse_lines(lines, 't.conf').compat]


def noted_example(note):
    """The sender (or client name) a compat note says smf-spf whitelisted."""
    found = re.search(r'(?:whitelisted <(.*)>|client named (.*))\Z', note)
    return '<%s>' % found.group(1) if found.group(1) is not None else found.group(2)


def check_note(key, pattern, note):
    target = noted_example(note)
    assert note.startswith('%s %s: ' % (key, pattern))
    assert c_whitelists(key, pattern, target), note
    assert not ours_whitelists(key, pattern, target), note


@pytest.mark.parametrize('key,pattern', sorted(set(row[:2] for row in TABLE)))
def test_config_check_lists_each_narrowed_table_line_with_a_true_example(key, pattern):
    notes = compat_notes('%s %s' % (key, pattern))
    if (key, pattern) in (('WhitelistPTR', '.partner.example'), ('WhitelistFrom', '@')):
        assert notes == []      # means what it meant in C
        return
    note, = notes
    check_note(key, pattern, note)


def test_config_check_notes_carry_the_line_numbers():
    loaded = configuration.parse_lines([
        'WhitelistPTR .below.example', 'WhitelistPTR partner.example', '# comment',
        'WhitelistFrom @partner.example', 'WhitelistTo postmaster@'], 't.conf')
    assert [(p.line, p.severity) for p in loaded.compat] == [
        (2, configuration.COMPAT), (4, configuration.COMPAT), (5, configuration.COMPAT)]
    assert 'client named evilpartner.example' in loaded.compat[0].reason


pattern_text = st.one_of(
    st.text(st.sampled_from('ab.@"\\:-xX'), min_size=1, max_size=12),
    st.sampled_from(['@', '.', '..', '"@"', '@a', 'a@', 'a@b', '"a@b"', '@a:b@c', 'a.b']))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(['WhitelistPTR', 'WhitelistFrom', 'WhitelistTo']), pattern_text)
def test_every_note_names_a_sender_c_whitelisted_and_we_do_not(key, pattern):
    pattern = pattern.strip()
    if not pattern or '#' in pattern:
        return
    notes = compat_notes('%s %s' % (key, pattern))
    if key == 'WhitelistPTR':
        assert bool(notes) is not pattern.startswith('.')
    for note in notes:
        check_note(key, pattern, note)


def test_the_documented_config_check_lines_are_what_it_writes():
    with open(os.path.join(ROOT, 'docs', 'whitelists.md'), encoding='utf-8') as handle:
        text = handle.read()
    block = text.split('## What `smf-spf -t` says', 1)[1].split('```')[1]
    shown = [line.split(' compat: ', 1)[1] for line in block.splitlines() if ' compat: ' in line]
    assert len(shown) == 3
    for note in shown:
        key, pattern = note.split(':', 1)[0].split(' ', 1)
        assert compat_notes('%s %s' % (key, pattern)) == [note]


def test_address_notes_for_the_usual_forms():
    for pattern in ('friend@', '@partner.example', 'friend@partner.example', 'partner.example',
                    '.partner.example', '"a@b"@partner.example', '@a.example:x@b.example'):
        assert whitelist.address_note('WhitelistFrom', pattern) is not None, pattern


# -- through the running daemon: the issue's rows ------------------------------------------

# victim.example publishes -all; so do the partners, so that their mail is refused unless
# the whitelist skips the check
ZONE = {'victim.example.': 'v=spf1 -all', 'partner.example.': 'v=spf1 -all',
        'trusted.example.': 'v=spf1 -all', 'mail.trusted.example.': 'v=spf1 -all',
        'our.example.': 'v=spf1 -all'}
REFUSED_AT_MAIL = b'550 5.7.23 '
REFUSED_AT_RCPT = b'550 5.1.1 '
CONTINUE = (b'c', b'')
ACCEPTED = (b'a', b'')


@pytest.fixture(scope='module')
def dns():
    stub = DnsStub(txt=ZONE).start()
    yield stub
    stub.stop()


def start_daemon(tmp_path_factory, dns, name, *lines):
    return rawmilter.Daemon(tmp_path_factory.mktemp(name), dns.address, *lines).start()


@pytest.fixture(scope='module')
def daemon(tmp_path_factory, dns):
    running = start_daemon(tmp_path_factory, dns, 'whitelists', 'WhitelistFrom @partner.example',
                           'WhitelistFrom trusted.example', 'WhitelistPTR partner.example')
    yield running
    running.stop()


def session(port, ip, client_name, sender=None, rcpts=()):
    """(reply to CONNECT, to MAIL FROM, to each RCPT TO): the replies given before the
    milter accepted or refused the session; None for a step not reached."""
    client = Client(port)
    answers = [None, None] + [None] * len(rcpts)
    try:
        client.negotiate()
        client.macros(CONNECT, b'j', b'mx.receiver.test')
        answers[0] = final(client.step(CONNECT, connect_data(client_name, ip)))
        if answers[0] != CONTINUE or sender is None:
            return answers
        client.step(HELO, b'mx.client.test\0')
        answers[1] = final(client.step(MAIL, b'<' + sender + b'>\0'))
        if answers[1] != CONTINUE:
            return answers
        for index, rcpt in enumerate(rcpts):      # a refused recipient ends only itself
            answers[2 + index] = final(client.step(RCPT, b'<' + rcpt + b'>\0'))
    finally:
        client.close()
    return answers


def refused(answer, code=REFUSED_AT_MAIL):
    return answer is not None and answer[0] == b'y' and answer[1].startswith(code)


@pytest.mark.parametrize('ip,client_name,sender', [
    # WhitelistFrom @partner.example: the pattern in a quoted local part, in a source route
    ('198.51.100.41', b'client.test', b'"x@partner.example"@victim.example'),
    ('198.51.100.42', b'client.test', b'@partner.example:ceo@victim.example'),
    # WhitelistFrom trusted.example: the pattern in the local part
    ('198.51.100.43', b'client.test', b'ceo.trusted.example@victim.example'),
    # WhitelistPTR partner.example: a client whose name only ends in the same letters, or
    # holds the pattern before other labels
    ('198.51.100.45', b'evilpartner.example', b'ceo@victim.example'),
    ('198.51.100.46', b'partner.example.evil.test', b'ceo@victim.example'),
])
def test_the_attackers_mail_is_checked_and_refused(daemon, ip, client_name, sender):
    connected, answer = session(daemon.port, ip, client_name, sender)
    assert connected == CONTINUE, connected
    assert refused(answer), answer


@pytest.mark.parametrize('ip,sender', [
    ('198.51.100.51', b'anyone@partner.example'),
    ('198.51.100.52', b'Anyone@PARTNER.example'),
    ('198.51.100.53', b'ceo@trusted.example'),
    ('198.51.100.54', b'ceo@mail.trusted.example'),
])
def test_the_partners_own_mail_stays_whitelisted(daemon, ip, sender):
    connected, answer = session(daemon.port, ip, b'client.test', sender)
    assert connected == CONTINUE and answer == CONTINUE, (connected, answer)
    assert rawmilter.wait_for(lambda: 'SPF skip : from=<%s> whitelisted by WhitelistFrom'
                              % sender.decode() in daemon.log())


@pytest.mark.parametrize('ip,client_name', [
    ('198.51.100.55', b'partner.example'),
    ('198.51.100.56', b'MX.Partner.Example'),
])
def test_the_partners_own_hosts_stay_whitelisted_at_connect(daemon, ip, client_name):
    connected, _ = session(daemon.port, ip, client_name)
    assert connected == ACCEPTED, connected
    assert rawmilter.wait_for(lambda: 'SPF skip : client ip=%s, fqdn=%s whitelisted by '
                              'WhitelistPTR' % (ip, client_name.decode()) in daemon.log())


def test_the_victim_domain_is_refused_without_a_whitelist_in_the_way(daemon):
    connected, answer = session(daemon.port, '198.51.100.57', b'client.test',
                                b'ceo@victim.example')
    assert connected == CONTINUE and refused(answer), answer
    log = daemon.log()
    assert 'whitelisted by' not in log.split('198.51.100.57')[-1]


@pytest.fixture(scope='module')
def daemon_to(tmp_path_factory, dns):
    running = start_daemon(tmp_path_factory, dns, 'whitelist-to', 'WhitelistTo @our.example')
    yield running
    running.stop()


def test_whitelist_to_reads_the_recipient_as_parsed(daemon_to):
    """With WhitelistTo set, a failing sender is refused per recipient at RCPT TO: the
    pattern in a quoted local part whitelists no recipient."""
    connected, answer, attacker, routed, ours, also_ours = session(
        daemon_to.port, '198.51.100.58', b'client.test', b'ceo@victim.example',
        [b'"x@our.example"@victim.example', b'@our.example:x@victim.example',
         b'postmaster@our.example', b'Postmaster@Our.Example'])
    assert connected == CONTINUE and answer == CONTINUE, (connected, answer)
    assert refused(attacker, REFUSED_AT_RCPT), attacker
    assert refused(routed, REFUSED_AT_RCPT), routed
    assert ours == CONTINUE and also_ours == CONTINUE, (ours, also_ours)
    assert rawmilter.wait_for(lambda: 'SPF skip : to=<Postmaster@Our.Example> whitelisted by '
                              'WhitelistTo' in daemon_to.log())
