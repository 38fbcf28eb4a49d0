"""Every row of the reference, through pymilter's TestCtx (SPF results stubbed)."""

import socket

import Milter
import pytest

from smf_spf.spfcheck import SpfResult
from miltertools import Harness, RecordingCtx

AR = 'Authentication-Results'
REASON = 'Message was rejected during SPF policy evaluation. sender:%s client-ip:%s'


# -- connect ----------------------------------------------------------------------

def test_whitelisted_ip_accepts_connection_unchecked():
    h = Harness('WhitelistIP 192.0.2.0/24', 'WhitelistIP 2001:db8::/32')
    assert h.connect(ip='192.0.2.77') == Milter.ACCEPT
    assert h.connect(ip='2001:db8::25') == Milter.ACCEPT
    assert h.checker.calls == []
    assert 'WhitelistIP' in h.logs[-1]


def test_whitelisted_ptr_suffix_accepts():
    h = Harness('WhitelistPTR .friendly.example')
    assert h.connect(host='MX3.Friendly.Example') == Milter.ACCEPT
    assert h.connect(host='friendly.example.evil') == Milter.CONTINUE


def test_no_client_address_accepts_and_logs():
    h = Harness()
    ctx = RecordingCtx()
    ctx._negotiate()
    ctx._stage = Milter.M_CONNECT
    assert Milter.connect_callback(ctx, 'localhost', socket.AF_UNIX, '/run/x.sock') == Milter.ACCEPT
    assert h.logs == ['unknown sender IP address, skipping SPF check']


def test_pass_adds_authentication_results_first():
    h = Harness(sender_example='pass')
    assert h.connect() == Milter.CONTINUE
    assert h.mail('<Alice@Sender.Example>') == Milter.CONTINUE
    assert h.rcpt('<bob@receiver.test>') == Milter.CONTINUE
    h.header('Subject', 'hello')
    assert h.eom() == Milter.CONTINUE
    assert h.ctx.edits == [('insheader', AR, 'mx.receiver.test; spf=pass '
                            'smtp.mailfrom=alice@sender.example smtp.helo=mx.sender.example')]
    assert h.checker.calls == [('192.0.2.1', 'alice@sender.example', 'mx.sender.example')]
    assert ('SPF pass: ip=192.0.2.1, fqdn=mx.sender.example, helo=mx.sender.example, '
            'from=<Alice@Sender.Example>') in h.logs


def test_fail_is_refused_at_mail_with_reject_reason():
    h = Harness(sender_example='fail')
    h.connect()
    assert h.mail('<spoof@sender.example>') == Milter.REJECT
    assert h.reply == ('550', '5.7.23', REASON % ('spoof@sender.example', '192.0.2.1'))


def test_soft_fail_turns_refusal_into_tempfail():
    h = Harness('SoftFail on', sender_example='fail')
    h.connect()
    assert h.mail('<spoof@sender.example>') == Milter.TEMPFAIL
    assert h.reply[:2] == ('450', '4.7.23')


def test_reject_reason_third_placeholder_is_mta_name():
    h = Harness('RejectReason %s from %s refused by %s', sender_example='fail')
    h.connect()
    h.mail('<x@sender.example>')
    assert h.reply[2] == 'x@sender.example from 192.0.2.1 refused by mx.receiver.test'


def test_percent_in_reply_text_is_doubled_for_libmilter():
    h = Harness(sender_example='fail')
    h.connect()
    h.mail('<50%off@sender.example>')
    assert '50%%off@sender.example' in h.reply[2]


