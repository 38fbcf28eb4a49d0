"""The daemon after its switch to User: it imports nothing, and what it opens again
(the config and LogTo, at a reload) is checked at start.

User may not be able to read the tree the modules come from: a checkout in root's
home (/root is 0700; the interpreter and the virtualenv may sit there too), or a
tree changed under a running daemon by an upgrade. Here the daemon runs from a copy
of smf_spf in a 0700 directory, started as root with User nobody; a wrapper refuses
and reports every import from the moment of the switch (smf_spf.__main__.become_user)
and the test goes through every path that runs after it: SPF pass, fail, softfail,
none and temperror, the HELO identity, an internationalized domain, bytes that are
not UTF-8, headers and end of message, /metrics, USR1 and USR2, reloads (HUP) that
change the cache, the resolver, the lists and reopen LogTo, a reload that fails, TERM.
"""

import grp
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import urllib.error
import urllib.request

import pytest

from dnsstub import DnsStub
from rawmilter import (BODY, CONNECT, DATA, EOH, EOM, HEADER, HELO, MAIL, RCPT, Client,
                       connect_data, final, free_port, reaped, user_readable_directory,
                       wait_for)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AS_ROOT = os.getuid() == 0
USER = 'nobody'
PROBE = 'smf_spf_probe_after_switch'

# smf-spf as `python -m smf_spf` runs it, with a finder ahead of all others from the
# switch on: it reports each import (stderr, "late import: NAME") and refuses it, as an
# unreadable tree would. A probe import shows the finder is in place; the listing of
# the copy's directory shows whether User can read it at all.
WRAPPER = textwrap.dedent('''
    import os
    import sys

    HERE = os.path.dirname(os.path.abspath(__file__))
    from smf_spf import __main__ as process
    if not process.__file__.startswith(HERE + os.sep):
        sys.exit('smf_spf comes from %%s, not from the copy' %% process.__file__)


    class LateImport(object):
        def find_spec(self, name, path=None, target=None):
            sys.stderr.write('late import: %%s\\n' %% name)
            sys.stderr.flush()
            raise ImportError('%%s imported after the switch to User' %% name)


    def become_user(*args):
        switch(*args)
        sys.meta_path.insert(0, LateImport())
        try:
            import %(probe)s
        except ImportError:
            pass
        try:
            os.listdir(HERE)
            sys.stderr.write('copy readable after the switch\\n')
        except OSError as exc:
            sys.stderr.write('copy unreadable after the switch: %%s\\n' %% exc.strerror)
        sys.stderr.flush()


    switch, process.become_user = process.become_user, become_user
    sys.exit(process.main(['smf-spf'] + sys.argv[1:]))
''') % {'probe': PROBE}


def read(path):
    try:
        with open(path, encoding='utf-8', errors='replace') as handle:
            return handle.read()
    except FileNotFoundError:
        return ''


@pytest.fixture
def reachable():
    """A directory User can enter (pytest's tmp_path is under a 0700 one)."""
    directory = user_readable_directory('smf-spf-priv-')
    yield directory
    shutil.rmtree(directory)


@pytest.fixture
def private_copy():
    """smf_spf (with its compiled modules) and the wrapper in a 0700 directory."""
    directory = tempfile.mkdtemp(prefix='smf-spf-0700-')
    os.chmod(directory, 0o700)
    shutil.copytree(os.path.join(ROOT, 'smf_spf'), os.path.join(directory, 'smf_spf'),
                    ignore=shutil.ignore_patterns('__pycache__'))
    wrapper = os.path.join(directory, 'smf_spf_wrapper.py')
    with open(wrapper, 'w') as out:
        out.write(WRAPPER)
    yield wrapper
    shutil.rmtree(directory)


@pytest.fixture
def dns():
    stub = DnsStub().start()
    yield stub
    stub.stop()


def message(port, sender, helo=b'mx.client.test', rcpt=b'user@receiver.test',
            mail_macros=()):
    """One session as an MTA sends it, up to the end of the message unless a step
    ends it: the final reply to each step (the end of message's with its edits)."""
    client = Client(port)
    replies = []
    try:
        client.negotiate()
        client.macros(CONNECT, b'j', b'mx.receiver.test')
        replies.append(final(client.step(CONNECT, connect_data(b'client.test', '127.0.0.1'))))
        replies.append(final(client.step(HELO, helo + b'\0')))
        if mail_macros:
            client.macros(MAIL, *mail_macros)
        for command, data in ((MAIL, b'<' + sender + b'>\0'), (RCPT, b'<' + rcpt + b'>\0'),
                              (DATA, b''),
                              (HEADER, b'Authentication-Results\0mx.receiver.test; spf=pass\0'),
                              (HEADER, b'Subject\0hello\0'), (EOH, b''), (BODY, b'body\r\n')):
            replies.append(final(client.step(command, data)))
            if replies[-1] != (b'c', b''):
                return replies
        replies.append(client.step(EOM))
        return replies
    finally:
        client.close()


