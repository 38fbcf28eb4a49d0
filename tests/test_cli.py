"""The process: command line, config check, fatal start-up errors, signals, socket."""

import io
import os
import pwd
import signal
import socket
import stat
import subprocess
import sys

import pytest

from rawmilter import free_port, reaped, wait_for


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, 'tests', 'data')
ME = pwd.getpwuid(os.getuid()).pw_name


def run(*args, **kwargs):
    return subprocess.run([sys.executable, '-m', 'smf_spf'] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=60, **kwargs)


def write(tmp_path, *lines):
    path = tmp_path / 'smf-spf.conf'
    path.write_text('\n'.join(lines) + '\n', encoding='utf-8')
    return str(path)


def test_help_prints_usage_to_stderr_and_exits_0():
    done = run('-h')
    assert done.returncode == 0 and done.stdout == ''
    assert done.stderr.startswith('Usage: smf-spf [-f] [-c <config file>]')


def test_version():
    from smf_spf import __version__
    done = run('-V')
    assert done.returncode == 0 and __version__ in done.stdout


def test_unknown_option_fails():
    done = run('-x')
    assert done.returncode != 0 and 'Usage' in done.stderr


def test_check_valid_config(tmp_path):
    done = run('-t', '-c', write(tmp_path, 'User %s' % ME, 'WhitelistIP 10.0.0.0/8'))
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith(': OK\n')


def test_check_states_the_mta_timeout_rule(tmp_path):
    """-t says how long Postfix and Sendmail must wait for this SPFTimeout, before OK."""
    from smf_spf.config import mta_timeout_rule
    done = run('-t', '-c', write(tmp_path, 'User %s' % ME, 'SPFTimeout 12'))
    assert done.returncode == 0, done.stderr
    path = str(tmp_path / 'smf-spf.conf')
    assert done.stdout.endswith('\n%s\n%s: OK\n' % (mta_timeout_rule(12), path))
    assert 'T=R:20s' in done.stdout and 'milter_command_timeout' in done.stdout