def test_fail_not_refused_tags_subject_and_headers():
    h = Harness('RefuseFail off', 'AddReceivedHeader on', sender_example='fail')
    h.connect()
    assert h.mail('<spoof@sender.example>') == Milter.CONTINUE
    h.rcpt('<bob@receiver.test>')
    h.header('Subject', 'Buy now')
    h.eom()
    assert h.ctx.edits[0] == ('chgheader', 'Subject', 1, '[SPF:fail] Buy now')
    assert h.ctx.edits[1][0:2] == ('insheader', AR) and 'spf=fail' in h.ctx.edits[1][2]
    assert h.ctx.edits[2] == ('addheader', 'Received-SPF',
                              'Fail (mx.receiver.test: domain of spoof@sender.example\n'
                              '\tdoes not designate 192.0.2.1 as permitted sender)\n'
                              '\treceiver=mx.receiver.test; client-ip=192.0.2.1; '
                              'identity=mailfrom;\n'
                              '\tenvelope-from="spoof@sender.example"; helo=mx.sender.example;')


def test_softfail_without_subject_adds_one():
    h = Harness(sender_example='softfail')
    h.connect()
    h.mail('<a@sender.example>')
    h.rcpt('<b@receiver.test>')
    h.eom()
    assert h.ctx.edits[0] == ('addheader', 'Subject', '[SPF:fail]')


def test_tag_subject_off_and_add_header_off_leave_message_alone():
    h = Harness('TagSubject off', 'AddHeader off', sender_example='softfail')
    h.connect()
    h.mail('<a@sender.example>')
    h.rcpt('<b@receiver.test>')
    h.header('Subject', 'x')
    h.eom()
    assert h.ctx.edits == []


@pytest.mark.parametrize('result,word,comment', [
    ('pass', 'Pass', 'mx.receiver.test: domain of a@sender.example\n\tdesignates 192.0.2.1 as '
                     'permitted sender'),
    ('softfail', 'SoftFail', 'mx.receiver.test: transitioning domain of a@sender.example\n'
                             '\tdoes not designate 192.0.2.1 as permitted sender'),
    ('neutral', 'Neutral', 'mx.receiver.test: 192.0.2.1 is neither permitted\n\tnor denied by '
                           'domain of a@sender.example'),
    ('none', 'None', 'mx.receiver.test: domain of a@sender.example\n\tdoes not designate '
                     'permitted sender hosts'),
])
def test_received_spf_wording(result, word, comment):
    h = Harness('AddReceivedHeader on', 'AddHeader off', 'TagSubject off', sender_example=result)
    h.connect()
    h.mail('<a@sender.example>')
    h.rcpt('<b@receiver.test>')
    h.eom()
    assert h.ctx.edits == [('addheader', 'Received-SPF',
                            '%s (%s)\n\treceiver=mx.receiver.test; client-ip=192.0.2.1; '
                            'identity=mailfrom;\n\tenvelope-from="a@sender.example"; '
                            'helo=mx.sender.example;' % (word, comment))]


@pytest.mark.parametrize('result', ['temperror', 'permerror', 'neutral', 'none'])
def test_authentication_results_names_rfc8601_results(result):
    h = Harness(sender_example=result)
    h.connect()
    h.mail('<a@sender.example>')
    h.rcpt('<b@receiver.test>')
    h.eom()
    assert ('insheader', AR, 'mx.receiver.test; spf=%s smtp.mailfrom=a@sender.example '
            'smtp.helo=mx.sender.example' % result) in h.ctx.edits


def test_authserv_id_from_config():
    h = Harness('AuthservID mail.example.com', sender_example='pass')
    h.connect()
    h.mail('<a@sender.example>')
    h.rcpt('<b@receiver.test>')
    h.eom()
    assert h.ctx.edits[0][2].startswith('mail.example.com; spf=pass')


def test_authserv_id_defaults_to_localhost_without_j():
    h = Harness(sender_example='pass')
    h.connect()
    del h.ctx._macros['j']
    h.ctx._connect('mx.sender.example', 'helo.example', '192.0.2.1')
    h.mail('<a@sender.example>')
    h.rcpt('<b@receiver.test>')
    h.eom()
    assert h.ctx.edits[0][2].startswith('localhost; spf=pass')


