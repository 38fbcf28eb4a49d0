"""Forged Authentication-Results removal, skip paths that still reach EOM, 8-bit values,
short error replies, quarantine edits: pure policy first, then through pymilter's TestCtx
(its own addheader/chgheader, no test double)."""

import email
import email.header
import io
import sys

import Milter
import pytest
from Milter import testctx

from smf_spf import c_rules
from smf_spf.spfcheck import SpfResult
from miltertools import config_of as conf, CONNECTION, Harness as RecordingHarness, MtaCtx


class Harness(RecordingHarness):
    """The shared harness on MtaCtx (pymilter's TestCtx as an MTA drives it): its own
    addheader and chgheader."""

    def connect(self, ip='192.0.2.1', host='mx.sender.example', helo='mx.sender.example'):
        self.ctx = MtaCtx()
        self.ctx._setsymval('j', 'mx.receiver.test')
        return self.ctx._connect(host, helo, ip)

AR = 'Authentication-Results'


# -- which incoming fields are ours to remove (pure) ------------------------------

def test_forged_fields_are_found_case_insensitively_highest_index_first():
    values = ['mx.receiver.test; spf=pass', 'other.example; spf=pass',
              '(c) MX.RECEIVER.TEST; dkim=pass', 'mx.receiver.test.evil; spf=pass']
    assert c_rules.forged_auth_results(conf(), CONNECTION, values) == (
        (3, 'MX.RECEIVER.TEST'), (1, 'mx.receiver.test'))


def test_authserv_id_and_aliases_are_ours_not_the_mta_name_then():
    values = ['mx.receiver.test; spf=pass', 'mail.example.com; spf=pass',
              'mx2.example.com; spf=pass', 'mx3.example.com; spf=pass']
    config = conf('AuthservID mail.example.com', 'AuthservIDAlias mx2.example.com',
                  'AuthservIDAlias MX3.example.com, mx4.example.com')
    assert config.authserv_id_aliases == ('mx2.example.com', 'MX3.example.com',
                                          'mx4.example.com')
    assert [index for index, _ in c_rules.forged_auth_results(config, CONNECTION, values)] == \
        [4, 3, 2]


def test_removal_can_be_turned_off():
    config = conf('RemoveForgedAuthResults off')
    assert config.remove_forged_auth_results is False
    assert c_rules.forged_auth_results(config, CONNECTION, ['mx.receiver.test; spf=pass']) == ()
    assert conf().remove_forged_auth_results is True


def test_eom_edits_remove_first_then_tag_and_insert_ours():
    mail = c_rules.Mail('<a@x.example>', 'a', 'x.example', 'mailfrom', 'h.example')
    edits = c_rules.on_eom(conf(), CONNECTION, mail, 'softfail', 'hi', [],
                          ['mx.receiver.test; spf=pass', 'x; y', 'mx.receiver.test; z'])
    assert [(e.operation, e.index) for e in edits] == [
        ('delheader', 3), ('delheader', 1), ('chgheader', 1), ('insheader', 0)]


def test_eom_of_an_unchecked_message_only_removes():
    edits = c_rules.on_eom(conf(), CONNECTION, None, None, 'hi', [],
                          ['mx.receiver.test; spf=pass'])
    assert edits == [c_rules.Edit('delheader', AR, 'mx.receiver.test', 1)]


@pytest.mark.parametrize('lines,raw,kwargs', [
    (('WhitelistFrom @friends.example',), '<a@friends.example>', {}),
    (('SkipNDR on',), '<>', {}),
    ((), '<a@x.example>', {'auth_authen': 'alice'}),
    ((), '<a@x.example>', {'verify': 'OK'}),
])
def test_skips_continue_to_eom_unless_removal_is_off(lines, raw, kwargs):
    verdict, mail = c_rules.on_mail(conf(*lines), CONNECTION, raw, 'h.example', **kwargs)
    assert (verdict.action, mail) == (c_rules.CONTINUE, None)
    assert verdict.logs and verdict.logs[0][1].startswith('SPF skip : ')
    verdict, mail = c_rules.on_mail(conf('RemoveForgedAuthResults off', *lines), CONNECTION, raw,
                                   'h.example', **kwargs)
    assert (verdict.action, mail) == (c_rules.ACCEPT, None)