def test_check_lists_each_setting_other_than_the_default_with_what_its_key_does(tmp_path):
    """-t's stdout opens with the settings that differ from the built-in defaults, in the
    key table's order, each with the key table's one-line description; a list key by its
    number of entries; a line that sets a default is not listed."""
    from smf_spf.config import ABOUT, DEFAULT_SPF_TIMEOUT, mta_timeout_rule
    path = write(tmp_path, 'SPFTimeout 12', 'User %s' % ME, 'TTL 1h', 'WhitelistIP 10.0.0.0/8',
                 'WhitelistIP 192.0.2.1', 'RefuseFail off', 'RejectTempError yes')
    done = run('-t', '-c', path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == 'settings other than the defaults:'
    listed = [line.split('  # ') for line in lines[1:-2]]
    assert [(setting.split(), about) for setting, about in listed] == [
        (['WhitelistIP', '(2', 'entries)'], ABOUT['whitelist_ip']),
        (['RefuseFail', 'off'], ABOUT['refuse_fail']),
        (['AcceptTempError', 'off'], ABOUT['accept_temp_error']),   # the fork's key, as ours
        (['User', ME], ABOUT['user']),
        (['SPFTimeout', '12.0'], ABOUT['spf_timeout'])]
    assert all(line.startswith('  ') for line in lines[1:-2])
    assert lines[-2:] == [mta_timeout_rule(12), '%s: OK' % path]
    done = run('-t', '-c', write(tmp_path, 'User smfs', 'TTL 3600'))
    assert done.stdout.splitlines()[:2] == ['settings other than the defaults: none',
                                            mta_timeout_rule(DEFAULT_SPF_TIMEOUT)]


def test_check_reports_every_bad_line_with_file_and_line(tmp_path):
    path = write(tmp_path, 'User %s' % ME, 'TTL soon', 'Frob on', 'WhitelistIP 1.2.3.400/8')
    done = run('-t', '-c', path)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[0].startswith('%s:2: error: TTL ' % path)
    assert lines[1].startswith('%s:3: warning: unknown key' % path)
    assert lines[2].startswith('%s:4: error: WhitelistIP ' % path)


def test_check_takes_issue_21s_keys_and_names_each_bad_value(tmp_path):
    good = ('SPFVoidLimit 3', 'RefuseNotPass example.com, example.net',
            'RefuseFailEmptySender tag', 'RejectReason %{result} for %{domain}: %{exp}')
    path = write(tmp_path, 'User %s' % ME, *good)
    done = run('-t', '-c', path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[:2] == [
        'compatibility: these lines do not act as in smf-spf 2.x:',
        "%s:5: compat: RejectReason: the %%{name} fields are smf-spf-py's; smf-spf 2.x sent "
        "them as written" % path]
    path = write(tmp_path, 'User %s' % ME, 'SPFVoidLimit many', 'RefuseNotPass localhost',
                 'RefuseFailEmptySender bounce', 'RejectReason %{domian}')
    done = run('-t', '-c', path)
    assert done.returncode == 1
    assert [line.split(': ', 2)[:2] for line in done.stderr.splitlines()] == [
        ['%s:%d' % (path, line), 'error'] for line in (2, 3, 4, 5)]
    for key in ('SPFVoidLimit', 'RefuseNotPass', 'RefuseFailEmptySender', 'RejectReason'):
        assert key in done.stderr


def test_check_lists_lines_that_differ_from_c_after_the_problems(tmp_path):
    path = write(tmp_path, 'User %s' % ME, 'RefuseFail off', 'WhitelistIP 192.168.1.10 printer',
                 'RefuseSPFNone on', 'RefuseFail on', 'Socket inet:10011')
    done = run('-t', '-c', path)
    assert done.returncode == 0, done.stderr      # nothing here is an error
    assert done.stdout.endswith(': OK\n')
    lines = done.stderr.splitlines()
    heading = lines.index('compatibility: these lines do not act as in smf-spf 2.x:')
    problems, compat = lines[:heading], lines[heading + 1:]
    assert [line.split(': ')[0:2] for line in problems] == [
        ['%s:5' % path, 'warning'], ['%s:6' % path, 'warning']]
    assert 'line 2 (off) takes effect' in problems[0]
    assert 'every interface' in problems[1]
    assert [line.split(': ')[0:2] for line in compat] == [
        ['%s:3' % path, 'compat'], ['%s:4' % path, 'compat']]
    assert 'SPFBestGuess off' in compat[1]


def test_check_accepts_the_howto_config(tmp_path):
    with io.open(os.path.join(DATA, 'howto-2.0.4.conf'), encoding='utf-8') as howto:
        text = howto.read()
    path = write(tmp_path, text, 'User %s' % ME)
    done = run('-t', '-c', path)
    # valid; its only remark is the LAN-wide socket of the how-to's example
    assert done.returncode == 0
    assert done.stderr.splitlines() == [
        '%s:105: warning: Socket inet:10011@192.168.0.70 listens beyond loopback: every host '
        'that reaches 192.168.0.70 can talk to the milter; prefer a unix socket or a '
        'firewall' % path]


def test_missing_config_given_with_c_is_fatal(tmp_path):
    done = run('-f', '-c', str(tmp_path / 'missing.conf'))
    assert done.returncode == 1 and 'missing.conf' in done.stderr


def test_unopenable_log_to_is_fatal(tmp_path):
    done = run('-f', '-c', write(tmp_path, 'LogTo /nonexistent-dir/x.log', 'User %s' % ME))
    assert done.returncode == 1 and '/nonexistent-dir/x.log' in done.stderr


def test_unknown_user_is_fatal_for_root_and_a_warning_otherwise(tmp_path):
    path = write(tmp_path, 'User no-such-user-smfs', 'Syslog none')
    checked = run('-t', '-c', path)
    assert "User 'no-such-user-smfs' does not exist" in checked.stderr
    if os.getuid() == 0:       # C looks the user up only when started as root
        assert checked.returncode == 1
        done = run('-f', '-c', path)
        assert done.returncode == 1 and 'no-such-user-smfs' in done.stderr
    else:
        assert checked.returncode == 0


def test_unparsable_socket_is_fatal(tmp_path):
    done = run('-f', '-c', write(tmp_path, 'Socket tcp:25', 'User %s' % ME))
    assert done.returncode == 1 and 'smf-spf.conf:1: fatal: Socket' in done.stderr


def test_busy_inet_socket_is_fatal(tmp_path):
    busy = socket.socket()
    busy.bind(('127.0.0.1', 0))
    busy.listen(1)
    try:
        done = run('-f', '-c', write(tmp_path, 'Socket inet:%d@127.0.0.1' % busy.getsockname()[1],
                                     'User %s' % ME, 'Syslog none'))
    finally:
        busy.close()
    assert done.returncode == 1 and 'cannot' in done.stderr


def socket_in_open_directory(tmp_path):
    """A socket path in a directory anyone may write (0777): the socket's mode is then the
    daemon's own doing."""
    sock = tmp_path / 'run' / 'smf-spf.sock'
    sock.parent.mkdir()
    sock.parent.chmod(0o777)
    return sock


def serving_unix(sock, modes):
    """serve_until_sigterm's serving() for a unix socket: it takes connections; its mode
    is appended to modes."""
    def serving():
        if not (sock.exists() and _connects(str(sock))):
            return False
        modes.append(stat.S_IMODE(os.stat(str(sock)).st_mode))
        return True
    return serving


def test_sigterm_stops_cleanly_and_removes_unix_socket(tmp_path):
    sock = socket_in_open_directory(tmp_path)
    log = tmp_path / 'log'
    path = write(tmp_path, 'Socket unix:%s' % sock, 'User %s' % ME, 'Syslog none',
                 'LogTo %s' % log, 'ClientIPNAT 127.0.0.ss:1.2.3.4')
    # a stale socket from a crashed run is replaced
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(sock))
    stale.close()
    modes = []
    assert serve_until_sigterm(path, serving_unix(sock, modes)) == 0
    assert modes[0] == 0o770     # 0777 less the umask 007: owner and group may connect, others not
    text = log.read_text(encoding='utf-8')
    assert 'smf-spf.conf:5: error: ClientIPNAT' in text
    assert 'stopping smf-spf' in text
    assert not sock.exists()


def test_the_readme_states_the_mode_the_milter_creates_its_unix_socket_with(tmp_path):
    """The one place the docs give the socket's mode (the README's Postfix section,
    where `usermod -a -G smfs postfix` depends on it) against the socket the daemon makes."""
    import re
    sock = socket_in_open_directory(tmp_path)
    modes = []
    assert serve_until_sigterm(write(tmp_path, 'Socket unix:%s' % sock, 'User %s' % ME,
                                     'Syslog none'), serving_unix(sock, modes)) == 0
    with io.open(os.path.join(ROOT, 'README.md'), encoding='utf-8') as readme:
        stated = re.findall(r'creates its unix socket mode (0[0-7]{3})', readme.read())
    assert stated == ['0%o' % modes[0]]


def serve_until_sigterm(path, serving):
    """Start smf-spf -f -c path, wait until serving() holds, SIGTERM it: its exit status."""
    with reaped(subprocess.Popen([sys.executable, '-m', 'smf_spf', '-f', '-c', path],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)) as process:
        assert wait_for(lambda: process.poll() is None and serving()), \
            process.communicate(timeout=5)[1] if process.poll() is not None else 'not serving'
        process.send_signal(signal.SIGTERM)
        return process.wait(20)


def _connects(path):
    client = socket.socket(socket.AF_UNIX)
    try:
        client.connect(path)
        return True
    except OSError:
        return False
    finally:
        client.close()


def test_daemonizes_by_default(tmp_path):
    port = free_port()
    log = tmp_path / 'log'
    path = write(tmp_path, 'Socket inet:%d@127.0.0.1' % port, 'User %s' % ME, 'Syslog none',
                 'LogTo %s' % log)
    done = run('-c', path)
    assert done.returncode == 0    # the parent returns at once; the daemon serves
    assert wait_for(lambda: _port_open(port))
    pids = _pids_with_argument(path)
    assert len(pids) == 1
    os.kill(pids[0], signal.SIGTERM)
    assert wait_for(lambda: not _port_open(port))
    assert wait_for(lambda: 'stopping smf-spf' in log.read_text(encoding='utf-8'))


def _port_open(port):
    try:
        socket.create_connection(('127.0.0.1', port), 0.5).close()
        return True
    except OSError:
        return False


def _pids_with_argument(argument):
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % entry, 'rb') as handle:
                if argument.encode() in handle.read().split(b'\0'):
                    found.append(int(entry))
        except OSError:
            pass
    return found


