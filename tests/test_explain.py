"""smf-spf --explain against a DNS stub on loopback: what it prints, its exit status, and
that its header fields and replies are what the running daemon gives the same message
(the Postfix and nsd run is tests/e2e/test_explain_postfix.py)."""

import os
import shutil
import subprocess
import sys

import pytest

import rawmilter
from smf_spf.explain import printed_fields
from test_policy_keys_daemon import CONTINUE, added_headers, reply, session

MTA = 'mx.receiver.test'
LINES = ('CheckHelo on', 'AddReceivedHeader on',
         'RejectReason %{result} for %{domain}: %{exp} (%{ip})')


@pytest.fixture(scope='module')
def directory():
    path = rawmilter.user_readable_directory('smf-spf-explain-')
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope='module')
def daemon(dns, directory):
    running = rawmilter.Daemon(rawmilter.user_readable_directory('daemon-', directory),
                               dns.address, *LINES).start()
    yield running
    running.stop()


def explain(conf, *arguments, **options):
    """(exit status, stdout, stderr) of smf-spf -c conf --explain ARGUMENTS."""
    command = [sys.executable, '-m', 'smf_spf', '-c', conf, '--mta', MTA,
               '--fqdn', options.get('fqdn', 'client.test'), '--explain'] + list(arguments)
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=120)
    return done.returncode, done.stdout, done.stderr


def write_conf(directory, dns, name, *lines):
    path = os.path.join(directory, name)
    with open(path, 'w') as out:
        out.write('\n'.join(('Nameservers %s' % dns.address, 'SPFTimeout 5') + lines) + '\n')
    return path


def printed_reply(stdout):
    lines = stdout.splitlines()
    told = [i for i, line in enumerate(lines) if line.endswith('the client is told:')]
    assert len(told) == 1, stdout
    return lines[told[0] + 1].strip()


# -- equal to the daemon's, by construction; tested all the same -------------------------

DELIVERED = [
    ('127.0.0.1', 'a@pass.stub.test', 'pass.stub.test'),
    ('127.0.0.1', 'a@softfail.stub.test', 'fail.stub.test'),     # tagged, HELO fails
    ('192.0.2.7', 'a@chain.stub.test', 'mx.client.test'),        # pass, three includes deep
    ('127.0.0.1', 'a@void.stub.test', 'pass.stub.test'),         # void-limit permerror
    ('127.0.0.1', 'a@broken.stub.test', 'pass.stub.test'),       # temperror, accepted
]


@pytest.mark.parametrize('ip,sender,helo', DELIVERED)
def test_printed_header_fields_are_the_daemons(daemon, ip, sender, helo):
    status, stdout, stderr = explain(daemon.conf, ip, sender, helo, 'b@receiver.test')
    assert status == 0, stdout + stderr
    mail, rcpts, eom = session(daemon.port, sender.encode(), helo=helo.encode(), ip=ip)
    assert (mail, rcpts) == (CONTINUE, [CONTINUE])
    added = ['%s: %s' % field for field in added_headers(eom)]
    assert added and printed_fields(stdout) == added


REFUSED = [
    ('127.0.0.1', 'a@exp.stub.test', 'pass.stub.test'),          # the record's exp= text
    ('127.0.0.1', 'a@chain.stub.test', 'pass.stub.test'),        # fail after the chain
    ('127.0.0.1', '<>', 'fail.stub.test'),                      # a bounce, through HELO
]


@pytest.mark.parametrize('ip,sender,helo', REFUSED)
def test_the_printed_reply_is_the_daemons(daemon, ip, sender, helo):
    status, stdout, stderr = explain(daemon.conf, ip, sender, helo, 'b@receiver.test')
    assert status == 2, stdout + stderr
    mail, _, _ = session(daemon.port, sender.strip('<>').encode(), helo=helo.encode(), ip=ip)
    assert printed_reply(stdout) == reply(mail).replace('%%', '%')
    assert 'exit status 2: the message would be refused' in stdout


# -- step by step ------------------------------------------------------------------------