def scrape(port, path='/metrics', **headers):
    request = urllib.request.Request('http://127.0.0.1:%d%s' % (port, path), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=20) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_nothing_is_imported_after_the_switch_on_any_path(private_copy, dns, reachable):
    directory = reachable
    conf, log = os.path.join(directory, 'smf-spf.conf'), os.path.join(directory, 'smf-spf.log')
    port, metrics_port = free_port(), free_port()
    settings = [('Socket', 'inet:%d@127.0.0.1' % port), ('Nameservers', dns.address),
                ('LogTo', log), ('Syslog', 'none'), ('SPFTimeout', '5'), ('User', USER),
                ('MetricsListen', '127.0.0.1:%d' % metrics_port), ('CheckHelo', 'on'),
                ('TTL', '0'), ('AddReceivedHeader', 'on'), ('Quarantine', 'on'),
                ('AcceptPostmaster', 'on'), ('WhitelistPTR', '.ptr.example'),
                ('TrustedForwarder', '.fwd.example')]

    def write(**changed):
        with open(conf, 'w') as out:
            out.writelines('%s %s\n' % (key, changed.pop(key, value))
                           for key, value in settings)
            out.writelines('%s %s\n' % item for item in changed.items())

    def logged():
        return read(log)

    def explain():
        return 'log:\n%s\nstderr:\n%s' % (read(log), read(stderr_path))

    write()
    stderr_path = os.path.join(directory, 'stderr')
    env = dict(os.environ)
    env.pop('PYTHONPATH', None)
    with open(stderr_path, 'wb') as stderr:
        process = subprocess.Popen([sys.executable, private_copy, '-f', '-c', conf],
                                   cwd=os.path.dirname(private_copy), env=env,
                                   stdout=subprocess.DEVNULL, stderr=stderr)
    with reaped(process):
        assert wait_for(lambda: process.poll() is not None or 'TCP_NODELAY' in logged()), \
            explain()
        assert process.poll() is None, explain()

        replies = message(port, b'a@pass.stub.test')
        assert replies[-1][-1] == (b'c', b'') and any(
            b'spf=pass' in data for _, data in replies[-1])
        assert message(port, b'a@fail.stub.test')[2:] == [
            (b'c', b''), (b'y', b'550 5.7.23 Message was rejected during SPF policy '
                          b'evaluation. sender:a@fail.stub.test client-ip:127.0.0.1\0')]
        for sender in (b'a@fail.stub.test', b'a@softfail.stub.test', b'a@nothing.stub.test',
                       b'a@servfail.stub.test', 'a@b\u00fccher.example'.encode('utf-8'),
                       b''):
            replies = message(port, sender, rcpt=b'postmaster@receiver.test')
            assert replies[-1][-1] == (b'c', b''), (sender, replies)
        # bytes that are not UTF-8: passed on by the guard, else unreadable to pymilter
        replies = message(port, b'a\xff@pass.stub.test', rcpt=b'postmaster@receiver.test')
        assert replies[-1][-1] == (b'c', b'') or replies[-1] == (
            b'y', b'451 4.3.0 Sender address could not be read\0'), replies
        for helo in (b'fail.stub.test', b'h\xff.test'):
            assert message(port, b'a@pass.stub.test', helo=helo)[-1][-1] == (b'c', b'')
        replies = message(port, b'a@fail.stub.test', mail_macros=(b'{auth_authen}', b'alice'))
        assert replies[-1][-1] == (b'c', b'')

        assert scrape(metrics_port)[0] == 200
        assert scrape(metrics_port, **{'Accept-Encoding': 'gzip'})[0] == 200
        status, text = scrape(metrics_port,
                              Accept='application/openmetrics-text; version=1.0.0')
        assert status == 200 and (b'smf_spf_results_total{identity="mailfrom",'
                                  b'result="temperror"} 1.0') in text, text
        for path in ('/', '/favicon.ico'):
            assert scrape(metrics_port, path)[0] in (200, 404)

        process.send_signal(signal.SIGUSR1)
        process.send_signal(signal.SIGUSR2)
        assert wait_for(lambda: logged().count('status: config %s' % conf) == 2), explain()
        write(TTL='60', Nameservers='%s 127.0.0.1' % dns.address,
              WhitelistFrom='x.example', Syslog='mail')
        process.send_signal(signal.SIGHUP)
        assert wait_for(lambda: 'reloaded %s: 4 changes' % conf in logged()), explain()
        for _ in range(2):       # a fresh check, then one from the cache the reload made
            assert message(port, b'a@pass.stub.test')[-1][-1] == (b'c', b'')
        write(TTL='soon')
        process.send_signal(signal.SIGHUP)
        assert wait_for(lambda: 'reload of %s failed' % conf in logged()), explain()
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    stderr, text = read(stderr_path), read(log)
    late = [line for line in stderr.splitlines() if line.startswith('late import: ')]
    assert late == ['late import: %s' % PROBE], stderr
    for name in ('Traceback', 'ImportError', 'ModuleNotFoundError', '[ERROR]', 'warning:',
                 'cannot be reopened'):
        assert name not in text, text
    for result in ('pass', 'fail', 'softfail', 'none', 'temperror', 'helo fail'):
        assert 'SPF %s: ' % result in text, text
    assert 'stopping smf-spf' in text
    if AS_ROOT:
        entry = pwd.getpwnam(USER)
        assert 'running as uid: %d, gid: %d' % (entry.pw_uid, entry.pw_gid) in text
        assert 'copy unreadable after the switch: Permission denied' in stderr, stderr