@pytest.mark.parametrize('sample', ['howto-2.0.4.conf', 'sample-2.5.conf',
                                    'nat-invalid-lines.conf', 'odd-lines-2.x.conf'])
def test_field_configs_start_the_daemon(tmp_path, sample):
    """Configs from the field start and serve; their bad lines are logged, not fatal.
    Only Socket, User and LogTo are replaced (the last line of a key wins), since the
    originals name addresses and users this machine does not have."""
    with io.open(os.path.join(DATA, sample), encoding='utf-8') as original:
        text = original.read()
    # a unix socket of its own: a free TCP port can be taken by another test meanwhile
    sock = str(tmp_path / 'smf-spf.sock')
    log = tmp_path / 'log'
    path = write(tmp_path, text, 'Socket unix:%s' % sock, 'User %s' % ME,
                 'LogTo %s' % log, 'Syslog none')
    status = serve_until_sigterm(path, lambda: os.path.exists(sock) and _connects(sock))
    logged = log.read_text(encoding='utf-8')
    assert status == 0, logged
    assert 'starting smf-spf' in logged and 'stopping smf-spf' in logged
    # the C configs set no SPFTimeout: the start-up log states the rule for the default
    from smf_spf.config import DEFAULT_SPF_TIMEOUT, mta_timeout_rule
    assert mta_timeout_rule(DEFAULT_SPF_TIMEOUT) in logged
    if sample == 'nat-invalid-lines.conf':
        assert logged.count('error: ClientIPNAT') == 4


