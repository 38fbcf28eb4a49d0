"""Real SMTP through a real Sendmail (Debian's, unpacked next to Postfix) and smf-spf,
wired as docs/sendmail.md says, with SPF records from nsd and, for the timeouts, from a
DNS server that answers slowly (issue 18)."""

import email
import email.header
import email.policy
import os
import re
import smtplib
import threading
import uuid

import pytest

from services import (SLOW_DNS_ADDRESS, SENDMAIL_DOC, Milter, Sendmail, SmtpSink,
                      recommended_filter_options)
from slowdns import SlowDns
from smf_spf.config import DEFAULT_SPF_TIMEOUT, mta_timeout_to_set, mta_wait

RECIPIENT = 'bob@receiver.test'
# Sendmail's reply to the end of the message names its queue ID
ACCEPTED = re.compile(r'2\.0\.0 (\w+) Message accepted for delivery')
# what Sendmail logs when it stops waiting for a milter
SENDMAIL_GAVE_UP = ('timeout before data read', 'to error state')


def start_path(workdir, name, *milter_lines):
    directory = os.path.join(workdir, name)
    os.makedirs(directory)
    os.chmod(directory, 0o755)
    sink = SmtpSink(directory).start()
    milter = Milter(directory, *milter_lines).start()
    sendmail = Sendmail(directory, milter.socket, sink.port,
                        recommended_filter_options()).start()
    return sendmail, milter, sink


def stop_path(sendmail, milter, sink):
    sendmail.stop()
    milter.stop()
    sink.stop()


@pytest.fixture(scope='module')
def sendmail_path(workdir, dns_server):
    path = start_path(workdir, 'sendmail-path', 'AddReceivedHeader on', 'RefuseFail on')
    yield path
    stop_path(*path)


def session(sendmail, helo='client.e2e.test'):
    client = smtplib.SMTP('127.0.0.1', sendmail.port, timeout=90)
    if helo is not None:
        code, reply = client.ehlo(helo)
        assert code == 250, reply
    return client


def send(client, sender, subject=None, extra_headers=()):
    """One message in an open session (MAIL FROM sent as is, with no EHLO of its own):
    (marker, Sendmail's queue ID). SMTPSenderRefused when MAIL FROM is refused."""
    marker = uuid.uuid4().hex
    code, reply = client.docmd('MAIL', 'FROM:<%s>' % sender)
    if code != 250:
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    code, reply = client.docmd('RCPT', 'TO:<%s>' % RECIPIENT)
    assert code == 250, reply
    if subject is None:
        subject = marker.encode('ascii')
    lines = [h.encode('ascii') for h in extra_headers] + [
        b'From: <' + sender.encode('ascii') + b'>', b'To: <' + RECIPIENT.encode('ascii') + b'>',
        b'Subject: ' + subject, b'Message-ID: <' + marker.encode('ascii') + b'@e2e.test>',
        b'', b'test ' + marker.encode('ascii'), b'']
    code, reply = client.data(b'\r\n'.join(lines))
    assert code == 250, reply
    return marker, ACCEPTED.match(reply.decode('ascii')).group(1)


def send_one(sendmail, sender, helo='client.e2e.test', **options):
    """One session of one message: send's answer."""
    client = session(sendmail, helo)
    try:
        return send(client, sender, **options)
    finally:
        client.quit()


def header_values(message, name):
    parsed = email.message_from_bytes(message.encode('utf-8', 'surrogateescape'),
                                      policy=email.policy.compat32)
    return [str(value) for value in parsed.get_all(name, [])]


def milter_lines(milter, text):
    return [line for line in milter.log().splitlines() if text in line]


def test_pass_is_delivered_with_headers_and_logged_with_sendmails_queue_id(sendmail_path):
    sendmail, milter, sink = sendmail_path
    marker, queue_id = send_one(sendmail, 'alice@pass.e2e.test')
    message = sink.wait_for(marker)
    assert header_values(message, 'Authentication-Results') == [
        'mx.receiver.test; spf=pass smtp.mailfrom=alice@pass.e2e.test '
        'smtp.helo=client.e2e.test']
    assert 'Received-SPF: Pass (mx.receiver.test: domain of alice@pass.e2e.test' in message
    milter.wait_for_log('from=<alice@pass.e2e.test>')
    lines = milter_lines(milter, 'from=<alice@pass.e2e.test>')
    assert len(lines) == 1, lines
    # Sendmail has its queue ID at MAIL FROM: the line is written then, with it
    assert re.search(r'smf-spf\[\d+\]: %s: SPF pass( \(cached\))?: ip=127\.0\.0\.1, '
                     r'fqdn=localhost, helo=client\.e2e\.test, from=<alice@pass\.e2e\.test>$'
                     % queue_id, lines[0]), lines[0]
    sendmail.wait_for_log('%s: from=<alice@pass.e2e.test>' % queue_id)