# -- through pymilter's TestCtx --------------------------------------------------------

def feed(harness, message, sender, rcpt='bob@receiver.test', ip='192.0.2.1',
         helo='mx.sender.example'):
    ctx = MtaCtx()
    ctx._setsymval('j', 'mx.receiver.test')
    harness.ctx = ctx
    assert ctx._connect('mx.sender.example', helo, ip) == Milter.CONTINUE
    return ctx, ctx._feedFile(io.BytesIO(message), sender, rcpt)


FORGED = (b'Authentication-Results: mx.receiver.test; spf=pass smtp.mailfrom=ceo@bank.example\n'
          b'From: <boss@friends.example>\nSubject: hi\n\nbody\n')


def test_whitelisted_sender_reaches_eom_and_loses_the_forged_field():
    h = Harness('WhitelistFrom @friends.example', friends_example='fail')
    ctx, rc = feed(h, FORGED, 'boss@friends.example')
    assert rc == Milter.CONTINUE
    assert h.checker.calls == []
    assert ctx._msg.get_all(AR) is None
    assert 'removed forged Authentication-Results header #1 claiming authserv-id ' \
           'mx.receiver.test' in h.logs


def test_forged_field_removal_is_logged_with_the_queue_id():
    """The removal line carries the MTA's queue ID like every other line of the message
    (the ID comes with MAIL FROM from Sendmail, at end of message from Postfix)."""
    h = Harness(sender_example='pass')
    ctx = MtaCtx()
    ctx._setsymval('j', 'mx.receiver.test')
    ctx._setsymval('i', '4AB3C2D1E0')
    h.ctx = ctx
    assert ctx._connect('mx.sender.example', 'mx.sender.example', '192.0.2.1') == Milter.CONTINUE
    assert ctx._feedFile(io.BytesIO(FORGED), 'a@sender.example', 'bob@receiver.test') == \
        Milter.CONTINUE
    assert '4AB3C2D1E0: removed forged Authentication-Results header #1 claiming ' \
           'authserv-id mx.receiver.test' in h.logs
    assert ctx._msg.get_all(AR) == ['mx.receiver.test; spf=pass '
                                    'smtp.mailfrom=a@sender.example smtp.helo=mx.sender.example']


def test_whitelisted_sender_with_removal_off_is_accepted_at_mail():
    h = Harness('WhitelistFrom @friends.example', 'RemoveForgedAuthResults off')
    ctx, rc = feed(h, FORGED, 'boss@friends.example')
    assert rc == Milter.ACCEPT
    assert ctx._msg.get_all(AR) == ['mx.receiver.test; spf=pass smtp.mailfrom=ceo@bank.example']


def test_unchecked_message_skips_recipient_checks():
    h = Harness('WhitelistFrom @friends.example')
    h.connect()
    assert h.mail('<boss@friends.example>') == Milter.CONTINUE
    assert h.rcpt('<no-at-sign>') == Milter.CONTINUE       # C had accepted at MAIL FROM


def test_checked_message_gets_ours_in_place_of_the_forged_one():
    h = Harness(sender_example='softfail')
    ctx, rc = feed(h, FORGED.replace(b'boss@friends', b'a@sender'), 'a@sender.example')
    assert ctx._msg.get_all(AR) == [
        'mx.receiver.test; spf=softfail smtp.mailfrom=a@sender.example '
        'smtp.helo=mx.sender.example']