def test_a_pass_three_includes_deep_step_by_step(dns, directory):
    conf = write_conf(directory, dns, 'chain.conf')
    status, stdout, _ = explain(conf, '192.0.2.7', 'a@chain.stub.test', 'h.example')
    assert status == 0
    steps = [line.strip() for line in stdout.splitlines()]
    expected = [
        'DNS chain.stub.test TXT -> "v=spf1 include:chain2.stub.test -all"',
        'record chain.stub.test: v=spf1 include:chain2.stub.test -all',
        'DNS chain2.stub.test TXT -> "v=spf1 include:chain3.stub.test ~all"',
        'include chain2.stub.test: v=spf1 include:chain3.stub.test ~all',
        'DNS chain3.stub.test TXT -> "v=spf1 include:chain4.stub.test ?all"',
        'include chain3.stub.test: v=spf1 include:chain4.stub.test ?all',
        'DNS chain4.stub.test TXT -> "v=spf1 ip4:192.0.2.0/24 -all"',
        'include chain4.stub.test: v=spf1 ip4:192.0.2.0/24 -all',
        'client 192.0.2.7 is in 192.0.2.0/24',
        'chain4.stub.test: pass (the include matches)',
        'chain3.stub.test: pass (the include matches)',
        'chain2.stub.test: pass (the include matches)', 'chain.stub.test: pass',
        'mechanism that matched: include:chain2.stub.test',
        'DNS lookups by mechanisms and modifiers: 3 (limit 10); void lookups: 0 (limit 2, '
        'SPFVoidLimit)',
        'result: pass (sender SPF authorized)']
    found = [line for line in steps if line in expected]
    assert found == expected, stdout
    indents = dict((line.strip(), len(line) - len(line.lstrip()))
                   for line in stdout.splitlines())
    assert (indents['include chain4.stub.test: v=spf1 ip4:192.0.2.0/24 -all']
            > indents['include chain3.stub.test: v=spf1 include:chain4.stub.test ?all']
            > indents['record chain.stub.test: v=spf1 include:chain2.stub.test -all'])


def test_a_fail_through_the_chain_names_its_mechanism_and_explanation(dns, directory):
    conf = write_conf(directory, dns, 'fail.conf', 'RejectReason no: %{exp}')
    status, stdout, _ = explain(conf, '198.51.100.7', 'a@chain.stub.test', 'h.example')
    assert status == 2
    assert 'mechanism that matched: -all' in stdout
    assert 'chain4.stub.test: fail (the include does not match)' in stdout
    assert 'chain.stub.test: fail\n' in stdout
    assert 'log: SPF refused: 550 5.7.23 by RefuseFail (SPF fail)' in stdout
    assert printed_reply(stdout) == '550 5.7.23 no: SPF fail - not authorized'


def test_the_exp_text_is_fetched_and_shown(dns, directory):
    conf = write_conf(directory, dns, 'exp.conf')
    status, stdout, _ = explain(conf, '127.0.0.1', 'a@exp.stub.test')
    assert status == 2
    assert 'exp= of exp.stub.test: the explanation at why.stub.test' in stdout
    assert 'DNS why.stub.test TXT -> "%{i} may not send for %{d}"' in stdout
    assert 'explanation: "127.0.0.1 may not send for exp.stub.test"' in stdout
    assert 'HELO (none given: "undefined")' in stdout


def test_a_void_limit_permerror_counts_each_void_lookup(dns, directory):
    conf = write_conf(directory, dns, 'void.conf', 'RejectPermError on')
    status, stdout, _ = explain(conf, '127.0.0.1', 'a@void.stub.test')
    assert status == 2
    for line in ('DNS v1.stub.test A -> no records (void lookup 1 of 2)',
                 'DNS v2.stub.test A -> no records (void lookup 2 of 2)',
                 'DNS v3.stub.test A -> no records (void lookup 3: over the limit of 2, '
                 'a permerror)',
                 'result: permerror (SPF Permanent Error: Void lookup limit of 2 exceeded)',
                 'answer: refuse by RejectPermError; the client is told:'):
        assert line in stdout, line
    conf = write_conf(directory, dns, 'void3.conf', 'RejectPermError on', 'SPFVoidLimit 3')
    status, stdout, _ = explain(conf, '127.0.0.1', 'a@void.stub.test')
    assert status == 0 and 'void lookups: 3 (limit 3, SPFVoidLimit)' in stdout


