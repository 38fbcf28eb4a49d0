"""smf-spf --explain against nsd on loopback, beside the same config's milter behind a real
Postfix: a pass, a fail after three includes, a temperror and a void-limit permerror, each
explained step by step, its exit status, and its printed reply and header fields equal to
what Postfix's client is told and the delivered message carries."""

import os
import smtplib
import subprocess
import sys
import uuid

import pytest

from services import DNS_ADDRESS
from smf_spf.explain import printed_fields
from services import mail_path_with

LINES = ('CheckHelo on', 'AddReceivedHeader on',
         'RejectReason %{result} for %{domain} (%{ip}): %{exp}')
HELO = 'client.e2e.test'      # client TXT: v=spf1 ip4:127.0.0.1 -all


@pytest.fixture(scope='module')
def explained_path(workdir, dns_server):
    with mail_path_with(workdir, 'explain', *LINES) as path:
        yield path


def explain(conf, *arguments):
    command = [sys.executable, '-m', 'smf_spf', '-c', conf, '--mta', 'mx.receiver.test',
               '--explain'] + list(arguments)
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=120)
    return done.returncode, done.stdout


def send(postfix, sender):
    """A message without Subject (so the one the milter adds is the whole field): its
    marker; SMTPSenderRefused when MAIL FROM is refused."""
    marker = uuid.uuid4().hex
    body = ('From: <%s>\r\nTo: <bob@receiver.test>\r\nMessage-ID: <%s@e2e.test>\r\n\r\n'
            'test %s\r\n' % (sender, marker, marker))
    client = smtplib.SMTP('127.0.0.1', postfix.port, local_hostname=HELO, timeout=60)
    try:
        client.sendmail(sender, ['bob@receiver.test'], body)
    finally:
        client.quit()
    return marker


def header_section(message):
    return message.replace('\r\n', '\n').split('\n\n', 1)[0]


@pytest.mark.parametrize('sender,result', [
    ('alice@pass.e2e.test', 'pass'),
    ('alice@voidlimit.e2e.test', 'permerror'),
    ('alice@tempfail.e2e.test', 'temperror'),
    ('alice@softfail.e2e.test', 'softfail'),
])
def test_the_printed_header_fields_are_those_the_message_carries(explained_path, sender,
                                                                 result):
    postfix, milter, sink = explained_path
    status, stdout = explain(milter.conf, '127.0.0.1', sender, HELO, 'bob@receiver.test')
    assert status == 0, stdout
    assert 'result: %s' % result in stdout
    fields = printed_fields(stdout)
    assert any(field.startswith('Authentication-Results: mx.receiver.test; spf=%s ' % result)
               for field in fields), fields
    headers = header_section(sink.wait_for(send(postfix, sender)))
    for field in fields:
        assert field in headers, (field, headers)
    for name in ('Authentication-Results', 'Received-SPF', 'Subject'):
        assert headers.count('\n%s:' % name) + headers.startswith(name + ':') == sum(
            1 for field in fields if field.startswith(name + ':')), name


def test_a_fail_after_three_includes_is_refused_with_the_printed_reply(explained_path):
    postfix, milter, sink = explained_path
    status, stdout = explain(milter.conf, '127.0.0.1', 'mallory@chain.e2e.test', HELO)
    assert status == 2, stdout
    for step in ('include chain2.e2e.test: v=spf1 include:chain3.e2e.test ~all',
                 'include chain3.e2e.test: v=spf1 include:chain4.e2e.test ?all',
                 'include chain4.e2e.test: v=spf1 ip4:192.0.2.0/24 -all',
                 'chain4.e2e.test: fail (the include does not match)',
                 'mechanism that matched: -all',
                 'DNS lookups by mechanisms and modifiers: 3 (limit 10)'):
        assert step in stdout, step
    told = stdout.split('the client is told:\n', 1)[1].splitlines()[0].strip()
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        send(postfix, 'mallory@chain.e2e.test')
    assert told == '%d %s' % (refused.value.smtp_code, refused.value.smtp_error.decode())
    assert told == ('550 5.7.23 fail for chain.e2e.test (127.0.0.1): SPF fail - not '
                    'authorized')


def test_the_chain_passes_a_client_in_its_last_include(explained_path):
    postfix, milter, sink = explained_path
    status, stdout = explain(milter.conf, '192.0.2.7', 'alice@chain.e2e.test', HELO)
    assert status == 0, stdout
    assert 'client 192.0.2.7 is in 192.0.2.0/24' in stdout
    assert 'mechanism that matched: include:chain2.e2e.test' in stdout


def test_a_void_limit_permerror_and_a_temperror_step_by_step(explained_path, workdir):
    postfix, milter, sink = explained_path
    status, stdout = explain(milter.conf, '127.0.0.1', 'a@voidlimit.e2e.test', HELO)
    assert 'DNS v2.voidlimit.e2e.test A -> no records (void lookup 2 of 2)' in stdout
    assert ('DNS v3.voidlimit.e2e.test A -> no records (void lookup 3: over the limit of 2, '
            'a permerror)') in stdout
    status, stdout = explain(milter.conf, '127.0.0.1', 'a@tempfail.e2e.test', HELO)
    assert 'DNS unserved.example TXT -> ' in stdout and 'result: temperror' in stdout
    conf = os.path.join(workdir, 'explain-tempfail.conf')
    with open(conf, 'w') as out:
        out.write('Nameservers %s\nAcceptTempError off\n' % DNS_ADDRESS)
    status, stdout = explain(conf, '127.0.0.1', 'a@tempfail.e2e.test', HELO)
    assert status == 3, stdout
    assert 'answer: tempfail by AcceptTempError off; the client is told:' in stdout
    assert '451 4.4.3 ' in stdout
