"""Real SMTP through a real Postfix and smf-spf, with SPF records from a real nsd."""

import smtplib
import uuid

import pytest


def send(postfix, sender, recipient='bob@receiver.test', helo='client.e2e.test', subject=None,
         host='127.0.0.1'):
    marker = uuid.uuid4().hex
    body = ('From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: <%s@e2e.test>\r\n\r\n'
            'test %s\r\n' % (sender or 'mailer-daemon@e2e.test', recipient,
                             subject or marker, marker, marker))
    client = smtplib.SMTP(host, postfix.port, local_hostname=helo, timeout=60)
    try:
        client.sendmail(sender, [recipient], body)
    finally:
        client.quit()
    return marker


def test_pass_is_delivered_with_authentication_results(mail_path):
    postfix, milter, sink = mail_path
    marker = send(postfix, 'alice@pass.e2e.test')
    message = sink.wait_for(marker)
    assert ('Authentication-Results: mx.receiver.test; spf=pass '
            'smtp.mailfrom=alice@pass.e2e.test smtp.helo=client.e2e.test') in message
    assert 'Received-SPF: Pass (mx.receiver.test: domain of alice@pass.e2e.test' in message
    milter.wait_for_log('SPF pass: ip=127.0.0.1, fqdn=[127.0.0.1], helo=client.e2e.test, '
                        'from=<alice@pass.e2e.test>')


def test_fail_is_refused_550_5723(mail_path):
    postfix, milter, sink = mail_path
    with pytest.raises(smtplib.SMTPSenderRefused) as info:
        send(postfix, 'mallory@fail.e2e.test')
    assert info.value.smtp_code == 550
    reply = info.value.smtp_error.decode()
    assert reply.startswith('5.7.23 Message was rejected during SPF policy evaluation. '
                            'sender:mallory@fail.e2e.test client-ip:127.0.0.1')
    milter.wait_for_log('SPF fail: ip=127.0.0.1')


def test_softfail_is_delivered_tagged(mail_path):
    postfix, milter, sink = mail_path
    marker = send(postfix, 'eve@softfail.e2e.test', subject='hello')
    message = sink.wait_for(marker)
    assert 'Subject: [SPF:fail] hello' in message
    assert 'spf=softfail smtp.mailfrom=eve@softfail.e2e.test' in message


def test_no_record_is_none_and_permerror_is_named(mail_path):
    postfix, milter, sink = mail_path
    message = sink.wait_for(send(postfix, 'x@nospf.e2e.test'))
    assert 'spf=none smtp.mailfrom=x@nospf.e2e.test' in message
    message = sink.wait_for(send(postfix, 'x@permerror.e2e.test'))
    assert 'spf=permerror smtp.mailfrom=x@permerror.e2e.test' in message


def test_empty_sender_checks_helo_identity(mail_path):
    postfix, milter, sink = mail_path
    message = sink.wait_for(send(postfix, '', helo='client.e2e.test'))
    assert ('spf=pass smtp.mailfrom=postmaster@client.e2e.test smtp.helo=client.e2e.test'
            in message)


def test_second_message_is_answered_from_cache(mail_path):
    postfix, milter, sink = mail_path
    sink.wait_for(send(postfix, 'one@neutral.e2e.test'))
    sink.wait_for(send(postfix, 'two@neutral.e2e.test'))
    milter.wait_for_log('SPF neutral (cached): ip=127.0.0.1')


