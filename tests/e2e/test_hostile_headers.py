"""Hostile HELO, sender and headers through a real Postfix and smf-spf (issue 8).

What arrives at the sink is read back with the `authres` package, as a downstream
consumer (SpamAssassin, OpenDMARC) would read our trusted Authentication-Results.
"""

import email
import email.header
import email.policy
import smtplib
import uuid

import authres
import pytest

from services import mail_path_with

OUR_ID = 'mx.receiver.test'

@pytest.fixture(scope='module')
def hostile_path(workdir, dns_server):
    """Its own Postfix and milter: WhitelistFrom and an alias id, on top of the defaults."""
    with mail_path_with(workdir, 'hostile', 'AddReceivedHeader on', 'RefuseFail on',
                        'WhitelistFrom @friends.e2e.test',
                        'AuthservIDAlias mx2.receiver.test') as path:
        yield path


def send_raw(postfix, mail_from, helo='client.e2e.test', headers=(), subject=None,
             rcpt='bob@receiver.test'):
    """One message, MAIL FROM given verbatim (bytes allowed), extra header lines first."""
    marker = uuid.uuid4().hex
    lines = [h if isinstance(h, bytes) else h.encode('ascii') for h in headers]
    if subject is None:
        subject = marker.encode('ascii')
    lines += [b'From: <x@e2e.test>', b'To: <' + rcpt.encode('ascii') + b'>',
              b'Subject: ' + subject, b'Message-ID: <' + marker.encode('ascii') + b'@e2e.test>',
              b'', b'test ' + marker.encode('ascii'), b'']
    client = smtplib.SMTP('127.0.0.1', postfix.port,
                          local_hostname=helo if isinstance(helo, str) else 'unused', timeout=60)
    try:
        if isinstance(helo, bytes):
            client.send(b'EHLO ' + helo + b'\r\n')
            code, client.helo_resp = client.getreply()
            assert code == 250
        client.ehlo_or_helo_if_needed()
        if isinstance(mail_from, str):
            mail_from = mail_from.encode('ascii')
        client.send(b'MAIL FROM:' + mail_from + b'\r\n')
        code, reply = client.getreply()
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, reply, mail_from)
        code, reply = client.rcpt('<%s>' % rcpt)
        if code != 250:
            raise smtplib.SMTPRecipientsRefused({rcpt: (code, reply)})
        code, reply = client.data(b'\r\n'.join(lines))
        if code != 250:
            raise smtplib.SMTPDataError(code, reply)
    finally:
        client.quit()
    return marker


def header_values(message, name):
    parsed = email.message_from_bytes(message.encode('utf-8', 'surrogateescape'),
                                      policy=email.policy.compat32)
    return [str(value) for value in parsed.get_all(name, [])]


def field_order(message):
    head = message.split('\n\n', 1)[0]
    return [line.split(':', 1)[0] for line in head.split('\n') if line and line[0] not in ' \t']


def our_results(message):
    """authres's reading of every Authentication-Results naming our authserv-id."""
    mine = []
    for value in header_values(message, 'Authentication-Results'):
        parsed = authres.AuthenticationResultsHeader.parse(
            'Authentication-Results: ' + ' '.join(value.split()))
        if parsed.authserv_id.lower() in (OUR_ID, 'mx2.receiver.test'):
            mine.append(parsed)
    return mine


def spf_resinfos(parsed):
    return [(r.result, {p.name: p.value for p in r.properties})
            for r in parsed.results if r.method == 'spf']


def test_multi_word_helo_cannot_add_a_pass(hostile_path):
    postfix, milter, sink = hostile_path
    marker = send_raw(postfix, '<eve@softfail.e2e.test>',
                      helo='x; spf=pass smtp.mailfrom=ceo@bank.example')
    message = sink.wait_for(marker)
    mine = our_results(message)
    assert len(mine) == 1
    assert spf_resinfos(mine[0]) == [('softfail', {'mailfrom': 'eve@softfail.e2e.test'})]
    received = header_values(message, 'Received-SPF')
    assert len(received) == 1 and 'helo="x; spf=pass smtp.mailfrom=ceo@bank.example";' in \
        received[0]


def test_quoted_local_part_cannot_add_a_pass(hostile_path):
    postfix, milter, sink = hostile_path
    marker = send_raw(postfix, '<"a;spf=pass"@softfail.e2e.test>')
    message = sink.wait_for(marker)
    mine = our_results(message)
    assert len(mine) == 1
    assert spf_resinfos(mine[0]) == [
        ('softfail', {'mailfrom': '"a;spf=pass"@softfail.e2e.test', 'helo': 'client.e2e.test'})]
    assert 'envelope-from="\\"a;spf=pass\\"@softfail.e2e.test";' in \
        header_values(message, 'Received-SPF')[0]


def test_empty_sender_with_hostile_helo_names_no_address(hostile_path):
    """postmaster@<a HELO that is no domain name> is not written: a reader could take the
    text after its last '@' for a domain that was checked."""
    postfix, milter, sink = hostile_path
    marker = send_raw(postfix, '<>', helo='x; spf=pass')
    message = sink.wait_for(marker)
    mine = our_results(message)
    assert len(mine) == 1
    results = spf_resinfos(mine[0])
    assert results == [('none', {})]


