"""'@' in a quoted local part, a source route or the HELO name, through a real Postfix:
none of them gets mail from a `-all` domain through, nor plants a result for it."""

import smtplib
import uuid

import pytest


def victim():
    """A domain of its own for each test, publishing `v=spf1 -all`."""
    return '%s.victim.e2e.test' % uuid.uuid4().hex[:12]


def mail_from(postfix, helo, path):
    """EHLO, then MAIL FROM:<path> as written (smtplib would re-quote it): the reply."""
    client = smtplib.SMTP('127.0.0.1', postfix.port, timeout=60)
    try:
        client.ehlo(helo)
        return client.docmd('MAIL FROM:<%s>' % path)
    finally:
        client.close()


@pytest.mark.parametrize('local', ['"ceo@x"', '"a@x"'])
def test_quoted_local_part_with_at_is_refused(mail_path, local):
    postfix, milter, sink = mail_path
    domain = victim()
    code, reply = mail_from(postfix, 'client.e2e.test', '%s@%s' % (local, domain))
    assert code == 550 and reply.startswith(b'5.7.23 '), (code, reply)
    # what Postfix handed the milter: the path as the client wrote it
    milter.wait_for_log('SPF fail: ip=127.0.0.1, fqdn=[127.0.0.1], helo=client.e2e.test, '
                        'from=<%s@%s>' % (local, domain))


def test_source_route_is_refused(mail_path):
    postfix, milter, sink = mail_path
    domain = victim()
    code, reply = mail_from(postfix, 'client.e2e.test', '@relay.example:ceo@%s' % domain)
    assert code == 550 and reply.startswith(b'5.7.23 '), (code, reply)
    milter.wait_for_log('from=<@relay.example:ceo@%s>' % domain)


def test_helo_with_at_plants_nothing_for_the_domain_after_it(mail_path):
    postfix, milter, sink = mail_path
    domain = victim()
    code, reply = mail_from(postfix, 'x@%s' % domain, '')
    assert code == 250, (code, reply)
    milter.wait_for_log('SPF none: ip=127.0.0.1, fqdn=[127.0.0.1], helo=x@%s, from=<>' % domain)
    code, reply = mail_from(postfix, 'client.e2e.test', 'ceo@%s' % domain)
    assert code == 550 and reply.startswith(b'5.7.23 '), (code, reply)
    milter.wait_for_log('SPF fail: ip=127.0.0.1, fqdn=[127.0.0.1], helo=client.e2e.test, '
                        'from=<ceo@%s>' % domain)