def test_fail_is_refused_550_5723_and_both_logs_share_the_queue_id(sendmail_path):
    sendmail, milter, sink = sendmail_path
    with pytest.raises(smtplib.SMTPSenderRefused) as info:
        send_one(sendmail, 'mallory@fail.e2e.test')
    assert info.value.smtp_code == 550
    reply = info.value.smtp_error.decode()
    assert reply.startswith('5.7.23 ')
    assert reply.endswith('Message was rejected during SPF policy evaluation. '
                          'sender:mallory@fail.e2e.test client-ip:127.0.0.1')
    milter.wait_for_log('SPF refused: 550 5.7.23 by RefuseFail (SPF fail), ip=127.0.0.1, '
                        'from=<mallory@fail.e2e.test>')
    refused = milter_lines(milter, 'from=<mallory@fail.e2e.test>')[-1]
    queue_id = re.search(r': (\w+): SPF refused: ', refused).group(1)
    sendmail.wait_for_log('%s: Milter: from=<mallory@fail.e2e.test>, reject=550 5.7.23'
                          % queue_id)


def test_softfail_is_delivered_tagged(sendmail_path):
    sendmail, milter, sink = sendmail_path
    marker, _ = send_one(sendmail, 'eve@softfail.e2e.test', subject=b'hello')
    message = sink.wait_for(marker)
    assert header_values(message, 'Subject') == ['[SPF:fail] hello']
    assert 'spf=softfail smtp.mailfrom=eve@softfail.e2e.test' in message


def test_eight_bit_subject_is_tagged_without_losing_a_byte(sendmail_path):
    sendmail, milter, sink = sendmail_path
    marker, _ = send_one(sendmail, 'eve@softfail.e2e.test', subject=b'caf\xe9 cr\xe8me')
    message = sink.wait_for(marker)
    subjects = header_values(message, 'Subject')
    assert len(subjects) == 1
    decoded = email.header.decode_header(subjects[0])
    assert decoded[0][0] in (b'[SPF:fail] ', b'[SPF:fail]')
    assert b''.join(part for part, charset in decoded[1:]) == b'caf\xe9 cr\xe8me'


def test_messages_with_rset_between_are_each_judged_on_their_own(sendmail_path):
    """One session: a message, a softfail transaction dropped by RSET, a refused fail,
    RSET, a neutral one: no verdict, tag or header carries over."""
    sendmail, milter, sink = sendmail_path
    client = session(sendmail)
    try:
        first, first_id = send(client, 'one@pass.e2e.test')
        assert client.docmd('MAIL', 'FROM:<dropped@softfail.e2e.test>')[0] == 250
        assert client.docmd('RCPT', 'TO:<%s>' % RECIPIENT)[0] == 250
        assert client.rset()[0] == 250
        with pytest.raises(smtplib.SMTPSenderRefused) as info:
            send(client, 'refused@fail.e2e.test')
        assert info.value.smtp_code == 550
        assert client.rset()[0] == 250
        last, last_id = send(client, 'three@neutral.e2e.test', subject=b'untouched')
    finally:
        client.quit()
    assert 'spf=pass smtp.mailfrom=one@pass.e2e.test' in sink.wait_for(first)
    message = sink.wait_for(last)
    assert header_values(message, 'Authentication-Results') == [
        'mx.receiver.test; spf=neutral smtp.mailfrom=three@neutral.e2e.test '
        'smtp.helo=client.e2e.test']
    assert header_values(message, 'Subject') == ['untouched']
    assert len(header_values(message, 'Received-SPF')) == 1
    milter.wait_for_log('from=<three@neutral.e2e.test>')
    assert first_id != last_id
    assert milter_lines(milter, 'from=<three@neutral.e2e.test>')[0].split(': ')[1] == last_id
    assert not any('dropped@softfail.e2e.test' in line and 'SPF:fail' in line
                   for line in milter.log().splitlines())


def test_forged_authentication_results_removal_is_logged_with_the_queue_id(sendmail_path):
    sendmail, milter, sink = sendmail_path
    marker, queue_id = send_one(sendmail, 'ceo@pass.e2e.test', extra_headers=(
        'Authentication-Results: mx.receiver.test; spf=pass smtp.mailfrom=ceo@bank.example',))
    message = sink.wait_for(marker)
    assert header_values(message, 'Authentication-Results') == [
        'mx.receiver.test; spf=pass smtp.mailfrom=ceo@pass.e2e.test smtp.helo=client.e2e.test']
    milter.wait_for_log('%s: removed forged Authentication-Results header #1 claiming '
                        'authserv-id mx.receiver.test' % queue_id)


def test_no_helo_leaves_the_helo_out_of_the_headers(sendmail_path):
    """Sendmail takes MAIL FROM without HELO; C wrote smtp.helo=undefined."""
    sendmail, milter, sink = sendmail_path
    marker, queue_id = send_one(sendmail, 'nohelo@pass.e2e.test', helo=None)
    message = sink.wait_for(marker)
    assert header_values(message, 'Authentication-Results') == [
        'mx.receiver.test; spf=pass smtp.mailfrom=nohelo@pass.e2e.test']
    received_spf = header_values(message, 'Received-SPF')
    assert len(received_spf) == 1 and 'helo=' not in received_spf[0], received_spf
    assert received_spf[0].endswith('envelope-from="nohelo@pass.e2e.test";')
    milter.wait_for_log('%s: SPF pass' % queue_id)
    assert 'helo=undefined, from=<nohelo@pass.e2e.test>' in milter.log()