@pytest.mark.parametrize('lines,status', [((), 0), (('AcceptTempError off',), 3)])
def test_a_temperror_is_accepted_or_tempfailed_as_accept_temp_error_says(dns, directory,
                                                                          lines, status):
    conf = write_conf(directory, dns, 'temp%d.conf' % status, *lines)
    found, stdout, _ = explain(conf, '127.0.0.1', 'a@broken.stub.test')
    assert found == status, stdout
    assert 'DNS servfail.stub.test TXT -> ' in stdout
    assert 'result: temperror' in stdout
    if status == 3:
        assert printed_reply(stdout).startswith('451 4.4.3 ')
        assert 'exit status 3: the message would be tempfailed' in stdout


def test_whitelists_are_consulted_first(dns, directory):
    conf = write_conf(directory, dns, 'white.conf', 'WhitelistIP 127.0.0.0/8',
                      'WhitelistIP 10.0.0.0/8')
    status, stdout, _ = explain(conf, '127.0.0.1', 'a@fail.stub.test')
    assert status == 0
    assert 'consulted: WhitelistIP (2 entries), WhitelistPTR (0 entries)' in stdout
    assert 'answer: accept, not checked any further (WhitelistIP)' in stdout
    assert 'SPF check of' not in stdout


def test_refuse_not_pass_and_dry_run(dns, directory):
    conf = write_conf(directory, dns, 'own.conf', 'RefuseNotPass own.stub.test')
    status, stdout, _ = explain(conf, '127.0.0.1', 'a@news.own.stub.test')
    assert status == 2 and 'answer: refuse by RefuseNotPass' in stdout
    command = [sys.executable, '-m', 'smf_spf', '-n', '-c', conf, '--mta', MTA, '--fqdn',
               'c.test', '--explain', '127.0.0.1', 'a@news.own.stub.test']
    done = subprocess.run(command, stdout=subprocess.PIPE, universal_newlines=True,
                          timeout=120)
    assert done.returncode == 0
    assert 'answer: continue (DryRun: would refuse, by RefuseNotPass)' in done.stdout


def test_the_cache_is_named_on_or_off(dns, directory):
    _, stdout, _ = explain(write_conf(directory, dns, 'cache.conf'), '127.0.0.1',
                           'a@pass.stub.test')
    assert 'result cache: on (TTL 3600 s, CacheSize 400000)' in stdout
    _, stdout, _ = explain(write_conf(directory, dns, 'nocache.conf', 'TTL 0'), '127.0.0.1',
                           'a@pass.stub.test')
    assert 'result cache: off' in stdout


def test_without_fqdn_the_client_is_named_as_an_mta_would(dns, directory):
    conf = write_conf(directory, dns, 'ptr.conf')
    command = [sys.executable, '-m', 'smf_spf', '-c', conf, '--mta', MTA, '--explain',
               '127.0.0.1', 'a@pass.stub.test']
    done = subprocess.run(command, stdout=subprocess.PIPE, universal_newlines=True,
                          timeout=120)
    assert 'client host name: [127.0.0.1] (no PTR record)' in done.stdout
    assert 'log: SPF pass: ip=127.0.0.1, fqdn=[127.0.0.1]' in done.stdout


@pytest.mark.parametrize('arguments,why', [
    (['--explain', '127.0.0.1'], 'CLIENT_IP SENDER'),
    (['--explain', 'mx.example', 'a@b.example'], 'not an IP address'),
    (['--mta', 'x'], 'go with --explain'),
])
def test_usage_errors_exit_1(dns, directory, arguments, why):
    conf = write_conf(directory, dns, 'usage.conf')
    done = subprocess.run([sys.executable, '-m', 'smf_spf', '-c', conf] + arguments,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=120)
    assert done.returncode == 1
    assert why in done.stderr and 'Usage:' in done.stderr
