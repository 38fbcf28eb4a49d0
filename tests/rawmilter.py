"""The MTA side of the milter protocol, raw: frames no MTA would send, against the daemon.

A frame is a 4-byte big-endian length, a command byte and its data. Daemon starts
`python -m smf_spf -f` on a loopback port with a DNS stub and tells when it serves.
"""

import contextlib
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

OPTNEG, MACRO, CONNECT, HELO, MAIL, RCPT = b'O', b'D', b'C', b'H', b'M', b'R'
DATA, HEADER, EOH, BODY, EOM, ABORT, QUIT = b'T', b'L', b'N', b'B', b'E', b'A', b'Q'
# the protocol flags that say "no reply for this step", by command
NO_REPLY = {CONNECT: 0x1000, HELO: 0x2000, MAIL: 0x4000, RCPT: 0x8000, DATA: 0x10000,
            EOH: 0x40000, BODY: 0x80000, HEADER: 0x80}
# the replies that end a step
FINAL = set(b'acdrtyf')
ALL_ACTIONS = 0x1ff


class Closed(Exception):
    """The milter closed the connection."""


class Client(object):
    """One MTA-side session to a loopback port (int) or a unix socket path (str)."""

    def __init__(self, address, timeout=15.0):
        if isinstance(address, int):
            self.sock = socket.create_connection(('127.0.0.1', address), timeout)
        else:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.settimeout(timeout)
            self.sock.connect(address)
        self.protocol = 0

    def send(self, command, data=b''):
        self.sock.sendall(struct.pack('!I', len(data) + 1) + command + data)

    def _exactly(self, size):
        chunks = b''
        while len(chunks) < size:
            chunk = self.sock.recv(size - len(chunks))
            if not chunk:
                raise Closed('connection closed after %d of %d bytes' % (len(chunks), size))
            chunks += chunk
        return chunks

    def read(self):
        length = struct.unpack('!I', self._exactly(4))[0]
        frame = self._exactly(length)
        return frame[:1], frame[1:]

    def negotiate(self, version=6, actions=ALL_ACTIONS, protocol=0):
        self.send(OPTNEG, struct.pack('!III', version, actions, protocol))
        command, data = self.read()
        assert command == b'O', (command, data)
        self.protocol = struct.unpack('!III', data[:12])[2]
        return self.protocol

    def step(self, command, data=b''):
        """Send one command; the replies up to the final one ([] when none is due)."""
        self.send(command, data)
        if command in (MACRO, ABORT, QUIT) or self.protocol & NO_REPLY.get(command, 0):
            return []
        replies = []
        while True:
            reply = self.read()
            replies.append(reply)
            if reply[0][0] in FINAL:
                return replies

    def macros(self, stage, *strings):
        self.send(MACRO, stage + b''.join(s + b'\0' for s in strings))

    def close(self):
        try:
            self.send(QUIT)
        except OSError:
            pass
        self.sock.close()


def connect_data(hostname, address='192.0.2.1', port=25):
    return hostname + b'\0' + b'4' + struct.pack('!H', port) + address.encode() + b'\0'


def final(replies):
    """(command letter, data) of the last reply: b'c' continue, b'y' a reply code..."""
    return replies[-1] if replies else None


def mails(port, senders, helo=b'mx.client.test', ip='127.0.0.1', macros=()):
    """One ordinary session from `ip`: CONNECT, HELO, then each MAIL FROM (an ABORT
    between, as for RSET), `macros` before each: the final reply to each MAIL."""
    client = Client(port)
    answers = []
    try:
        client.negotiate()
        client.macros(CONNECT, b'j', b'mx.receiver.test')
        client.step(CONNECT, connect_data(b'client.test', ip))
        client.step(HELO, helo + b'\0')
        for sender in senders:
            if answers:
                client.step(ABORT)
            if macros:
                client.macros(MAIL, *macros)
            answers.append(final(client.step(MAIL, b'<' + sender + b'>\0')))
    finally:
        client.close()
    return answers