def _feed_subject(h, raw_subject):
    """The Subject as pymilter decodes it: Milter.Base.header_bytes (1.0.5 and later)
    or, on 1.0.4, the surrogate-escaped text the milter gets from the same bytes."""
    h.connect()
    h.mail('<a@sender.example>')
    h.rcpt('<b@receiver.test>')
    if hasattr(h.ctx._priv, 'header_bytes'):
        h.ctx._priv.header_bytes('Subject', raw_subject)
    else:
        h.ctx._priv.header('Subject', raw_subject.decode('utf-8', 'surrogateescape'))
    h.ctx._msg = email.message_from_string('Subject: x\n\n')
    return h.eom()


def test_eight_bit_subject_is_tagged_keeping_every_byte():
    h = Harness('RefuseFail off', sender_example='fail')
    assert _feed_subject(h, b'caf\xe9 cr\xe8me') == Milter.CONTINUE
    tagged = h.ctx._msg.get_all('Subject')[-1]
    tagged.encode('utf-8')                   # what pymilter's C module will encode
    parts = email.header.decode_header(tagged)
    assert parts[0][0] in (b'[SPF:fail] ', b'[SPF:fail]')
    assert b''.join(part for part, _ in parts[1:]) == b'caf\xe9 cr\xe8me'
    assert not [line for line in h.logs if 'cannot' in line]


def test_utf8_subject_is_tagged_as_it_is():
    h = Harness('RefuseFail off', sender_example='fail')
    _feed_subject(h, 'caf\u00e9'.encode('utf-8'))
    assert h.ctx._msg.get_all('Subject')[-1] == '[SPF:fail] caf\u00e9'


def test_eight_bit_mail_from_gets_authentication_results():
    h = Harness(sender_example='softfail')
    h.connect()
    raw = b'<caf\xe9@sender.example>'
    priv = h.ctx._priv
    h.ctx._stage = Milter.M_ENVFROM
    if hasattr(priv, 'envfrom_bytes'):
        assert priv.envfrom_bytes(raw) == Milter.CONTINUE
    else:
        assert priv.envfrom(raw.decode('utf-8', 'surrogateescape')) == Milter.CONTINUE
    h.ctx._stage = None
    h.rcpt('<b@receiver.test>')
    h.ctx._msg = email.message_from_string('Subject: x\n\n')
    h.eom()
    value = h.ctx._msg.get_all(AR)[-1]
    value.encode('utf-8')
    assert value == ('mx.receiver.test; spf=softfail smtp.mailfrom=@sender.example '
                     'smtp.helo=mx.sender.example')


def quarantined_for_bob():
    """A failing message to bob with Quarantine on, up to its end of message."""
    h = Harness('RefuseFail off', 'Quarantine on', 'QuarantineBox spam@receiver.test',
                sender_example='fail')
    h.connect()
    h.mail('<a@sender.example>')
    h.rcpt('<bob@receiver.test>')
    h.ctx._msg = email.message_from_string('Subject: x\n\n')
    return h


def test_quarantine_header_only_when_the_box_was_added():
    h = quarantined_for_bob()
    h.ctx._priv._actions &= ~Milter.ADDRCPT     # the MTA did not grant adding recipients
    assert h.eom() == Milter.CONTINUE
    assert h.ctx._msg.get_all('X-SPF-Original-To') is None
    assert h.ctx._delrcpt == [] and h.ctx._addrcpt == []
    assert any('cannot addrcpt spam@receiver.test' in line for line in h.logs)
    assert any('quarantine box not added: <bob@receiver.test> keeps the message' in line
               for line in h.logs)


def test_quarantine_header_when_the_box_was_added():
    h = quarantined_for_bob()
    h.ctx._body = io.BytesIO()
    h.ctx._priv.eom()
    assert h.ctx._msg.get_all('X-SPF-Original-To') == ['<bob@receiver.test>']
    assert h.ctx._delrcpt == ['<bob@receiver.test>']