# -- the documentation's wiring -----------------------------------------------------

def test_documented_read_timeout_outlasts_the_default_spf_timeout():
    """docs/sendmail.md's T=R: is what -t tells for the default SPFTimeout."""
    timeouts = dict(part.split(':') for part in
                    re.search(r'T=([^,]+)', recommended_filter_options()).group(1).split(';'))
    assert timeouts['R'] == '%ds' % mta_timeout_to_set(DEFAULT_SPF_TIMEOUT)
    assert mta_timeout_to_set(DEFAULT_SPF_TIMEOUT) >= mta_wait(DEFAULT_SPF_TIMEOUT)


def test_documented_macro_defaults_are_sendmails(sendmail_path):
    """The macro table of docs/sendmail.md against the sendmail.cf that sendmail-cf's m4
    files generate: what Sendmail sends by default, at which stage."""
    sendmail, _, _ = sendmail_path
    with open(sendmail.path('sendmail.cf')) as handle:
        sent = dict((stage, [name.strip() for name in names.split(',')])
                    for stage, names in re.findall(r'^O Milter\.macros\.(\w+)=(.*)$',
                                                   handle.read(), re.M))
    with open(SENDMAIL_DOC) as handle:
        rows = re.findall(r'^\| `([^`]+)` \| [^|]+ \| (yes, at (connect|MAIL FROM)|no) \|$',
                          handle.read(), re.M)
    assert [row[0] for row in rows] == ['j', 'i', '{auth_authen}', '{mail_addr}', '{verify}']
    every = [name for names in sent.values() for name in names]
    for macro, default, stage in rows:
        if default == 'no':
            assert macro not in every
        else:
            assert macro in sent[{'connect': 'connect', 'MAIL FROM': 'envfrom'}[stage]]


# -- timeouts -----------------------------------------------------------------------

SLOW_SECONDS = 15       # beyond Sendmail's default T=R:10s, within SPFTimeout


@pytest.fixture(scope='module')
def slow_dns_path(workdir):
    """Sendmail and smf-spf as documented (SPFTimeout at its default), asking a DNS
    server that answers slow.e2e.test after SLOW_SECONDS and dead.e2e.test never."""
    records = {('slow.e2e.test', 'TXT'): ['v=spf1 ip4:127.0.0.0/8 -all']}
    with SlowDns(records, delay=SLOW_SECONDS, silent=['dead.e2e.test'],
                 host=SLOW_DNS_ADDRESS, port=53):
        path = start_path(workdir, 'sendmail-slow-dns', 'AddReceivedHeader on',
                          'Nameservers %s' % SLOW_DNS_ADDRESS,
                          'SPFTimeout %g' % DEFAULT_SPF_TIMEOUT)
        yield path
        stop_path(*path)


def test_slow_dns_is_answered_by_the_milter_never_passed_on_unchecked(slow_dns_path):
    """Two sessions at once: one sender whose DNS answers after 15 s (where Sendmail's
    default read timeout gave up and passed the message on unchecked), one whose DNS never
    answers (the milter says temperror at SPFTimeout). Each message is answered by the
    milter, and so is the next one of each session."""
    sendmail, milter, sink = slow_dns_path
    sent = {}

    def run(name, first_sender):
        try:
            client = session(sendmail)
            try:
                sent[name] = [send(client, first_sender),
                              send(client, 'again-%s@slow.e2e.test' % name)]
            finally:
                client.quit()
        except (smtplib.SMTPException, AssertionError, OSError) as exc:
            sent[name] = exc

    threads = [threading.Thread(target=run, args=('slow', 'late@slow.e2e.test')),
               threading.Thread(target=run, args=('dead', 'lost@dead.e2e.test'))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failed = dict((name, exc) for name, exc in sent.items() if isinstance(exc, Exception))
    assert not failed, 'sessions failed: %r\n%s' % (failed, sendmail.log())
    results = {}
    for name, messages in sent.items():
        for marker, queue_id in messages:
            values = header_values(sink.wait_for(marker), 'Authentication-Results')
            assert len(values) == 1, values
            results[queue_id] = re.search(r'spf=(\w+) smtp\.mailfrom=(\S+)', values[0]).groups()
    slow, dead = sent['slow'], sent['dead']
    assert results[slow[0][1]] == ('pass', 'late@slow.e2e.test')
    assert results[dead[0][1]] == ('temperror', 'lost@dead.e2e.test')
    assert results[slow[1][1]] == ('pass', 'again-slow@slow.e2e.test')
    assert results[dead[1][1]] == ('pass', 'again-dead@slow.e2e.test')
    milter.wait_for_log('%s: SPF temperror: ip=127.0.0.1' % dead[0][1])
    log = sendmail.log()
    assert not any(text in log for text in SENDMAIL_GAVE_UP), log