# -- MAIL FROM ------------------------------------------------------------------

@pytest.mark.parametrize('sender', ['<>x', 'no-brackets@x', '<nobody>', '< a@b>', '<a@b\t>',
                                    '<%s@example.com>' % ('l' * 65), '<>'[:1]])
def test_bad_sender_syntax_is_550_517(sender):
    h = Harness()
    h.connect()
    result = h.mail(sender)
    if sender == '<>x':       # contains "<>": an empty sender, checked as postmaster@helo
        assert result == Milter.CONTINUE
        return
    assert result == Milter.REJECT
    assert h.reply == ('550', '5.1.7', 'Sender address does not conform to RFC-2821 syntax')


def test_bad_sender_with_soft_fail_is_450_417():
    h = Harness('SoftFail on')
    h.connect()
    assert h.mail('<nobody>') == Milter.TEMPFAIL
    assert h.reply[:2] == ('450', '4.1.7')


def test_relaxed_local_part_allows_long_local_parts():
    h = Harness('RelaxedLocalPart on', example_com='pass')
    h.connect()
    assert h.mail('<%s@example.com>' % ('l' * 65)) == Milter.CONTINUE


def test_verify_ok_skips_check():
    h = Harness(sender_example='fail')
    h.connect()
    h.macro('{verify}', 'OK')
    assert h.mail('<a@sender.example>') == Milter.CONTINUE   # on to EOM: forged A-R removal
    assert h.checker.calls == []
    h = Harness('RemoveForgedAuthResults off', sender_example='fail')
    h.connect()
    h.macro('{verify}', 'OK')
    assert h.mail('<a@sender.example>') == Milter.ACCEPT


def test_empty_sender_checks_postmaster_at_helo():
    h = Harness('AddReceivedHeader on', helo_example='pass')
    h.connect(helo='HELO.Example')
    assert h.mail('<>') == Milter.CONTINUE
    assert h.checker.calls == [('192.0.2.1', 'postmaster@helo.example', 'helo.example')]
    h.rcpt('<b@receiver.test>')
    h.eom()
    assert ('insheader', AR, 'mx.receiver.test; spf=pass smtp.mailfrom=postmaster@helo.example '
            'smtp.helo=helo.example') in h.ctx.edits
    received = [e for e in h.ctx.edits if e[1] == 'Received-SPF'][0][2]
    assert 'identity=helo;' in received and 'envelope-from=""' in received


def test_empty_sender_without_helo_uses_undefined():
    h = Harness()
    h.connect()
    h.ctx._priv.helo = None
    h.mail('<>')
    assert h.checker.calls[-1][1:] == ('postmaster@undefined', 'undefined')


def test_no_helo_is_left_out_of_the_headers_and_logged_as_c_did():
    """Sendmail takes MAIL FROM without HELO: the headers name no HELO (C wrote
    `smtp.helo=undefined` and `helo=undefined;`), the log line keeps C's `helo=undefined`."""
    h = Harness('AddReceivedHeader on', sender_example='pass')
    h.connect()
    h.ctx._priv.helo = None
    assert h.mail('<a@sender.example>') == Milter.CONTINUE
    h.rcpt('<b@receiver.test>')
    h.eom()
    assert h.ctx.edits[0] == ('insheader', AR,
                              'mx.receiver.test; spf=pass smtp.mailfrom=a@sender.example')
    assert h.ctx.edits[1] == ('addheader', 'Received-SPF',
                              'Pass (mx.receiver.test: domain of a@sender.example\n'
                              '\tdesignates 192.0.2.1 as permitted sender)\n'
                              '\treceiver=mx.receiver.test; client-ip=192.0.2.1; '
                              'identity=mailfrom;\n'
                              '\tenvelope-from="a@sender.example";')
    assert ('SPF pass: ip=192.0.2.1, fqdn=mx.sender.example, helo=undefined, '
            'from=<a@sender.example>') in h.logs