def test_forged_authentication_results_are_removed_foreign_ones_stay(hostile_path):
    postfix, milter, sink = hostile_path
    forged = ['Authentication-Results: mx.receiver.test; spf=pass '
              'smtp.mailfrom=ceo@bank.example',
              'Authentication-Results: other.example; dkim=pass header.d=other.example',
              'authentication-results: (sneaky) MX.Receiver.TEST; dkim=pass',
              'Authentication-Results: mx2.receiver.test; dmarc=pass',
              'X-Between: kept']
    marker = send_raw(postfix, '<alice@pass.e2e.test>', headers=forged)
    message = sink.wait_for(marker)
    values = header_values(message, 'Authentication-Results')
    assert values == [
        'mx.receiver.test; spf=pass smtp.mailfrom=alice@pass.e2e.test smtp.helo=client.e2e.test',
        'other.example; dkim=pass header.d=other.example']
    order = field_order(message)
    # ours at the top: Postfix puts index 0 just below its own Received:
    assert order.index('Authentication-Results') == order.index('Received') + 1
    assert 'X-Between' in order
    milter.wait_for_log('removed forged Authentication-Results header #4 claiming authserv-id '
                        'mx2.receiver.test')
    log = milter.log()
    assert 'header #3 claiming authserv-id MX.Receiver.TEST' in log
    assert 'header #1 claiming authserv-id mx.receiver.test' in log


def test_forged_authentication_results_removed_for_whitelisted_sender(hostile_path):
    postfix, milter, sink = hostile_path
    marker = send_raw(postfix, '<boss@friends.e2e.test>',
                      headers=['Authentication-Results: mx.receiver.test; spf=pass',
                               'Authentication-Results: other.example; spf=none'])
    message = sink.wait_for(marker)
    assert header_values(message, 'Authentication-Results') == ['other.example; spf=none']
    assert header_values(message, 'Received-SPF') == []
    milter.wait_for_log('SPF skip : from=<boss@friends.e2e.test> whitelisted by WhitelistFrom')


def test_eight_bit_subject_is_tagged_without_losing_a_byte(hostile_path):
    postfix, milter, sink = hostile_path
    marker = send_raw(postfix, '<eve@softfail.e2e.test>', subject=b'caf\xe9 cr\xe8me')
    message = sink.wait_for(marker)
    subjects = header_values(message, 'Subject')
    assert len(subjects) == 1
    assert spf_resinfos(our_results(message)[0])[0][0] == 'softfail'
    # pymilter 1.0.5 passes the header's bytes; with 1.0.4 (el7) the guard
    # (smf_spf/_symguard.c) hands them over instead of pymilter's strict decoding
    decoded = email.header.decode_header(subjects[0])
    assert decoded[0][0] in (b'[SPF:fail] ', b'[SPF:fail]')
    assert b''.join(part for part, charset in decoded[1:]) == b'caf\xe9 cr\xe8me'


def test_eight_bit_mail_from_still_gets_authentication_results(hostile_path):
    postfix, milter, sink = hostile_path
    marker = send_raw(postfix, b'<caf\xe9@softfail.e2e.test>')
    message = sink.wait_for(marker)
    mine = our_results(message)
    assert len(mine) == 1
    assert spf_resinfos(mine[0]) == [
        ('softfail', {'mailfrom': '@softfail.e2e.test', 'helo': 'client.e2e.test'})]


def test_eight_bit_mail_from_of_a_failing_domain_is_refused(hostile_path):
    """Never a bypass: pymilter 1.0.5 passes the bytes to MAIL FROM; 1.0.4 skips that
    callback, and the milter decides at RCPT TO from the {mail_addr} macro."""
    postfix, milter, sink = hostile_path
    with pytest.raises((smtplib.SMTPSenderRefused, smtplib.SMTPRecipientsRefused)) as info:
        send_raw(postfix, b'<caf\xe9@fail.e2e.test>')
    if isinstance(info.value, smtplib.SMTPSenderRefused):
        code, reply = info.value.smtp_code, info.value.smtp_error
    else:
        code, reply = list(info.value.recipients.values())[0]
    assert code == 550 and reply.startswith(b'5.7.23 ')


def test_eight_bit_helo_no_longer_defers_the_session(hostile_path):
    """pymilter (every version) decodes HELO as strict UTF-8 in C and answered 451 4.3.0
    for the whole session; the guard (smf_spf/_symguard.c) hands us the bytes, kept as
    surrogate escapes: the message is checked, and a HELO that is no domain name is left
    out of Authentication-Results."""
    postfix, milter, sink = hostile_path
    marker = send_raw(postfix, '<alice@pass.e2e.test>', helo=b'caf\xe9.example')
    message = sink.wait_for(marker)
    mine = our_results(message)
    assert spf_resinfos(mine[0]) == [('pass', {'mailfrom': 'alice@pass.e2e.test'})]
    milter.wait_for_log('helo=caf')     # the check ran with the HELO it was given