# -- replies -------------------------------------------------------------------------

DNSPYTHON_TIMEOUT = (
    'The DNS operation timed out after 20.002 seconds; All nameservers failed to answer the '
    'query _spf.example.com. IN TXT: Server 192.0.2.53 UDP port 53 answered The DNS operation '
    'timed out.; ' * 8)


def test_temperror_reply_is_short_and_names_no_nameserver():
    h = Harness('AcceptTempError off',
                sender_example=SpfResult('temperror', DNSPYTHON_TIMEOUT))
    h.connect()
    assert h.mail('<a@sender.example>') == Milter.TEMPFAIL
    assert h.reply == ('451', '4.4.3',
                       'Found a problem processing SFP for a@sender.example. Error: DNS timeout')
    assert any('192.0.2.53' in line for line in h.logs)     # the detail is in the log


def test_reply_with_a_long_sender_fits_one_line():
    h = Harness(sender_example='fail')
    h.connect()
    sender = '%s@sender.example' % ('x' * 60)
    h.mail('<%s>' % sender)
    code, xcode, text = h.reply
    assert len('%s %s %s\r\n' % (code, xcode, text.replace('%%', '%'))) <= 512


# -- values pymilter cannot decode (1.0.4: MAIL FROM and header values) ----------------

class StrictMacroCtx(MtaCtx):
    """getsymval as pymilter 1.0.4's C module behaves for a value that is not UTF-8."""

    def getsymval(self, name):
        value = testctx.TestCtx.getsymval(self, name)
        if isinstance(value, bytes):
            value.decode('utf-8')            # raises UnicodeDecodeError, as C's "s" does
        return value


def _connect_strict(h, mail_addr):
    h.ctx = StrictMacroCtx()
    h.ctx._setsymval('j', 'mx.receiver.test')
    h.ctx._connect('mx.sender.example', 'mx.sender.example', '192.0.2.1')
    if mail_addr is not None:
        h.ctx._setsymval('{mail_addr}', mail_addr)


def test_mail_from_pymilter_skipped_is_decided_at_every_rcpt():
    h = Harness(sender_example='fail')
    _connect_strict(h, b'caf\xe9@sender.example')       # envfrom never ran
    assert h.rcpt('<b@receiver.test>') == Milter.REJECT
    assert h.reply[:2] == ('550', '5.7.23')
    assert h.rcpt('<c@receiver.test>') == Milter.REJECT
    assert h.reply[:2] == ('550', '5.7.23')
    assert len(h.checker.calls) == 1          # the second one from the cache
    assert h.checker.calls[0][1] == 'caf\udce9@sender.example'


def test_mail_from_pymilter_skipped_still_gets_authentication_results():
    h = Harness(sender_example='softfail')
    _connect_strict(h, b'caf\xe9@sender.example')
    assert h.rcpt('<b@receiver.test>') == Milter.CONTINUE
    h.ctx._msg = email.message_from_string('Subject: x\n\n')
    h.eom()
    assert h.ctx._msg.get_all(AR) == ['mx.receiver.test; spf=softfail '
                                      'smtp.mailfrom=@sender.example smtp.helo=mx.sender.example']


def test_unreadable_mail_from_is_deferred_not_passed_unchecked():
    h = Harness(sender_example='fail')
    _connect_strict(h, None)
    assert h.rcpt('<b@receiver.test>') == Milter.TEMPFAIL
    assert h.reply == ('451', '4.3.0', 'Sender address could not be read')
    assert h.rcpt('<c@receiver.test>') == Milter.TEMPFAIL


