"""Policy beyond the C milter (issue 11) through pymilter's TestCtx (SPF results stubbed)."""

import Milter
import pytest

from miltertools import Harness

AR = 'Authentication-Results'
REASON = 'Message was rejected during SPF policy evaluation. sender:%s client-ip:%s'


def deliver(h, sender, *rcpts, **headers):
    """MAIL, RCPTs (their answers returned), headers, EOM; h.ctx.edits holds the edits."""
    h.mail(sender)
    answers = [h.rcpt(rcpt) for rcpt in rcpts]
    for name, value in headers.items():
        h.header(name, value)
    h.eom()
    return answers


def auth_results(h):
    return [edit[2] for edit in h.ctx.edits if edit[:2] == ('insheader', AR)]


# -- CheckHelo / RefuseHeloFail ---------------------------------------------------------

def test_check_helo_adds_second_resinfo_and_is_cached():
    h = Harness('CheckHelo on', sender_example='pass', helo_example='fail')
    h.connect(helo='HELO.example')
    assert deliver(h, '<a@sender.example>', '<b@receiver.test>') == [Milter.CONTINUE]
    assert auth_results(h) == ['mx.receiver.test; spf=pass smtp.mailfrom=a@sender.example '
                               'smtp.helo=HELO.example; spf=fail smtp.helo=helo.example']
    assert h.checker.calls == [('192.0.2.1', 'a@sender.example', 'HELO.example'),
                               ('192.0.2.1', 'postmaster@helo.example', 'helo.example')]
    assert ('SPF helo fail: ip=192.0.2.1, fqdn=mx.sender.example, helo=helo.example, '
            'from=<a@sender.example>') in h.logs
    h.ctx.edits = []
    deliver(h, '<c@sender.example>', '<b@receiver.test>')
    assert len(h.checker.calls) == 2, 'both results came from the cache'
    assert any(line.startswith('SPF helo fail (cached):') for line in h.logs)
    assert auth_results(h)[0].endswith('; spf=fail smtp.helo=helo.example')


def test_a_helo_that_is_checked_is_also_named_in_authentication_results():
    """One rule for names: `mx_1` (an underscore, as real host names have) was checked and
    could be refused, but its result was left out of the header."""
    h = Harness('CheckHelo on', sender_example='pass')
    h.checker.results['mx_1.example.org'] = 'fail'
    h.connect(helo='mx_1.example.org')
    assert deliver(h, '<a@sender.example>', '<b@receiver.test>') == [Milter.CONTINUE]
    assert h.checker.calls[-1] == ('192.0.2.1', 'postmaster@mx_1.example.org',
                                   'mx_1.example.org')
    assert auth_results(h) == ['mx.receiver.test; spf=pass smtp.mailfrom=a@sender.example '
                               'smtp.helo=mx_1.example.org; spf=fail smtp.helo=mx_1.example.org']


def test_helo_check_gets_what_mail_from_left_of_spf_timeout():
    h = Harness('CheckHelo on', 'SPFTimeout 20', sender_example='pass', helo_example='pass')
    h.connect(helo='helo.example')
    h.mail('<a@sender.example>')
    mail_from, helo = h.checker.timeouts
    assert mail_from is None and 19 < helo <= 20


def test_helo_check_not_started_without_time_left():
    h = Harness('CheckHelo on', 'SPFTimeout 1.5', sender_example='pass', helo_example='pass')
    h.slow_checks(0.6)
    h.connect(helo='helo.example')
    deliver(h, '<a@sender.example>', '<b@receiver.test>')
    assert len(h.checker.calls) == 1
    assert h.logs[-1].startswith('SPF helo temperror: no time left of SPFTimeout')
    assert auth_results(h)[0].endswith('; spf=temperror smtp.helo=helo.example')


def test_check_helo_off_checks_mail_from_only():
    h = Harness(sender_example='pass', helo_example='fail')
    h.connect(helo='helo.example')
    deliver(h, '<a@sender.example>', '<b@receiver.test>')
    assert len(h.checker.calls) == 1 and 'spf=fail' not in auth_results(h)[0]


def test_check_helo_empty_sender_checked_once():
    h = Harness('CheckHelo on', helo_example='pass')
    h.connect(helo='helo.example')
    deliver(h, '<>', '<b@receiver.test>')
    assert len(h.checker.calls) == 1
    assert auth_results(h) == ['mx.receiver.test; spf=pass '
                               'smtp.mailfrom=postmaster@helo.example smtp.helo=helo.example']


def test_check_helo_address_literal_is_not_checked():
    h = Harness('CheckHelo on', sender_example='pass')
    h.connect(helo='[192.0.2.1]')
    deliver(h, '<a@sender.example>', '<b@receiver.test>')
    assert len(h.checker.calls) == 1
    assert any(line.startswith('SPF helo skipped: helo=[192.0.2.1]') for line in h.logs)