# -- what User must open again, checked at start and by -t --------------------------------

def check(path, cwd=ROOT):
    return subprocess.run([sys.executable, '-m', 'smf_spf', '-t', '-c', path], cwd=cwd,
                          env=dict(os.environ, PYTHONPATH=ROOT), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=60)


def config_in(directory, *lines):
    path = os.path.join(directory, 'smf-spf.conf')
    with open(path, 'w') as out:
        out.write('\n'.join(('Syslog none', 'User %s' % USER) + lines) + '\n')
    return path


def needs_root():
    if not AS_ROOT:
        pytest.skip('only a daemon started by root switches to User')


def test_check_is_quiet_when_user_reaches_everything(reachable):
    needs_root()
    log = os.path.join(reachable, 'smf-spf.log')
    done = check(config_in(reachable, 'LogTo %s' % log))
    assert (done.returncode, done.stderr) == (0, '')
    entry = pwd.getpwnam(USER)
    info = os.stat(log)           # -t created it: for User, who reopens it at a reload
    assert (info.st_uid, info.st_gid, info.st_mode & 0o777) == (
        entry.pw_uid, entry.pw_gid, 0o640)


def test_check_names_a_directory_user_cannot_enter(reachable):
    needs_root()
    locked = os.path.join(reachable, 'locked')
    os.mkdir(locked, 0o700)
    path = config_in(locked, 'LogTo %s' % os.path.join(locked, 'smf-spf.log'))
    done = check(path)
    assert done.returncode == 0 and done.stdout.endswith('\n%s: OK\n' % path)
    assert done.stderr.splitlines() == [
        '%s: warning: User %s cannot enter %s, so it cannot read this file: a reload '
        '(SIGHUP) fails; let %s search %s, or move the file where %s can reach it'
        % (path, USER, locked, USER, locked, USER),
        '%s: warning: User %s cannot enter %s, so it cannot write LogTo %s: a reload '
        '(SIGHUP, logrotate) cannot reopen it and logs on to the file opened at start; '
        'let %s search %s, or move the file where %s can reach it'
        % (path, USER, locked, os.path.join(locked, 'smf-spf.log'), USER, locked, USER)]


def test_check_names_files_user_cannot_open_and_the_start_logs_it(reachable):
    needs_root()
    log = os.path.join(reachable, 'smf-spf.log')
    with open(log, 'w'):
        pass
    os.chmod(log, 0o640)              # root's, as a file made before the start would be
    port = free_port()
    path = config_in(reachable, 'LogTo %s' % log, 'Socket inet:%d@127.0.0.1' % port)
    os.chmod(path, 0o600)
    group = grp.getgrgid(pwd.getpwnam(USER).pw_gid).gr_name
    expected = [
        'User %s cannot read this file (Permission denied): a reload (SIGHUP) fails; make '
        'it readable by %s (chgrp %s %s; chmod g+r %s)' % (USER, USER, group, path, path),
        'User %s cannot write LogTo %s (Permission denied): a reload (SIGHUP, logrotate) '
        'cannot reopen it and logs on to the file opened at start; chown %s %s'
        % (USER, log, USER, log)]
    done = check(path)
    assert done.returncode == 0
    assert done.stderr.splitlines() == ['%s: warning: %s' % (path, line) for line in expected]

    with reaped(subprocess.Popen([sys.executable, '-m', 'smf_spf', '-f', '-c', path],
                                 cwd=ROOT, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)) as process:
        assert wait_for(lambda: process.poll() is not None or 'running as uid' in read(log))
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
    text = read(log)
    for line in expected:
        assert '[CONFIG] %s: warning: %s\n' % (path, line) in text, text


def test_a_relative_config_is_reached_from_the_directory_the_daemon_runs_in(reachable):
    """`make run` in a checkout under root's home: -c build/run.conf is opened from the
    checkout (0755) at a reload too, though /root itself is closed to User."""
    needs_root()
    locked = os.path.join(reachable, 'locked')
    os.mkdir(locked, 0o700)
    checkout = os.path.join(locked, 'checkout')
    os.mkdir(checkout, 0o755)
    path = config_in(checkout)
    relative = check('smf-spf.conf', cwd=checkout)
    assert (relative.returncode, relative.stderr) == (0, '')
    absolute = check(path, cwd=checkout)
    assert 'warning: User %s cannot enter %s, so it cannot read this file' % (
        USER, locked) in absolute.stderr
