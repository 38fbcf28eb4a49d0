"""Issue 21's keys through the running daemon (raw milter protocol, DNS stub on loopback):
SPFVoidLimit, RefuseNotPass, named RejectReason fields, RefuseFailEmptySender, the HELO
identity's Received-SPF, each kept across SIGHUP."""

import os
import shutil
import signal

import pytest

import rawmilter
from rawmilter import CONNECT, EOM, HELO, MAIL, RCPT, Client, connect_data, final


@pytest.fixture
def start(dns):
    """start(*config lines): a running daemon, stopped after the test. Its directory is
    one User (nobody, when the tests run as root) can read: a reload reads the config."""
    running = []
    directory = rawmilter.user_readable_directory('smf-spf-keys-')

    def started(*lines):
        path = rawmilter.user_readable_directory('daemon-', directory)
        running.append(rawmilter.Daemon(path, dns.address, *lines))
        return running[-1].start()
    yield started
    for daemon in running:
        daemon.stop()
    shutil.rmtree(directory, ignore_errors=True)


def reload_with(daemon, *lines):
    """Append lines to the daemon's config and SIGHUP it; returns once it reloaded."""
    with open(daemon.conf, 'a') as out:
        out.write('\n'.join(lines) + '\n')
    reloads = daemon.log().count('reloaded ')
    os.kill(daemon.pid, signal.SIGHUP)
    assert rawmilter.wait_for(lambda: daemon.log().count('reloaded ') > reloads), \
        daemon.log()[-2000:]


CONTINUE = (b'c', b'')


def session(port, sender, helo=b'mx.client.test', ip='127.0.0.1',
            rcpts=(b'<b@receiver.test>',)):
    """One message: (answer to MAIL FROM, answers to each RCPT TO, replies to EOM); a
    refusal (or an accept at CONNECT, answered in place of MAIL FROM's) ends the message
    where it is made."""
    client = Client(port)
    try:
        client.negotiate()
        client.macros(CONNECT, b'j', b'mx.receiver.test')
        connect = final(client.step(CONNECT, connect_data(b'client.test', ip)))
        if connect != CONTINUE:
            return connect, [], []
        client.step(HELO, helo + b'\0')
        mail = final(client.step(MAIL, b'<' + sender + b'>\0'))
        if mail != CONTINUE:
            return mail, [], []
        answers = [final(client.step(RCPT, rcpt + b'\0')) for rcpt in rcpts]
        if CONTINUE not in answers:
            return mail, answers, []
        return mail, answers, client.step(EOM)
    finally:
        client.close()


def reply(answer):
    """The SMTP reply a milter `y` answer carries, as text."""
    assert answer[0] == b'y', answer
    return answer[1].rstrip(b'\0').decode('ascii')


# -- SPFVoidLimit ---------------------------------------------------------------------

def test_void_limit_decides_and_a_reload_takes_a_new_one_with_a_fresh_cache(start):
    """void.stub.test makes three void lookups before its ip4 matches 127.0.0.1."""
    daemon = start('RejectPermError on')
    mail, _, _ = session(daemon.port, b'a@void.stub.test')
    assert reply(mail).startswith('550 5.7.24 '), mail
    assert 'SPF permerror: ip=127.0.0.1' in daemon.log()
    reload_with(daemon, 'SPFVoidLimit 3')
    assert 'reload: SPFVoidLimit 2 -> 3' in daemon.log()
    assert 'reload: SPF result cache emptied and rebuilt' in daemon.log()
    mail, _, _ = session(daemon.port, b'a@void.stub.test')
    assert mail == CONTINUE, mail
    assert 'SPF pass: ip=127.0.0.1' in daemon.log()


# -- named fields in RejectReason -----------------------------------------------------

NAMED = ('RejectReason %{result} for %{domain}: %{exp} [%{local}|%{helo}|%{ip}|%{mta}|'
         '%{sender}] (%s)')


def test_named_fields_and_the_records_exp_text_in_the_reply(start):
    daemon = start(NAMED)
    mail, _, _ = session(daemon.port, b'Bob@exp.stub.test', helo=b'mx.client.test')
    assert reply(mail) == ('550 5.7.23 fail for exp.stub.test: 127.0.0.1 may not send for '
                           'exp.stub.test [bob|mx.client.test|127.0.0.1|mx.receiver.test|'
                           'bob@exp.stub.test] (bob@exp.stub.test)')


HOSTILE = [
    (b'a\r\n250 2.0.0 ok', b'mx.client.test'),
    (b'x', b'h\r\n550 5.0.0 injected\r\n'),
    (b'50%n%s%%', b'%s%n'),
    (b'\xff\xfe\xc3', b'\x1b[31m.example'),
    (b'z' * 2000, b'h' * 2000),
]


def test_no_field_can_break_the_reply_or_add_a_line(start):
    daemon = start(NAMED, 'RelaxedLocalPart on')
    for local, helo in HOSTILE:
        mail, _, _ = session(daemon.port, local + b'@exp.stub.test', helo=helo)
        assert mail[0] == b'y', mail
        wire = mail[1].rstrip(b'\0')
        assert wire.startswith(b'550 5.7.23 fail for exp.stub.test: 127.0.0.1 may not '
                               b'send for exp.stub.test ['), wire
        assert b'\r' not in wire and b'\n' not in wire and b'\0' not in wire
        assert all(0x20 <= octet <= 0x7e for octet in wire), wire
        assert len(wire.replace(b'%%', b'%')) + 2 <= 512
    assert daemon.alive()