def test_refuse_helo_fail_refuses_at_rcpt_postmaster_accepted():
    h = Harness('RefuseHeloFail on', 'AcceptPostmaster on', sender_example='pass',
                helo_example='fail')
    h.connect(helo='helo.example')
    assert h.mail('<a@sender.example>') == Milter.CONTINUE
    assert h.rcpt('<b@receiver.test>') == Milter.REJECT
    assert h.reply == ('550', '5.7.23', REASON % ('postmaster@helo.example', '192.0.2.1'))
    assert h.rcpt('<postmaster@receiver.test>') == Milter.CONTINUE
    h.eom()
    assert auth_results(h)[0].endswith('; spf=fail smtp.helo=helo.example')


def test_refuse_helo_fail_with_soft_fail_is_450():
    h = Harness('RefuseHeloFail on', 'SoftFail on', sender_example='pass', helo_example='fail')
    h.connect(helo='helo.example')
    assert h.mail('<a@sender.example>') == Milter.TEMPFAIL
    assert h.reply[:2] == ('450', '4.7.23')


# -- per-result refusals ---------------------------------------------------------------

def test_refuse_softfail():
    h = Harness('RefuseSoftFail on', sender_example='softfail')
    h.connect()
    assert h.mail('<a@sender.example>') == Milter.REJECT
    assert h.reply == ('550', '5.7.1', REASON % ('a@sender.example', '192.0.2.1'))


def test_reject_perm_error_and_its_soft_fail():
    h = Harness('RejectPermError on', sender_example='permerror')
    h.connect()
    assert h.mail('<a@sender.example>') == Milter.REJECT
    assert h.reply[:2] == ('550', '5.7.24')
    h = Harness('RejectPermError yes', 'SoftFail on', 'AcceptPostmaster on',
                sender_example='permerror')
    h.connect()
    assert deliver(h, '<a@sender.example>', '<b@receiver.test>') == [Milter.TEMPFAIL]
    assert h.reply[:2] == ('450', '4.7.24')


def test_reject_temp_error_is_accept_temp_error_off():
    h = Harness('RejectTempError on', sender_example='temperror')
    h.connect()
    assert h.mail('<a@sender.example>') == Milter.TEMPFAIL
    assert h.reply[:2] == ('451', '4.4.3')


# -- DryRun ----------------------------------------------------------------------------

def test_dry_run_refuses_nothing_adds_headers_and_logs_what_it_would_do():
    h = Harness('DryRun on', 'AddReceivedHeader on', sender_example='fail')
    h.connect()
    answers = deliver(h, '<a@sender.example>', '<b@receiver.test>', '<c@receiver.test>',
                      Subject='Hi')
    assert answers == [Milter.CONTINUE, Milter.CONTINUE]
    assert ('SPF would refuse (DryRun): 550 5.7.23 by RefuseFail (SPF fail), ip=192.0.2.1, '
            'from=<a@sender.example>') in h.logs
    assert [edit[:2] for edit in h.ctx.edits] == [('chgheader', 'Subject'), ('insheader', AR),
                                                  ('addheader', 'Received-SPF')]
    assert 'spf=fail' in auth_results(h)[0]


def test_dry_run_bad_sender_is_accepted_unchecked():
    h = Harness('DryRun on', 'RemoveForgedAuthResults off')
    h.connect()
    assert h.mail('<nobody>') == Milter.ACCEPT
    # followed to the end of the message to remove forged Authentication-Results
    h = Harness('DryRun on')
    h.connect()
    assert deliver(h, '<nobody>', '<b@receiver.test>') == [Milter.CONTINUE]
    assert h.ctx.edits == []
    assert h.logs[-1] == ('SPF would refuse (DryRun): 550 5.1.7 Sender address does not '
                          'conform to RFC-2821 syntax: <nobody>')
    assert h.checker.calls == []


# -- TrustedForwarder ------------------------------------------------------------------

def test_trusted_forwarder_not_refused_tagged_or_quarantined_and_says_why():
    h = Harness('TrustedForwarder 192.0.2.0/24', 'Quarantine on', 'CheckHelo on',
                sender_example='fail', helo_example='pass')
    h.connect(helo='helo.example')
    answers = deliver(h, '<a@sender.example>', '<b@receiver.test>', Subject='Hi')
    assert answers == [Milter.CONTINUE]
    assert h.ctx.edits == [('insheader', AR, 'mx.receiver.test; spf=fail '
                            'smtp.mailfrom=a@sender.example smtp.helo=helo.example '
                            'policy.trusted-forwarder=192.0.2.1; spf=pass '
                            'smtp.helo=helo.example')]
    assert ('SPF not refused: client ip=192.0.2.1 is a TrustedForwarder (SPF fail, would be '
            '550 5.7.23), from=<a@sender.example>') in h.logs


def test_trusted_forwarder_by_host_name_with_whitelist_to_path():
    h = Harness('TrustedForwarder .backup.example', 'WhitelistTo @friends.example',
                sender_example='fail')
    h.connect(host='mx2.backup.example')
    assert deliver(h, '<a@sender.example>', '<b@receiver.test>') == [Milter.CONTINUE]
    h = Harness('TrustedForwarder .backup.example', 'WhitelistTo @friends.example',
                sender_example='fail')
    h.connect(host='mx2.elsewhere.example')
    assert deliver(h, '<a@sender.example>', '<b@receiver.test>') == [Milter.REJECT]


