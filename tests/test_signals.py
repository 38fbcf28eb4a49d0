"""The running daemon and its signals: HUP reloads, USR1/USR2 report, PIPE is
ignored, TERM and INT stop it cleanly.

Sessions are held open with a small raw milter-protocol client (what an MTA
sends), so a reload can be seen to leave a session in flight alone.  Nothing
here needs DNS: the whitelists decide before any SPF check.
"""

import os
import pwd
import signal
import socket
import subprocess
import sys
import time

import pytest

from rawmilter import (CONNECT, HELO, MAIL, Client, connect_data, final, free_port,
                       reaped, wait_for)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ME = pwd.getpwuid(os.getuid()).pw_name


class MilterSession(Client):
    """One MTA-side session on the daemon's unix socket, held open across signals."""

    def __init__(self, path, timeout=20.0):
        Client.__init__(self, path, timeout)
        self.negotiate()

    def connect(self, address, hostname='client.example'):
        return final(self.step(CONNECT, connect_data(hostname.encode(), address)))[0]

    def helo(self, name):
        return final(self.step(HELO, name.encode() + b'\0'))[0]

    def mail(self, sender):
        return final(self.step(MAIL, ('<%s>' % sender).encode() + b'\0'))[0]


CONTINUE, ACCEPT = b'c', b'a'