def test_skip_ndr_accepts_empty_sender():
    h = Harness('SkipNDR on', 'RemoveForgedAuthResults off')
    h.connect()
    assert h.mail('<>') == Milter.ACCEPT
    assert h.logs[-1] == 'SPF skip : empty sender, helo=mx.sender.example, ip=192.0.2.1'


def authenticated_mail(*lines):
    """alice, authenticated, sends from a domain that fails: the Harness and its MAIL reply."""
    h = Harness(*lines, sender_example='fail')
    h.connect()
    h.macro('{auth_authen}', 'alice')
    return h, h.mail('<a@sender.example>')


def test_skip_auth_accepts_authenticated_clients():
    h, reply = authenticated_mail('RemoveForgedAuthResults off')
    assert reply == Milter.ACCEPT
    assert h.logs[-1] == 'SPF skip : username alice, from=<a@sender.example>'


def test_skip_auth_off_checks_authenticated_clients():
    h, reply = authenticated_mail('SkipAuth off')
    assert reply == Milter.REJECT


def test_whitelist_from_domain_accepts_in_any_case():
    h = Harness('WhitelistFrom @Friends.example', 'RemoveForgedAuthResults off',
                friends_example='fail')
    h.connect()
    assert h.mail('<Boss@FRIENDS.example>') == Milter.ACCEPT
    assert h.checker.calls == []


def test_refuse_spf_none():
    h = Harness('RefuseSPFNone on', 'SPFBestGuess off')
    h.connect()
    assert h.mail('<a@nospf.example>') == Milter.REJECT
    assert h.reply == ('550', '5.7.1',
                       'Sorry a@nospf.example, we only accept mail from SPF enabled domains.')


def test_refuse_spf_none_helo():
    h = Harness('RefuseSPFNoneHelo on', 'SPFBestGuess off')
    h.connect(helo='bare.example')
    assert h.mail('<>') == Milter.REJECT
    assert h.reply == ('550', '5.7.1', 'Sorry postmaster@bare.example, we only accept empty '
                       'senders from enabled servers (HELO identity)')


def test_refuse_spf_none_does_not_apply_to_empty_senders():
    h = Harness('RefuseSPFNone on', 'SPFBestGuess off')
    h.connect()
    assert h.mail('<>') == Milter.CONTINUE


def test_refuse_spf_none_has_no_effect_under_the_best_guess_as_in_c():
    h = Harness('RefuseSPFNone on', 'RefuseSPFNoneHelo on', nospf_example='none')
    h.connect(helo='nospf.example')
    assert h.mail('<a@nospf.example>') == Milter.CONTINUE
    assert h.rcpt('<b@receiver.test>') == Milter.CONTINUE
    assert h.eom() == Milter.CONTINUE
    assert ('insheader', AR, 'mx.receiver.test; spf=none smtp.mailfrom=a@nospf.example '
            'smtp.helo=nospf.example') in h.ctx.edits
    assert h.mail('<>') == Milter.CONTINUE


def test_temperror_accepted_by_default_refused_when_off():
    h = Harness(sender_example=SpfResult('temperror', 'DNS timeout'))
    h.connect()
    assert h.mail('<a@sender.example>') == Milter.CONTINUE
    h = Harness('AcceptTempError off', sender_example=SpfResult('temperror', 'DNS timeout'))
    h.connect()
    assert h.mail('<a@sender.example>') == Milter.TEMPFAIL
    assert h.reply == ('451', '4.4.3',
                       'Found a problem processing SFP for a@sender.example. Error: DNS timeout')


def test_cache_hit_is_logged_and_decides_the_same():
    h = Harness(sender_example='fail')
    h.connect()
    assert h.mail('<a@sender.example>') == Milter.REJECT
    assert h.mail('<b@sender.example>') == Milter.REJECT
    assert len(h.checker.calls) == 1
    assert h.logs[-2].startswith('SPF fail (cached): ip=192.0.2.1')
    assert h.logs[-1].startswith('SPF refused: 550 5.7.23 by RefuseFail (SPF fail), ip=')