def test_start_up_log_names_repeated_keys_and_compat_lines(tmp_path):
    port = free_port()
    log = tmp_path / 'log'
    path = write(tmp_path, 'RefuseFail off', 'RefuseFail on', 'RefuseSPFNone on',
                 'Socket inet:%d@127.0.0.1' % port, 'User %s' % ME, 'LogTo %s' % log,
                 'Syslog none')
    assert serve_until_sigterm(path, lambda: _port_open(port)) == 0
    logged = log.read_text(encoding='utf-8')
    assert '[CONFIG] %s:2: warning: RefuseFail is set more than once' % path in logged
    assert '[CONFIG] %s:3: compat: RefuseSPFNone on has no effect' % path in logged


def test_start_up_log_keeps_many_compat_lines_to_a_count(tmp_path):
    """-t lists every compatibility line; the log at start names the first few and
    counts the rest (100,000 narrowed WhitelistFrom lines are no 100,000 log lines)."""
    from smf_spf.__main__ import MAX_LOGGED_COMPAT
    port = free_port()
    log = tmp_path / 'log'
    patterns = ['WhitelistFrom partner%d.example' % n for n in range(MAX_LOGGED_COMPAT + 30)]
    path = write(tmp_path, 'Socket inet:%d@127.0.0.1' % port, 'User %s' % ME,
                 'LogTo %s' % log, 'Syslog none', *patterns)
    assert serve_until_sigterm(path, lambda: _port_open(port)) == 0
    logged = log.read_text(encoding='utf-8')
    assert logged.count(': compat: ') == MAX_LOGGED_COMPAT
    assert '%s: 30 more lines do not act as in smf-spf 2.x: smf-spf -t lists them all' \
        % path in logged
    checked = subprocess.run([sys.executable, '-m', 'smf_spf', '-t', '-c', path],
                             stderr=subprocess.PIPE, universal_newlines=True)
    assert checked.stderr.count(': compat: ') == MAX_LOGGED_COMPAT + 30


@pytest.mark.parametrize('form', ['inet:{port}@localhost', 'inet:{port}@[127.0.0.1]',
                                  'inet6:{port}@[::1]'])
def test_daemon_serves_on_libmilter_socket_forms(tmp_path, form):
    port = free_port()
    path = write(tmp_path, 'Socket ' + form.format(port=port), 'User %s' % ME, 'Syslog none')
    host = '::1' if form.startswith('inet6') else '127.0.0.1'

    def listening():
        try:
            socket.create_connection((host, port), 0.5).close()
            return True
        except OSError:
            return False
    assert serve_until_sigterm(path, listening) == 0


def test_daemon_serves_on_a_bare_socket_path(tmp_path):
    sock = str(tmp_path / 'bare.sock')
    path = write(tmp_path, 'Socket ' + sock, 'User %s' % ME, 'Syslog none')
    assert serve_until_sigterm(path, lambda: os.path.exists(sock)) == 0



def test_check_of_the_odd_field_config_lists_its_compat_lines(tmp_path):
    with io.open(os.path.join(DATA, 'odd-lines-2.x.conf'), encoding='utf-8') as original:
        text = original.read()
    path = write(tmp_path, text, 'User %s' % ME)
    done = run('-t', '-c', path)
    assert done.returncode == 0 and done.stdout.endswith(': OK\n')
    section = done.stderr.split('compatibility: these lines do not act as in smf-spf 2.x:\n')[1]
    assert [line.split(': ')[0] for line in section.splitlines()] == [
        '%s:%d' % (path, n) for n in (4, 6, 7, 11)]