class Daemon(object):
    """smf-spf -f on a unix socket under tmp_path, logging to a LogTo file."""

    def __init__(self, tmp_path, *lines):
        self.dir = tmp_path
        self.socket = str(tmp_path / 'smf-spf.sock')
        self.log_path = tmp_path / 'smf-spf.log'
        self.conf = tmp_path / 'smf-spf.conf'
        self.base = ['Socket unix:%s' % self.socket, 'User %s' % ME, 'Syslog none',
                     'LogTo %s' % self.log_path, 'Nameservers 127.0.0.1', 'SPFTimeout 2']
        self.write(*lines)
        self.process = subprocess.Popen([sys.executable, '-m', 'smf_spf', '-f', '-c',
                                         str(self.conf)], cwd=ROOT,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert wait_for(lambda: self.process.poll() is not None or self.serving()), \
            'not serving'
        assert self.process.poll() is None, self.process.communicate()

    def write(self, *lines):
        self.conf.write_text('\n'.join(self.base + list(lines)) + '\n', encoding='utf-8')

    def serving(self):
        try:
            MilterSession(self.socket, timeout=2).close()
            return True
        except (OSError, EOFError, AssertionError):
            return False

    def log(self, path=None):
        try:
            return (path or self.log_path).read_text(encoding='utf-8')
        except FileNotFoundError:
            return ''

    def send(self, signum):
        self.process.send_signal(signum)

    def wait_log(self, text, path=None, timeout=20.0):
        assert wait_for(lambda: text in self.log(path), timeout), \
            '%r not logged:\n%s' % (text, self.log(path))

    def session(self):
        return MilterSession(self.socket)

    def stop(self, signum=signal.SIGTERM):
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            return self.process.wait(30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self.process.stdout.close()
            self.process.stderr.close()


@pytest.fixture
def daemon(tmp_path):
    started = []

    def start(*lines):
        started.append(Daemon(tmp_path, *lines))
        return started[0]
    yield start
    for running in started:
        running.stop(signal.SIGKILL)


def test_hup_reloads_a_new_whitelist_line_and_spares_the_session_in_flight(daemon):
    milter = daemon('WhitelistFrom in-flight.test')
    held = milter.session()
    assert held.connect('192.0.2.7') == CONTINUE       # not whitelisted yet
    assert held.helo('client.example') == CONTINUE
    milter.write('WhitelistIP 192.0.2.0/24', 'WhitelistFrom other.test')
    milter.send(signal.SIGHUP)
    milter.wait_log('reloaded %s: 2 changes' % milter.conf)
    log = milter.log()
    assert 'reload: WhitelistIP 0 -> 1 entries (added 192.0.2.0/24)' in log
    assert ('reload: WhitelistFrom 1 -> 1 entries (added other.test; removed in-flight.test)'
            in log)
    fresh = milter.session()
    assert fresh.connect('192.0.2.7') == ACCEPT        # the new line, without a restart
    fresh.close()
    milter.wait_log('SPF skip : client ip=192.0.2.7, fqdn=client.example whitelisted by '
                    'WhitelistIP')
    # the session from before the reload goes on, under the config it started with
    # not checked (WhitelistFrom); followed to EOM for forged A-R removal
    assert held.mail('alice@in-flight.test') == CONTINUE
    held.close()        # the line waited for a queue ID; it is written when the session ends
    milter.wait_log('SPF skip : from=<alice@in-flight.test> whitelisted by WhitelistFrom')
    assert milter.process.poll() is None
    assert milter.stop() == 0


def test_hup_with_a_broken_config_keeps_the_running_one_and_names_file_and_line(daemon):
    milter = daemon()
    milter.write('WhitelistIP 192.0.2.0/24', 'TTL soon')
    milter.send(signal.SIGHUP)
    milter.wait_log('keeping the running config')
    assert '%s:8: error: TTL ' % milter.conf in milter.log()
    session = milter.session()
    assert session.connect('192.0.2.7') == CONTINUE    # the whitelist line was not taken
    session.close()
    milter.write('WhitelistIP 192.0.2.0/24')            # fixed: the next HUP takes it
    milter.send(signal.SIGHUP)
    milter.wait_log('reloaded %s: 1 change' % milter.conf)
    session = milter.session()
    assert session.connect('192.0.2.7') == ACCEPT
    session.close()
    assert milter.stop() == 0


def test_hup_with_an_unreadable_config_keeps_running(daemon):
    milter = daemon()
    milter.conf.unlink()
    milter.send(signal.SIGHUP)
    milter.wait_log('cannot reload')
    milter.wait_log('keeping the running config')
    assert milter.process.poll() is None and milter.serving()
    assert milter.stop() == 0


def test_restart_only_keys_are_named_and_keep_their_running_value(daemon, tmp_path):
    milter = daemon()
    milter.base[0] = 'Socket unix:%s' % (tmp_path / 'other.sock')
    milter.write()
    milter.send(signal.SIGHUP)
    milter.wait_log('needs a restart; keeping unix:%s' % milter.socket)
    assert milter.serving() and not (tmp_path / 'other.sock').exists()
    assert milter.stop() == 0


def test_admin_signals_leave_the_process_serving(daemon):
    milter = daemon()
    for _ in range(3):
        for signum in (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGPIPE):
            milter.send(signum)
            time.sleep(0.1)
    milter.wait_log('status: config %s loaded' % milter.conf)
    assert ('(reloads: 1 ok, 0 failed), 0 connections in flight, cache 0/400000 entries, '
            '0 evicted') in milter.log()
    assert wait_for(lambda: milter.log().count('status: config') == 6)
    time.sleep(6)      # libmilter's listener would have stopped by now (HUP once did)
    assert milter.process.poll() is None and milter.serving()
    assert milter.log().count('reloaded %s: no changes' % milter.conf) == 3
    assert milter.stop() == 0


@pytest.mark.parametrize('signum', [signal.SIGTERM, signal.SIGINT])
def test_term_and_int_stop_cleanly_and_remove_the_socket(daemon, signum):
    milter = daemon()
    milter.send(signal.SIGHUP)
    milter.wait_log('reloaded')
    assert milter.stop(signum) == 0
    assert not os.path.exists(milter.socket)
    assert 'stopping smf-spf' in milter.log()


def test_term_ends_the_process_without_waiting_out_libmilters_check_interval(daemon):
    # libmilter's listener looks for a stop only every MI_CHK_TIME (5 s) unless its wait
    # is interrupted: the nudge makes a stop take milliseconds; 3 s leaves a loaded
    # machine its slack while a missed nudge still fails
    milter = daemon()
    session = milter.session()
    session.connect('192.0.2.7')
    session.close()
    started = time.monotonic()
    assert milter.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 3.0
    assert not os.path.exists(milter.socket)


def test_hup_reopens_log_to_after_logrotate_moved_it(daemon):
    milter = daemon()
    rotated = milter.dir / 'smf-spf.log.1'
    os.rename(str(milter.log_path), str(rotated))
    milter.send(signal.SIGHUP)
    milter.wait_log('reloaded %s: no changes' % milter.conf)
    session = milter.session()
    session.connect('192.0.2.7')
    session.close()
    milter.send(signal.SIGUSR1)
    milter.wait_log('status: config')
    assert 'reloaded' not in milter.log(rotated) and 'status:' not in milter.log(rotated)
    assert 'starting smf-spf' in milter.log(rotated)
    assert milter.stop() == 0
    assert 'stopping smf-spf' in milter.log()


# -- the /metrics endpoint of the running daemon --------------------------------------

def _get(url):
    import urllib.request
    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.status, answer.read().decode('utf-8')


def test_metrics_over_ipv6_loopback_count_a_session_and_survive_signals(daemon):
    port = free_port(socket.AF_INET6, '::1')
    milter = daemon('MetricsListen [::1]:%d' % port, 'WhitelistIP 192.0.2.0/24')
    milter.wait_log('metrics on http://[::1]:%d/metrics' % port)
    session = milter.session()
    assert session.connect('192.0.2.7') == ACCEPT
    session.close()
    for signum in (signal.SIGHUP, signal.SIGUSR1, signal.SIGPIPE):
        milter.send(signum)
    milter.wait_log('status: config')
    status, text = _get('http://[::1]:%d/metrics' % port)
    assert status == 200
    assert 'smf_spf_actions_total{action="skipped",list="WhitelistIP"} 1.0' in text
    assert 'smf_spf_config_reloads_total{outcome="ok"} 1.0' in text
    assert milter.stop() == 0


def test_a_busy_metrics_port_is_logged_and_mail_goes_on(daemon):
    busy = socket.socket()
    busy.bind(('127.0.0.1', 0))
    busy.listen(1)
    try:
        milter = daemon('MetricsListen 127.0.0.1:%d' % busy.getsockname()[1])
        milter.wait_log('[ERROR] MetricsListen 127.0.0.1:%d: no metrics: cannot listen'
                        % busy.getsockname()[1])
        assert milter.serving()
        assert milter.stop() == 0
    finally:
        busy.close()


# -- if libmilter's own signal thread ever takes a signal -------------------------------

TGKILL = {'x86_64': 234, 'aarch64': 131}


def _libmilter_signal_thread(pid):
    """The thread of pid waiting in sigwait (libmilter's mi_signal_thread)."""
    for tid in os.listdir('/proc/%d/task' % pid):
        with open('/proc/%d/task/%s/wchan' % (pid, tid)) as wchan:
            if 'sigtimedwait' in wchan.read():
                return int(tid)
    return None


def test_a_hup_taken_by_libmilters_own_thread_ends_with_status_1_for_a_restart(daemon):
    """The rare case the main thread cannot prevent (a second signal while one is
    pending): libmilter stops, and smf-spf says so and exits non-zero, so that a
    supervisor (the units' Restart=always) starts it again rather than mail going
    unchecked. A HUP sent to that thread alone makes the case happen on demand."""
    import ctypes
    milter = daemon()
    tid = _libmilter_signal_thread(milter.process.pid)
    assert tid is not None
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.syscall(TGKILL[os.uname().machine], milter.process.pid, tid,
                        int(signal.SIGHUP)) == 0
    assert milter.process.wait(30) == 1
    milter.wait_log('[ERROR] terminated: libmilter stopped serving on unix:%s though no '
                    'TERM or INT reached smf-spf' % milter.socket)
    assert not os.path.exists(milter.socket)


def _catches(pid, signum):
    with open('/proc/%d/status' % pid) as status:
        for line in status:
            if line.startswith('SigCgt:'):
                return bool(int(line.split()[1], 16) & (1 << (signum - 1)))
    return False


def _writer(path):
    """A descriptor writing to the FIFO at path once a reader has it open, else None."""
    try:
        return os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return None


def test_a_hup_during_start_up_waits_and_is_acted_on(tmp_path):
    """systemctl reload right after start: the HUP comes before the milter serves. The
    start is held where it reads the config, a FIFO, after the handlers are set (the
    rest of the start takes milliseconds); the reload reads a file put in its place."""
    sock = tmp_path / 's.sock'
    log = tmp_path / 'log'
    conf = tmp_path / 'smf-spf.conf'
    text = 'Socket unix:%s\nUser %s\nSyslog none\nLogTo %s\n' % (sock, ME, log)
    os.mkfifo(str(conf))
    with reaped(subprocess.Popen([sys.executable, '-m', 'smf_spf', '-f', '-c', str(conf)],
                                 cwd=ROOT)) as process:
        assert wait_for(lambda: _catches(process.pid, signal.SIGHUP), 30)
        process.send_signal(signal.SIGHUP)
        assert not sock.exists() and process.poll() is None
        held = []
        assert wait_for(lambda: held.append(_writer(str(conf))) or held[-1] is not None)
        (tmp_path / 'plain.conf').write_text(text)
        os.rename(str(tmp_path / 'plain.conf'), str(conf))
        os.write(held[-1], text.encode())            # the start goes on
        os.close(held[-1])
        assert wait_for(lambda: log.exists() and 'reloaded %s' % conf in log.read_text())
        assert process.poll() is None and sock.exists()
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0


class _StoppingThread(object):
    """signals.MilterThread's part serve() uses: libmilter ends 0.3 s after stop(), and
    the kernel refuses every nudge (as an SELinux policy without process signal would)."""

    def __init__(self):
        self.alive = True
        self.nudges = 0
        self.on_exit = None

    def start(self):
        pass

    def is_alive(self):
        return self.alive

    def stop(self):
        import threading
        threading.Timer(0.3, self.end).start()

    def end(self):
        self.alive = False
        self.on_exit()

    def nudge(self):
        self.nudges += 1
        return '[Errno 13] Permission denied'

    def join(self):
        pass


def test_a_refused_nudge_is_logged_once_and_the_stop_waits_for_libmilter_instead():
    import logging
    from miltertools import ListHandler
    from smf_spf import signals
    log = logging.getLogger('smf-spf-test-nudge')
    handler = ListHandler()
    log.addHandler(handler)
    log.propagate = False
    pipe = signals.SignalPipe()
    os.write(pipe._write, bytes((signal.SIGTERM,)))
    milter = _StoppingThread()
    assert signals.serve(pipe, milter, log, on_reload=None, on_status=None) == 'SIGTERM'
    assert milter.nudges == 1
    assert [message for _, message in handler.lines if 'cannot interrupt' in message] == [
        "cannot interrupt libmilter's wait for a connection ([Errno 13] Permission denied): "
        "stopping takes up to 5 s"]


def test_the_docs_name_the_nudge_signal_and_its_interval():
    from smf_spf import signals
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    offset = signals.NUDGE - signal.SIGRTMIN
    named = 'SIGRTMIN+%d' % offset
    with open(os.path.join(root, 'docs', 'operations.md'), encoding='utf-8') as handle:
        operations = handle.read()
    with open(os.path.join(root, 'docs', 'selinux.md'), encoding='utf-8') as handle:
        selinux = handle.read()
    assert named in operations and named in selinux
    assert 'every %d ms' % round(signals.NUDGE_EVERY * 1000) in operations