def test_whitelist_ip_still_skips_silently():
    h = Harness('WhitelistIP 192.0.2.0/24', 'TrustedForwarder 192.0.2.0/24')
    assert h.connect() == Milter.ACCEPT


# -- postmaster ------------------------------------------------------------------------

def test_postmaster_gets_failing_mail_others_refused():
    h = Harness('AcceptPostmaster on', sender_example='fail')
    h.connect()
    answers = deliver(h, '<a@sender.example>', '<bob@receiver.test>', '<Postmaster>',
                      '<postmaster@receiver.test>', '<carol@receiver.test>', Subject='x')
    assert answers == [Milter.REJECT, Milter.CONTINUE, Milter.CONTINUE, Milter.REJECT]
    assert h.reply == ('550', '5.7.23', REASON % ('a@sender.example', '192.0.2.1'))
    assert 'spf=fail' in auth_results(h)[0]


def test_quarantine_lists_only_recipients_not_refused():
    h = Harness('Quarantine on', 'QuarantineBox spam@receiver.test', 'TagSubject off',
                'AddHeader off', 'AcceptPostmaster on', sender_example='fail')
    h.connect()
    deliver(h, '<a@sender.example>', '<bob@receiver.test>', '<postmaster@receiver.test>')
    assert h.ctx.edits == [('addrcpt', 'spam@receiver.test'),
                           ('addheader', 'X-SPF-Original-To', '<postmaster@receiver.test>'),
                           ('delrcpt', '<postmaster@receiver.test>')]


# -- the redvw fork's keys -------------------------------------------------------------

def test_whitelist_ip6():
    h = Harness('WhitelistIP6 2001:db8:4321:abcd::/64')
    assert h.connect(ip='2001:db8:4321:abcd::25') == Milter.ACCEPT
    assert h.connect(ip='2001:db8:4321:abce::25') == Milter.CONTINUE


def test_add_auth_result_header_off():
    h = Harness('AddAuthResultHeader off', 'TagSubject off', sender_example='pass')
    h.connect()
    deliver(h, '<a@sender.example>', '<b@receiver.test>')
    assert h.ctx.edits == []


@pytest.mark.parametrize('lines', [(), ('AcceptPostmaster off',)])
def test_by_default_refused_at_mail_from_as_c(lines):
    h = Harness(*lines, sender_example='fail')
    h.connect()
    assert h.mail('<a@sender.example>') == Milter.REJECT
    assert h.reply == ('550', '5.7.23', REASON % ('a@sender.example', '192.0.2.1'))


# -- Received-SPF for the HELO identity (RFC 7208 section 9.1: one per identity) ---------

def received_spf(h):
    return [edit[2] for edit in h.ctx.edits if edit[:2] == ('addheader', 'Received-SPF')]


def test_a_checked_helo_gets_its_own_received_spf_after_mail_froms():
    h = Harness('CheckHelo on', 'AddReceivedHeader on', sender_example='pass',
                helo_example='fail')
    h.connect(helo='HELO.example')
    deliver(h, '<a@sender.example>', '<b@receiver.test>')
    assert received_spf(h) == [
        'Pass (mx.receiver.test: domain of a@sender.example\n\tdesignates 192.0.2.1 as '
        'permitted sender)\n\treceiver=mx.receiver.test; client-ip=192.0.2.1; '
        'identity=mailfrom;\n\tenvelope-from="a@sender.example"; helo=HELO.example;',
        'Fail (mx.receiver.test: domain of postmaster@helo.example\n\tdoes not designate '
        '192.0.2.1 as permitted sender)\n\treceiver=mx.receiver.test; client-ip=192.0.2.1; '
        'identity=helo;\n\tenvelope-from="a@sender.example"; helo=HELO.example;']


@pytest.mark.parametrize('lines,helo,sender', [
    (('CheckHelo on',), 'helo.example', '<>'),               # one identity: HELO's
    (('CheckHelo on',), '[192.0.2.1]', '<a@sender.example>'),   # HELO not checked
    ((), 'helo.example', '<a@sender.example>'),               # CheckHelo off
])
def test_one_received_spf_where_one_identity_was_checked(lines, helo, sender):
    h = Harness('AddReceivedHeader on', *lines, sender_example='pass', helo_example='pass')
    h.connect(helo=helo)
    deliver(h, sender, '<b@receiver.test>')
    fields = received_spf(h)
    assert len(fields) == 1
    assert ('identity=helo;' if sender == '<>' else 'identity=mailfrom;') in fields[0]


def test_no_received_spf_for_helo_without_add_received_header():
    h = Harness('CheckHelo on', sender_example='pass', helo_example='fail')
    h.connect(helo='helo.example')
    deliver(h, '<a@sender.example>', '<b@receiver.test>')
    assert received_spf(h) == []