def test_parallel_sessions_get_their_own_verdicts(mail_path):
    """Several SMTP sessions at once: libmilter serves each in its own thread."""
    import threading
    postfix, milter, sink = mail_path
    outcomes = {}

    def session(n):
        domain = 'pass' if n % 2 else 'fail'
        try:
            outcomes[n] = ('sent', send(postfix, 'p%d@%s.e2e.test' % (n, domain)))
        except smtplib.SMTPSenderRefused as exc:
            outcomes[n] = ('refused', exc.smtp_code)

    threads = [threading.Thread(target=session, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for n in range(12):
        if n % 2:
            assert outcomes[n][0] == 'sent'
            assert 'spf=pass smtp.mailfrom=p%d@pass.e2e.test' % n in sink.wait_for(outcomes[n][1])
        else:
            assert outcomes[n] == ('refused', 550)


def test_ipv6_client_pass_and_fail(mail_path):
    postfix, milter, sink = mail_path
    message = sink.wait_for(send(postfix, 'six@pass6.e2e.test', host='::1'))
    assert 'spf=pass smtp.mailfrom=six@pass6.e2e.test' in message
    assert 'client-ip="::1"; identity=mailfrom;' in message   # ':' is no atext
    milter.wait_for_log('SPF pass: ip=::1, fqdn=[::1], helo=client.e2e.test, '
                        'from=<six@pass6.e2e.test>')
    with pytest.raises(smtplib.SMTPSenderRefused) as info:
        send(postfix, 'six@fail6.e2e.test', host='::1')
    assert info.value.smtp_code == 550
    assert b'client-ip:::1' in info.value.smtp_error


def test_dns_failure_is_temperror_not_none(mail_path):
    """nsd refuses names outside its zone, as a broken server would SERVFAIL: C said none
    (which RefuseSPFNone then refused for good); this is a temperror, delivered by default."""
    postfix, milter, sink = mail_path
    message = sink.wait_for(send(postfix, 'x@unserved.example'))
    assert 'spf=temperror smtp.mailfrom=x@unserved.example' in message
    milter.wait_for_log('SPF temperror: ip=127.0.0.1')


def _queue_id(postfix, marker):
    """The queue ID Postfix's cleanup logged for the message with this Message-ID."""
    import re
    import time
    deadline = time.time() + 15
    while time.time() < deadline:
        found = re.search(r'([0-9A-F]{6,}): message-id=<%s@e2e.test>' % marker, postfix.log())
        if found:
            return found.group(1)
        time.sleep(0.1)
    raise AssertionError('no queue ID for %s in:\n%s' % (marker, postfix.log()))


def test_queue_id_ties_the_decision_to_postfix_lines(mail_path):
    """Postfix has no queue ID at MAIL FROM (its queue file is opened later): the decision
    line waits for it and is written once, with Postfix's ID in front."""
    import re
    postfix, milter, sink = mail_path
    marker = send(postfix, 'qid@pass.e2e.test')
    sink.wait_for(marker)
    queue_id = _queue_id(postfix, marker)
    milter.wait_for_log('from=<qid@pass.e2e.test>')
    lines = [line for line in milter.log().splitlines() if 'from=<qid@pass.e2e.test>' in line]
    assert len(lines) == 1, lines
    # pass.e2e.test may be in the cache by now
    assert re.search(r'smf-spf\[\d+\]: %s: SPF pass( \(cached\))?: ip=127\.0\.0\.1, '
                     r'fqdn=\[127\.0\.0\.1\], helo=client\.e2e\.test, '
                     r'from=<qid@pass\.e2e\.test>$' % re.escape(queue_id), lines[0]), lines[0]
    assert queue_id in postfix.log()


def test_refused_fail_logs_one_spf_fail_line(mail_path):
    import re
    postfix, milter, _ = mail_path
    with pytest.raises(smtplib.SMTPSenderRefused):
        send(postfix, 'once@fail.e2e.test')
    milter.wait_for_log('SPF refused: 550 5.7.23 by RefuseFail (SPF fail), ip=127.0.0.1, '
                        'from=<once@fail.e2e.test>')
    lines = [l for l in milter.log().splitlines() if 'from=<once@fail.e2e.test>' in l]
    assert len([l for l in lines if re.search(r'SPF fail( \(cached\))?: .*ip=', l)]) == 1
    # Postfix has no queue ID for mail refused at MAIL FROM (it logs NOQUEUE)
    assert 'NOQUEUE: milter-reject: MAIL from unknown[127.0.0.1]' in postfix.log()