@pytest.mark.parametrize('socket_text, warned', [
    ('inet:2424@127.0.0.1', None),
    ('inet6:2424@[::1]', None),
    ('inet:2424@localhost', None),
    ('unix:/run/smfs/smf-spf.sock', None),
    ('inet:2424', 'Socket inet:2424 listens on every interface'),
    ('inet:2424@0.0.0.0', 'Socket inet:2424@0.0.0.0 listens on every interface'),
    ('inet6:2424@[2001:db8::1]', 'Socket inet6:2424@[2001:db8::1] listens beyond loopback'),
    ('inet:2424@mx.example.org', 'Socket inet:2424@mx.example.org listens beyond loopback'),
])
def test_check_warns_about_sockets_others_can_reach(tmp_path, socket_text, warned):
    path = write(tmp_path, 'Socket %s' % socket_text, 'User %s' % ME)
    done = run('-t', '-c', path)
    assert done.returncode == 0 and done.stdout.endswith(': OK\n')
    if warned is None:
        assert done.stderr == ''
    else:
        assert done.stderr.startswith('%s:1: warning: %s' % (path, warned)), done.stderr
        assert len(done.stderr.splitlines()) == 1


@pytest.mark.parametrize('mode, owner, warned', [
    (0o644, 'root', None),
    (0o600, 'root', None),
    (0o664, 'root', 'is writable by its group'),
    (0o646, 'root', 'is writable by everyone'),
    (0o644, 'nobody', 'is owned by nobody, not root'),
])
def test_check_warns_about_a_config_others_can_change(tmp_path, mode, owner, warned):
    if os.getuid() != 0:
        pytest.skip('needs root to give the file to root and to nobody')
    path = write(tmp_path, 'Socket unix:%s' % (tmp_path / 'sock'), 'User %s' % ME)
    os.chmod(path, mode)
    os.chown(path, pwd.getpwnam(owner).pw_uid, -1)
    done = run('-t', '-c', path)
    assert done.returncode == 0
    if warned is None:
        assert done.stderr == ''
    else:
        assert done.stderr == '%s: warning: %s %s' % (path, path, warned) + (
            ': only root should be able to change it\n' if 'writable' in warned
            else ': that user can change it\n')


def test_start_logs_the_exposure_warnings(tmp_path):
    port = free_port()
    log = tmp_path / 'log'
    path = write(tmp_path, 'Socket inet:%d' % port, 'User %s' % ME, 'Syslog none',
                 'LogTo %s' % log)
    os.chmod(path, 0o666)
    assert serve_until_sigterm(path, lambda: _port_open(port)) == 0
    text = log.read_text(encoding='utf-8')
    assert 'warning: Socket inet:%d listens on every interface' % port in text
    assert '%s is writable by everyone' % path in text


def test_second_instance_on_a_live_unix_socket_refuses_to_start(tmp_path):
    sock = tmp_path / 'smf-spf.sock'
    first_log, second_log = tmp_path / 'first.log', tmp_path / 'second.log'
    first = write(tmp_path, 'Socket unix:%s' % sock, 'User %s' % ME, 'Syslog none',
                  'LogTo %s' % first_log)
    process = subprocess.Popen([sys.executable, '-m', 'smf_spf', '-f', '-c', first],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert wait_for(lambda: sock.exists() and _connects(str(sock)))
        inode = os.stat(str(sock)).st_ino
        second_dir = tmp_path / 'second'
        second_dir.mkdir()
        second = write(second_dir, 'Socket unix:%s' % sock, 'User %s' % ME, 'Syslog none',
                       'LogTo %s' % second_log)
        for options in (['-f'], []):          # in the foreground and as a daemon
            done = run(*(options + ['-c', second]))
            assert done.returncode == 1, done.stderr
            assert 'another process answers on unix:%s' % sock in done.stderr
        assert process.poll() is None
        assert os.stat(str(sock)).st_ino == inode and _connects(str(sock))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(20)
    assert not sock.exists()


def test_cannot_opensocket_says_why(tmp_path):
    if os.getuid() == 0:
        # root may bind anywhere: a path under a regular file fails for everyone
        blocker = tmp_path / 'file'
        blocker.write_text('')
        sock = blocker / 'smf-spf.sock'
        expected = 'Not a directory'
    else:
        locked = tmp_path / 'locked'
        locked.mkdir()
        locked.chmod(0o500)
        sock = locked / 'smf-spf.sock'
        expected = 'Permission denied'
    path = write(tmp_path, 'Socket unix:%s' % sock, 'User %s' % ME, 'Syslog none')
    done = run('-f', '-c', path)
    assert done.returncode == 1
    assert 'cannot serve on unix:%s' % sock in done.stderr
    assert '%s: %s' % (sock, expected) in done.stderr, done.stderr
