"""RefuseFailEmptySender: what an SPF refusal of an empty sender (a bounce, checked through
its HELO) becomes: refused (as C did), tempfailed, or let through tagged (jcbf/smf-spf
issue 45). Through the milter adapter with SPF results stubbed; the running daemon's own
test is in test_policy_keys_daemon.py."""

import Milter
import pytest

from miltertools import Harness
from smf_spf import config as configuration
from smf_spf.metrics import PrometheusMetrics

AR = 'Authentication-Results'


def bounce(h, *rcpts, **headers):
    """<> from HELO helo.example: (answer to MAIL FROM, answers to each RCPT TO); a
    refused MAIL FROM ends it, as it does the SMTP transaction."""
    h.connect(helo='helo.example')
    mail = h.mail('<>')
    if mail != Milter.CONTINUE:
        return mail, []
    answers = [h.rcpt(rcpt) for rcpt in rcpts]
    for name, value in headers.items():
        h.header(name, value)
    h.eom()
    return mail, answers


def test_the_key_reads_its_three_values_in_any_case():
    for value in ('refuse', 'TempFail', 'tag'):
        loaded = configuration.parse_lines(['RefuseFailEmptySender %s' % value], 'f')
        assert loaded.problems == ()
        assert loaded.config.refuse_fail_empty_sender == value.lower()
    assert configuration.parse_lines([], 'f').config.refuse_fail_empty_sender == 'refuse'
    loaded = configuration.parse_lines(['RefuseFailEmptySender accept'], 'f')
    assert [(p.line, p.severity) for p in loaded.problems] == [(1, 'error')]
    assert 'refuse, tempfail, tag' in loaded.problems[0].reason


@pytest.mark.parametrize('lines', [(), ('RefuseFailEmptySender refuse',)])
def test_refuse_is_as_c_did(lines):
    h = Harness(*lines, helo_example='fail')
    assert bounce(h, '<b@receiver.test>')[0] == Milter.REJECT
    assert h.reply[:2] == ('550', '5.7.23')


def test_tempfail_makes_it_450_and_says_why():
    h = Harness('RefuseFailEmptySender tempfail', helo_example='fail')
    h.services.metrics = metrics = PrometheusMetrics(lambda: None)
    assert bounce(h, '<b@receiver.test>')[0] == Milter.TEMPFAIL
    assert h.reply[:2] == ('450', '4.7.23')
    assert ('SPF refused: 450 4.7.23 by RefuseFail (SPF fail), ip=192.0.2.1, from=<>, '
            'helo=helo.example, RefuseFailEmptySender tempfail') in h.logs
    assert metrics.registry.get_sample_value('smf_spf_refusals_total', {
        'rule': 'RefuseFail', 'action': 'tempfail'}) == 1


@pytest.mark.parametrize('lines,would', [((), '550 5.7.23'), (('SoftFail on',), '450 4.7.23')])
def test_tag_lets_it_through_with_the_headers_and_the_subject_tag(lines, would):
    h = Harness('RefuseFailEmptySender tag', *lines, helo_example='fail')
    h.services.metrics = metrics = PrometheusMetrics(lambda: None)
    assert bounce(h, '<b@receiver.test>', Subject='Undelivered') == (
        Milter.CONTINUE, [Milter.CONTINUE])
    assert ('SPF not refused: empty sender, would be %s by RefuseFail (SPF fail), '
            'ip=192.0.2.1, from=<>, helo=helo.example, RefuseFailEmptySender tag'
            % would) in h.logs
    assert ('chgheader', 'Subject', 1, '[SPF:fail] Undelivered') in h.ctx.edits
    assert ('insheader', AR, 'mx.receiver.test; spf=fail '
            'smtp.mailfrom=postmaster@helo.example smtp.helo=helo.example') in h.ctx.edits
    assert metrics.registry.get_sample_value('smf_spf_actions_total', {
        'action': 'tag', 'list': ''}) == 1
    assert not metrics.registry.get_sample_value('smf_spf_refusals_total', {
        'rule': 'RefuseFail', 'action': 'refuse'})


@pytest.mark.parametrize('lines,result', [
    (('RefuseSoftFail on',), 'softfail'), (('RejectPermError on',), 'permerror'),
    (('RefuseNotPass helo.example',), 'neutral'), (('RefuseHeloFail on', 'RefuseFail off'),
                                                   'fail')])
def test_every_spf_refusal_of_an_empty_sender_is_tagged(lines, result):
    h = Harness('RefuseFailEmptySender tag', *lines, helo_example=result)
    assert bounce(h, '<b@receiver.test>') == (Milter.CONTINUE, [Milter.CONTINUE])
    assert any(line.startswith('SPF not refused: empty sender, would be ')
               for line in h.logs), h.logs


def test_tagged_once_with_the_rule_that_decided_first():
    h = Harness('RefuseFailEmptySender tag', 'RefuseNotPass helo.example', helo_example='fail')
    bounce(h, '<b@receiver.test>')
    lines = [line for line in h.logs if line.startswith('SPF not refused')]
    assert len(lines) == 1 and 'by RefuseFail (SPF fail)' in lines[0]


@pytest.mark.parametrize('value', ['tempfail', 'tag'])
def test_a_sender_that_is_not_empty_is_refused_as_before(value):
    h = Harness('RefuseFailEmptySender %s' % value, 'RefuseHeloFail on',
                sender_example='fail', helo_example='pass')
    h.connect(helo='helo.example')
    assert h.mail('<a@sender.example>') == Milter.REJECT
    h = Harness('RefuseFailEmptySender %s' % value, 'RefuseHeloFail on',
                sender_example='pass', helo_example='fail')
    h.connect(helo='helo.example')
    assert h.mail('<a@sender.example>') == Milter.REJECT
    assert h.reply[:2] == ('550', '5.7.23')


@pytest.mark.parametrize('lines,result,answer,code', [
    (('AcceptTempError off',), 'temperror', Milter.TEMPFAIL, '451'),
    (('SPFBestGuess off', 'RefuseSPFNoneHelo on'), 'none', Milter.REJECT, '550'),
])
def test_refusals_made_for_other_reasons_stay(lines, result, answer, code):
    h = Harness('RefuseFailEmptySender tag', *lines, helo_example=result)
    assert bounce(h, '<b@receiver.test>')[0] == answer
    assert h.reply[0] == code


def test_with_whitelist_to_each_recipient_is_let_through():
    h = Harness('RefuseFailEmptySender tag', 'WhitelistTo abuse@', helo_example='fail')
    assert bounce(h, '<b@receiver.test>', '<abuse@receiver.test>') == (
        Milter.CONTINUE, [Milter.CONTINUE, Milter.CONTINUE])


def test_dry_run_says_what_tempfail_would_do():
    h = Harness('RefuseFailEmptySender tempfail', 'DryRun on', helo_example='fail')
    assert bounce(h, '<b@receiver.test>') == (Milter.CONTINUE, [Milter.CONTINUE])
    assert any(line.startswith('SPF would tempfail (DryRun): 450 4.7.23 by RefuseFail')
               for line in h.logs), h.logs