def test_one_spf_fail_line_per_refused_message():
    # a fail2ban-style pattern counts each refused message once
    import re
    h = Harness(sender_example='fail')
    h.connect()
    h.mail('<a@sender.example>')
    assert len([l for l in h.logs if re.search(r'SPF fail: .*ip=', l)]) == 1


QUEUE_ID = '4F2A1C0B3D'


def test_decision_lines_carry_the_queue_id_given_at_mail_from():
    # sendmail has its queue ID at MAIL FROM
    h = Harness(sender_example='fail')
    h.connect()
    h.macro('i', QUEUE_ID)
    assert h.mail('<a@sender.example>') == Milter.REJECT
    assert h.logs[0].startswith(QUEUE_ID + ': SPF fail: ip=192.0.2.1, ')
    assert h.logs[1].startswith(QUEUE_ID + ': SPF refused: 550 5.7.23 ')
    assert len(h.logs) == 2


@pytest.mark.parametrize('given_at', ['rcpt', 'eom'])
def test_decision_waits_for_a_later_queue_id_and_is_written_once_with_it(given_at):
    # Postfix opens its queue file after MAIL FROM: the ID comes at a later RCPT or at EOM
    h = Harness(sender_example='softfail')
    h.connect()
    assert h.mail('<a@sender.example>') == Milter.CONTINUE
    assert not any(l.startswith('SPF') for l in h.logs)
    h.rcpt('<b@receiver.test>')
    assert not any(l.startswith('SPF') for l in h.logs)
    if given_at == 'rcpt':
        h.macro('i', QUEUE_ID)
    h.rcpt('<c@receiver.test>')
    h.macro('i', QUEUE_ID)
    h.eom()
    decisions = [l for l in h.logs if 'SPF softfail: ip=192.0.2.1, ' in l]
    assert decisions == [QUEUE_ID + ': SPF softfail: ip=192.0.2.1, fqdn=mx.sender.example, '
                         'helo=mx.sender.example, from=<a@sender.example>']


def test_no_queue_id_by_the_end_of_message_the_line_is_written_without_prefix():
    h = Harness(sender_example='pass')
    h.connect()
    h.mail('<a@sender.example>')
    h.rcpt('<b@receiver.test>')
    h.eom()
    assert [l for l in h.logs if l.startswith('SPF')] == [h.logs[0]]
    assert h.logs[0].startswith('SPF pass: ip=192.0.2.1, ')


@pytest.mark.parametrize('ending', ['abort', 'close', 'next mail'])
def test_held_decision_is_written_when_the_message_ends_without_a_queue_id(ending):
    h = Harness(sender_example='pass', other_example='fail')
    h.connect()
    h.mail('<a@sender.example>')
    assert h.logs == []
    if ending == 'abort':
        h.ctx._abort()
    elif ending == 'close':
        h.ctx._close()
    else:
        assert h.mail('<b@other.example>') == Milter.REJECT
    assert h.logs[0].startswith('SPF pass: ip=192.0.2.1, ')
    assert h.logs.count(h.logs[0]) == 1


def test_refusal_at_mail_from_is_written_at_once_without_waiting():
    h = Harness(sender_example='fail')
    h.connect()
    assert h.mail('<a@sender.example>') == Milter.REJECT
    assert h.logs[0].startswith('SPF fail: ip=192.0.2.1, ')
    assert h.logs[1].startswith('SPF refused: 550 5.7.23 ')


def test_refusal_at_rcpt_is_written_at_once_with_the_held_decision_before_it():
    h = Harness('WhitelistTo whitelisted@receiver.test', sender_example='fail')
    h.connect()
    assert h.mail('<a@sender.example>') == Milter.CONTINUE
    assert h.logs == []
    assert h.rcpt('<b@receiver.test>') == Milter.REJECT
    assert h.logs[0].startswith('SPF fail: ip=192.0.2.1, ')
    assert h.logs[1].startswith('SPF refused: 550 5.1.1 by RefuseFail (SPF fail)')