def session(port, sender, helo=b'mx.client.test', ip='127.0.0.1', macros=()):
    """One ordinary session up to MAIL FROM: the final reply to MAIL."""
    return mails(port, [sender], helo, ip, macros)[0]


def simultaneous_mail(port, senders, timeout=180.0):
    """One session per sender that gets through CONNECT and HELO; then all send MAIL
    FROM at once. Per sender, in order: (seconds from sending MAIL FROM to its final
    reply, the reply's letter)."""
    ready = threading.Barrier(len(senders))
    answered = [None] * len(senders)

    def one(index, sender):
        client = Client(port, timeout)
        try:
            client.negotiate()
            client.macros(CONNECT, b'j', b'mx.receiver.test')
            client.step(CONNECT, connect_data(b'client.test', '127.0.0.1'))
            client.step(HELO, b'mx.client.test\0')
            ready.wait()
            sent = time.monotonic()
            reply = final(client.step(MAIL, b'<a@' + sender + b'>\0'))
            answered[index] = (time.monotonic() - sent, reply[0])
        finally:
            client.close()
    threads = [threading.Thread(target=one, args=(index, sender))
               for index, sender in enumerate(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answered


def free_port(family=socket.AF_INET, host='127.0.0.1'):
    probe = socket.socket(family)
    probe.bind((host, 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def wait_for(predicate, timeout=20.0):
    """True once predicate() holds, False when timeout seconds pass first."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def user_readable_directory(prefix, parent=None):
    """A new directory the daemon's User (nobody, when the tests run as root) can read
    and enter, as a reload must to read the config again."""
    path = tempfile.mkdtemp(prefix=prefix, dir=parent)
    os.chmod(path, 0o755)
    return path


@contextlib.contextmanager
def reaped(process):
    """The subprocess.Popen `process`, killed on the way out if it still runs."""
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


class Daemon(object):
    """smf-spf -f on a loopback inet socket, logging to a file."""

    def __init__(self, directory, nameserver, *extra_lines, prelude=None):
        self.port = free_port()
        self.prelude = prelude      # Python run in the daemon's process before its main
        self.log_path = os.path.join(str(directory), 'smf-spf.log')
        self.conf = os.path.join(str(directory), 'smf-spf.conf')
        lines = ['Socket inet:%d@127.0.0.1' % self.port, 'Nameservers %s' % nameserver,
                 'LogTo %s' % self.log_path, 'Syslog none', 'SPFTimeout 5',
                 'User %s' % ('nobody' if os.getuid() == 0 else 'root')] + list(extra_lines)
        with open(self.conf, 'w') as out:
            out.write('\n'.join(lines) + '\n')
        self.process = None

    def start(self, timeout=20.0):
        # files, not pipes: a full pipe nobody reads would block the daemon's writers
        self.stderr_path = self.log_path + '.stderr'
        with open(self.stderr_path, 'wb') as stderr:
            start = ['-m', 'smf_spf'] if self.prelude is None else [
                '-c', self.prelude + '\nimport runpy\n'
                'runpy.run_module("smf_spf", run_name="__main__", alter_sys=True)']
            self.process = subprocess.Popen(
                [sys.executable] + start + ['-f', '-c', self.conf],
                stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError('smf-spf exited: %s' % self.stderr())
            try:
                socket.create_connection(('127.0.0.1', self.port), 0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError('smf-spf did not serve within %ss' % timeout)

    @property
    def pid(self):
        return self.process.pid

    def alive(self):
        return self.process.poll() is None

    def threads(self):
        return len(os.listdir('/proc/%d/task' % self.pid))

    def fds(self):
        return len(os.listdir('/proc/%d/fd' % self.pid))

    def log(self):
        with open(self.log_path, encoding='utf-8', errors='replace') as handle:
            return handle.read()

    def stderr(self):
        with open(self.stderr_path, encoding='utf-8', errors='replace') as handle:
            return handle.read()

    def stop(self):
        """Stop the daemon: its exit status and what it wrote to stderr."""
        if self.process is None:
            return None, ''
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode, self.stderr()