# -- RefuseNotPass --------------------------------------------------------------------

def added_headers(replies):
    """(name, value) of each header field an EOM's replies add or insert, in order."""
    found = []
    for command, data in replies:
        if command in (b'h', b'i'):
            fields = (data[4:] if command == b'i' else data).split(b'\0')
            found.append((fields[0].decode(), fields[1].decode()))
    return found


def test_a_listed_domain_must_pass_below_it_too_while_others_are_tagged(start):
    daemon = start('RefuseNotPass own.stub.test', 'WhitelistIP 127.0.0.2')
    mail, _, _ = session(daemon.port, b'ceo@own.stub.test')
    assert reply(mail) == ('550 5.7.23 Message was rejected during SPF policy evaluation. '
                           'sender:ceo@own.stub.test client-ip:127.0.0.1')
    assert ('SPF refused: 550 5.7.23 by RefuseNotPass (SPF softfail), ip=127.0.0.1, '
            'from=<ceo@own.stub.test>') in daemon.log()
    mail, _, _ = session(daemon.port, b'ceo@news.own.stub.test')
    assert reply(mail).startswith('550 5.7.23 ')
    assert 'by RefuseNotPass (SPF neutral)' in daemon.log()
    # an unlisted softfail goes through, tagged
    mail, rcpts, eom = session(daemon.port, b'a@softfail.stub.test')
    assert (mail, rcpts) == (CONTINUE, [CONTINUE])
    assert ('Subject', '[SPF:fail]') in added_headers(eom)
    # a whitelisted client sending as the listed domain is not checked
    mail, _, _ = session(daemon.port, b'ceo@own.stub.test', ip='127.0.0.2')
    assert mail == (b'a', b''), mail
    assert 'SPF skip : client ip=127.0.0.2' in daemon.log()


def test_a_reload_adds_and_removes_listed_domains(start):
    daemon = start()
    mail, _, _ = session(daemon.port, b'a@own.stub.test')
    assert mail == CONTINUE
    reload_with(daemon, 'RefuseNotPass own.stub.test, other.stub.test')
    assert ('reload: RefuseNotPass 0 -> 2 entries (added own.stub.test, other.stub.test)'
            in daemon.log())
    assert 'SPF result cache emptied' not in daemon.log()
    mail, _, _ = session(daemon.port, b'a@own.stub.test')
    assert reply(mail).startswith('550 5.7.23 '), mail


# -- RefuseFailEmptySender --------------------------------------------------------------

def test_a_failing_bounce_is_refused_tagged_or_tempfailed_as_the_key_says(start):
    """<> from HELO fail.stub.test (ip4:192.0.2.0/24 -all) at 127.0.0.1: an SPF fail."""
    daemon = start()
    mail, _, _ = session(daemon.port, b'', helo=b'fail.stub.test')
    assert reply(mail).startswith('550 5.7.23 '), mail
    reload_with(daemon, 'RefuseFailEmptySender tag')
    assert 'reload: RefuseFailEmptySender refuse -> tag' in daemon.log()
    mail, rcpts, eom = session(daemon.port, b'', helo=b'fail.stub.test')
    assert (mail, rcpts) == (CONTINUE, [CONTINUE])
    fields = added_headers(eom)
    assert ('Subject', '[SPF:fail]') in fields
    assert ('Authentication-Results', 'mx.receiver.test; spf=fail '
            'smtp.mailfrom=postmaster@fail.stub.test smtp.helo=fail.stub.test') in fields
    assert ('SPF not refused: empty sender, would be 550 5.7.23 by RefuseFail (SPF fail), '
            'ip=127.0.0.1, from=<>, helo=fail.stub.test, RefuseFailEmptySender tag'
            in daemon.log())
    reload_with(daemon, 'RefuseFailEmptySender TempFail')
    mail, _, _ = session(daemon.port, b'', helo=b'fail.stub.test')
    assert reply(mail).startswith('450 4.7.23 '), mail


# -- Received-SPF for the HELO identity ---------------------------------------------------

def test_each_checked_identity_gets_its_received_spf(start):
    daemon = start('CheckHelo on', 'AddReceivedHeader on')
    mail, rcpts, eom = session(daemon.port, b'a@pass.stub.test', helo=b'fail.stub.test')
    assert (mail, rcpts) == (CONTINUE, [CONTINUE])
    fields = added_headers(eom)
    received = [value for name, value in fields if name == 'Received-SPF']
    assert [value.split(' ', 1)[0] for value in received] == ['Pass', 'Fail']
    assert 'identity=mailfrom;' in received[0] and 'identity=helo;' in received[1]
    assert 'domain of postmaster@fail.stub.test' in received[1]
    assert ('Authentication-Results', 'mx.receiver.test; spf=pass '
            'smtp.mailfrom=a@pass.stub.test smtp.helo=fail.stub.test; spf=fail '
            'smtp.helo=fail.stub.test') in fields
