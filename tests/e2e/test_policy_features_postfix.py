"""Policy beyond the C milter (issue 11) through a real Postfix, smf-spf and nsd: the HELO
identity checked and refused, DryRun (-n), TrustedForwarder, and postmaster reachable despite
a refused fail (AcceptPostmaster on)."""

import smtplib
import uuid

import pytest

from services import mail_path_with


@pytest.fixture(scope='module')
def helo_path(workdir, dns_server):
    with mail_path_with(workdir, 'helo', 'CheckHelo on', 'RefuseHeloFail on',
                        'TrustedForwarder ::1', 'Quarantine on', 'AcceptPostmaster on',
                        'RefuseFail on') as path:
        yield path


@pytest.fixture(scope='module')
def dry_run_path(workdir, dns_server):
    with mail_path_with(workdir, 'dry-run', 'RefuseFail on', 'AcceptTempError off',
                        args=['-n']) as path:
        yield path


def send(postfix, sender, recipients, helo='client.e2e.test', subject=None,
         host='127.0.0.1'):
    """(marker, refused recipients as sendmail reports them)."""
    marker = uuid.uuid4().hex
    body = ('From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: <%s@e2e.test>\r\n\r\n'
            'test %s\r\n' % (sender, recipients[0], subject or marker, marker, marker))
    client = smtplib.SMTP(host, postfix.port, local_hostname=helo, timeout=60)
    try:
        refused = client.sendmail(sender, recipients, body)
    finally:
        client.quit()
    return marker, refused


# -- CheckHelo / RefuseHeloFail -----------------------------------------------------------

def test_helo_identity_is_a_second_resinfo(helo_path):
    postfix, milter, sink = helo_path
    marker, refused = send(postfix, 'alice@pass.e2e.test', ['bob@receiver.test'])
    assert refused == {}
    message = sink.wait_for(marker)
    assert ('Authentication-Results: mx.receiver.test; spf=pass '
            'smtp.mailfrom=alice@pass.e2e.test smtp.helo=client.e2e.test; '
            'spf=pass smtp.helo=client.e2e.test') in message
    milter.wait_for_log('SPF helo pass: ip=127.0.0.1, fqdn=[127.0.0.1], helo=client.e2e.test, '
                        'from=<alice@pass.e2e.test>')


def test_helo_fail_is_refused_but_postmaster_gets_the_message(helo_path):
    postfix, milter, sink = helo_path
    marker, refused = send(postfix, 'alice@pass.e2e.test',
                           ['bob@receiver.test', 'postmaster@receiver.test'],
                           helo='fail.e2e.test')
    code, reply = refused['bob@receiver.test']
    assert code == 550
    assert reply.decode().startswith('5.7.23 Message was rejected during SPF policy '
                                     'evaluation. sender:postmaster@fail.e2e.test '
                                     'client-ip:127.0.0.1')
    assert 'postmaster@receiver.test' not in refused
    message = sink.wait_for(marker)
    assert ('spf=pass smtp.mailfrom=alice@pass.e2e.test smtp.helo=fail.e2e.test; '
            'spf=fail smtp.helo=fail.e2e.test') in message
    milter.wait_for_log('SPF refused: 550 5.7.23 by RefuseHeloFail (SPF helo fail), '
                        'ip=127.0.0.1, from=<alice@pass.e2e.test>')
    milter.wait_for_log('SPF not refused: to=<postmaster@receiver.test>')


# -- TrustedForwarder (::1 on the same milter) -------------------------------------------

def test_trusted_forwarder_mail_is_delivered_untagged_and_says_why(helo_path):
    postfix, milter, sink = helo_path
    marker, refused = send(postfix, 'six@fail6.e2e.test', ['bob@receiver.test'],
                           helo='fail.e2e.test', subject='hello', host='::1')
    assert refused == {}
    message = sink.wait_for(marker)
    assert ('spf=fail smtp.mailfrom=six@fail6.e2e.test smtp.helo=fail.e2e.test '
            'policy.trusted-forwarder="::1"; spf=fail smtp.helo=fail.e2e.test') in message
    assert 'Subject: hello' in message and 'X-SPF-Original-To' not in message
    milter.wait_for_log('SPF not refused: client ip=::1 is a TrustedForwarder (SPF fail, '
                        'would be 550 5.7.23), from=<six@fail6.e2e.test>')


# -- DryRun (-n) ---------------------------------------------------------------------------

def test_dry_run_delivers_a_fail_with_headers_and_logs_the_refusal(dry_run_path):
    postfix, milter, sink = dry_run_path
    milter.wait_for_log('DryRun: every decision is logged, no message is refused')
    marker, refused = send(postfix, 'mallory@fail.e2e.test', ['bob@receiver.test'],
                           subject='hello')
    assert refused == {}
    message = sink.wait_for(marker)
    assert 'spf=fail smtp.mailfrom=mallory@fail.e2e.test' in message
    assert 'Subject: [SPF:fail] hello' in message
    milter.wait_for_log('SPF would refuse (DryRun): 550 5.7.23 by RefuseFail (SPF fail), '
                        'ip=127.0.0.1, from=<mallory@fail.e2e.test>')
    assert 'SPF refused:' not in milter.log()


def test_dry_run_delivers_a_temperror_it_would_tempfail(dry_run_path):
    postfix, milter, sink = dry_run_path
    marker, refused = send(postfix, 'x@unserved.example', ['bob@receiver.test'])
    assert refused == {}
    assert 'spf=temperror smtp.mailfrom=x@unserved.example' in sink.wait_for(marker)
    milter.wait_for_log('SPF would tempfail (DryRun): 451 4.4.3 by AcceptTempError off (SPF '
                        'temperror), from=<x@unserved.example>')


# -- AcceptPostmaster (on for the HELO milter) -------------------------------------------------

def test_postmaster_gets_a_refused_fail(helo_path):
    postfix, milter, sink = helo_path
    marker, refused = send(postfix, 'mallory@fail.e2e.test',
                           ['bob@receiver.test', 'PostMaster@receiver.test'])
    assert list(refused) == ['bob@receiver.test']
    assert refused['bob@receiver.test'][0] == 550
    message = sink.wait_for(marker)
    assert 'spf=fail smtp.mailfrom=mallory@fail.e2e.test' in message