def test_cache_key_is_client_ip_and_domain():
    h = Harness(sender_example='pass', other_example='pass')
    h.connect()
    h.mail('<a@sender.example>')
    h.mail('<a@other.example>')
    h.connect(ip='192.0.2.2')
    h.mail('<a@sender.example>')
    assert len(h.checker.calls) == 3


def test_temperror_is_not_cached():
    h = Harness(sender_example='temperror')
    h.connect()
    h.mail('<a@sender.example>')
    h.mail('<a@sender.example>')
    assert len(h.checker.calls) == 2


def test_ttl_zero_disables_cache():
    h = Harness('TTL 0', sender_example='pass')
    h.connect()
    h.mail('<a@sender.example>')
    h.mail('<a@sender.example>')
    assert len(h.checker.calls) == 2


# -- client IP rewriting -----------------------------------------------------------

def test_fixed_client_ip_is_evaluated():
    h = Harness('FixedClientIP 198.51.100.1', sender_example='pass')
    h.connect(ip='203.0.113.9')
    h.mail('<a@sender.example>')
    assert h.checker.calls[0][0] == '198.51.100.1'


@pytest.mark.parametrize('line,client,evaluated', [
    ('ClientIPNAT 203.0.113.9:198.51.100.1', '203.0.113.9', '198.51.100.1'),
    ('ClientIPNAT [2001:db8::9]:[2001:db8::1]', '2001:db8::9', '2001:db8::1'),
    ('ClientIPNAT 203.0.113.9:198.51.100.1', '::ffff:203.0.113.9', '198.51.100.1'),
])
def test_client_ip_nat(line, client, evaluated):
    h = Harness(line, 'FixedClientIP 192.0.2.99', sender_example='pass')
    h.connect(ip=client)
    h.mail('<a@sender.example>')
    assert h.checker.calls[0][0] == evaluated
    assert ('Found  NAT IP address. Original: %s . ' % client.replace('::ffff:', '')
            ) in h.logs[0]
    assert h.logs[0].endswith('(%s)' % evaluated)


# -- RCPT TO ----------------------------------------------------------------------

def test_bad_recipient_syntax():
    h = Harness(sender_example='pass')
    h.connect()
    h.mail('<a@sender.example>')
    assert h.rcpt('<bob>') == Milter.REJECT
    assert h.reply == ('550', '5.1.3', 'Recipient address does not conform to RFC-2821 syntax')
    h = Harness('SoftFail on', sender_example='pass')
    h.connect()
    h.mail('<a@sender.example>')
    assert h.rcpt('<bob>') == Milter.TEMPFAIL and h.reply[:2] == ('450', '4.1.3')


def test_whitelist_to_moves_fail_refusal_to_rcpt():
    h = Harness('WhitelistTo postmaster@', sender_example='fail')
    h.connect()
    assert h.mail('<a@sender.example>') == Milter.CONTINUE
    assert h.rcpt('<PostMaster@receiver.test>') == Milter.CONTINUE
    assert h.rcpt('<bob@receiver.test>') == Milter.REJECT
    assert h.reply == ('550', '5.1.1', REASON % ('a@sender.example', '192.0.2.1'))
    h = Harness('WhitelistTo postmaster@', 'SoftFail on', sender_example='fail')
    h.connect()
    h.mail('<a@sender.example>')
    assert h.rcpt('<bob@receiver.test>') == Milter.TEMPFAIL and h.reply[:2] == ('450', '4.1.1')