def test_undecodable_value_is_counted_and_no_second_subject_added(monkeypatch):
    import sys
    from smf_spf import milter
    seen = []
    monkeypatch.setattr(sys, 'excepthook', lambda *args: seen.append(args))
    undecoded = milter._Undecoded()
    monkeypatch.setattr(milter, 'UNDECODED', undecoded)
    h = Harness('RefuseFail off', sender_example='softfail')
    undecoded.install(h.log)
    h.connect()
    h.mail('<a@sender.example>')
    h.rcpt('<b@receiver.test>')
    try:
        b'Subject \xe9'.decode('utf-8')
    except UnicodeDecodeError:
        sys.excepthook(*sys.exc_info())          # what pymilter's PyErr_Print calls
    sys.excepthook(ValueError, ValueError('x'), None)
    assert undecoded.count == 1 and [s[0] for s in seen] == [ValueError]
    h.ctx._msg = email.message_from_string('From: x\n\n')
    h.eom()
    assert h.ctx._msg.get_all('Subject') is None
    assert 'no Subject seen, but a header pymilter could not decode may be it: none added' \
        in h.logs


def _undecodable_in_a_thread(in_this_thread):
    """What pymilter's PyErr_Print does for a header it cannot decode, from this thread
    or from another one (another session's, where libmilter runs one per session)."""
    import sys
    import threading

    def fail():
        try:
            b'Subject \xe9'.decode('utf-8')
        except UnicodeDecodeError:
            sys.excepthook(*sys.exc_info())
    if in_this_thread:
        fail()
    else:
        other = threading.Thread(target=fail)
        other.start()
        other.join()


@pytest.mark.parametrize('per_thread, in_this_thread, subject_added', [
    (True, False, True),        # another session's header: this one adds its Subject
    (True, True, False),        # its own: a Subject may have been withheld, none added
    (False, False, False),      # a worker pool: any session's counts for every one
])
def test_an_undecodable_header_counts_for_its_own_session_where_threads_are_sessions(
        monkeypatch, per_thread, in_this_thread, subject_added):
    from smf_spf import milter
    undecoded = milter._Undecoded()
    monkeypatch.setattr(milter, 'UNDECODED', undecoded)
    h = Harness('RefuseFail off', sender_example='softfail')
    monkeypatch.setattr(sys, 'excepthook', lambda *args: None)
    undecoded.install(h.log, per_thread=per_thread)
    h.connect()
    h.mail('<a@sender.example>')
    h.rcpt('<b@receiver.test>')
    _undecodable_in_a_thread(in_this_thread)
    assert undecoded.count == 1
    h.ctx._msg = email.message_from_string('From: x\n\n')
    h.eom()
    assert (h.ctx._msg.get_all('Subject') == ['[SPF:fail]']) == subject_added


def test_an_untrapped_exception_is_logged_with_what_pymilter_answers_the_mta():
    """serve() gives pymilter the exception policy EXCEPTION_POLICY, which fails open
    (CONTINUE, never pymilter's default 451 4.3.0), and the log line names it."""
    import logging
    from smf_spf import __main__ as process, milter
    records = []
    log = logging.getLogger('test-untrapped')
    handler = logging.Handler()
    handler.emit = records.append
    log.addHandler(handler)
    try:
        process._untrapped_to_log(log)(ValueError, ValueError('x'), None)
    finally:
        log.removeHandler(handler)
    text = records[0].getMessage()
    assert milter.EXCEPTION_POLICY == Milter.CONTINUE
    assert 'the MTA is told %s: the message goes on' % milter.EXCEPTION_POLICY_NAME in text
    assert '451' not in text and text.endswith('ValueError: x')


def test_mail_from_skipped_after_a_refused_one_is_still_checked():
    """A refused MAIL FROM, then one pymilter cannot decode: its RCPT must not pass unchecked."""
    h = Harness(sender_example='fail', other_example='pass')
    _connect_strict(h, b'caf\xe9@sender.example')
    assert h.mail('<x@other.example') == Milter.REJECT     # syntax: no closing bracket
    assert h.rcpt('<b@receiver.test>') == Milter.REJECT    # the 8-bit one, read at RCPT
    assert h.reply[:2] == ('550', '5.7.23')