def test_quarantine_redirects_failing_mail():
    h = Harness('RefuseFail off', 'Quarantine on', 'QuarantineBox spam@receiver.test',
                'TagSubject off', 'AddHeader off', sender_example='fail')
    h.connect()
    h.mail('<a@sender.example>')
    h.rcpt('<bob@receiver.test>')
    h.rcpt('<carol@receiver.test>')
    h.eom()
    assert h.ctx.edits == [
        ('addrcpt', 'spam@receiver.test'),
        ('addheader', 'X-SPF-Original-To', '<bob@receiver.test>'),
        ('delrcpt', '<bob@receiver.test>'),
        ('addheader', 'X-SPF-Original-To', '<carol@receiver.test>'),
        ('delrcpt', '<carol@receiver.test>'),
    ]


def test_quarantine_ignores_passing_mail():
    h = Harness('Quarantine on', 'AddHeader off', sender_example='pass')
    h.connect()
    h.mail('<a@sender.example>')
    h.rcpt('<bob@receiver.test>')
    h.eom()
    assert h.ctx.edits == []


# -- state across messages of one connection ----------------------------------------

def test_second_message_starts_clean():
    h = Harness('RefuseFail off', 'Quarantine on', sender_example='fail', good_example='pass')
    h.connect()
    h.mail('<a@sender.example>')
    h.rcpt('<bob@receiver.test>')
    h.header('Subject', 'first')
    h.eom()
    h.ctx.edits = []
    h.mail('<a@good.example>')
    h.rcpt('<carol@receiver.test>')
    h.eom()
    assert [e[0] for e in h.ctx.edits] == ['insheader']
    assert 'spf=pass' in h.ctx.edits[0][2]


def test_abort_resets_message_state():
    h = Harness('RefuseFail off', sender_example='fail', good_example='pass')
    h.connect()
    h.mail('<a@sender.example>')
    h.header('Subject', 'first')
    h.ctx._priv.abort()
    assert h.ctx._priv.subject is None and h.ctx._priv.result is None


def test_internal_error_passes_mail_and_logs():
    h = Harness(sender_example='pass')

    def explode(*args, **kwargs):
        raise RuntimeError('boom')
    h.checker.check = explode
    h.services.spf.checker = h.checker
    h.connect()
    assert h.mail('<a@sender.example>') == Milter.ACCEPT
    assert any('internal error at MAIL FROM' in l for l in h.logs)


def test_concurrent_connections_keep_their_own_state():
    """libmilter runs each connection in its own thread; DNS waits release the GIL."""
    import threading
    import time as _time
    h = Harness('RefuseFail off', 'TTL 0', good_example='pass', bad_example='fail')
    slow_check = h.checker.check

    def slow(ip, sender, helo, timeout=None):
        _time.sleep(0.002)
        return slow_check(ip, sender, helo, timeout)
    h.checker.check = slow
    failures = []

    def session(n):
        ctx = RecordingCtx()
        ctx._setsymval('j', 'mx.receiver.test')
        domain = 'good.example' if n % 2 else 'bad.example'
        try:
            ctx._connect('client%d.example' % n, 'helo%d.example' % n, '192.0.2.%d' % (n + 1))
            for m in range(5):
                ctx.edits = []
                ctx._envfrom('<u%d.%d@%s>' % (n, m, domain))
                ctx._envrcpt('<rcpt@receiver.test>')
                ctx._eom()
                expected = ('insheader', AR, 'mx.receiver.test; spf=%s smtp.mailfrom=u%d.%d@%s '
                            'smtp.helo=helo%d.example' % ('pass' if n % 2 else 'fail', n, m,
                                                          domain, n))
                if expected not in ctx.edits:
                    failures.append((n, m, ctx.edits))
        except Exception as exc:
            failures.append((n, exc))

    threads = [threading.Thread(target=session, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert len(h.checker.calls) == 80


def test_every_edit_operation_has_its_libmilter_call():
    from smf_spf import milter, outcomes
    assert sorted(milter._EDIT_CALLS) == sorted(outcomes.EDIT_OPERATIONS)
