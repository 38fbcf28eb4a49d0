"""Generated milter frames against the running daemon: afterwards it is alive, its
threads and descriptors are back at their idle numbers, and mail is answered as before.

Seeded (SMF_SPF_FUZZ_SEED to replay a run); bounded to a few thousand frames.
"""

import os
import random
import socket
import struct
import threading
import time

import pytest

import rawmilter
from rawmilter import session

SEED = int(os.environ.get('SMF_SPF_FUZZ_SEED', '20261129'))
CONNECTIONS = 1500
WORKERS = 8
COMMANDS = b'ODCHMRTLNBEAQUK\x00\xff'
STAGES = b'CHMRTLNEU\x00'
MACRO_NAMES = [b'j', b'{j}', b'{verify}', b'{auth_authen}', b'{auth_type}', b'i', b'{daemon_name}',
               b'{if_addr}', b'v', b'_', b'{}', b'{', b'']
DOMAINS = [b'pass.stub.test', b'fail.stub.test', b'softfail.stub.test', b'nowhere.stub.test',
           b'[127.0.0.1]', b'', b'.', b'..', b'a' * 300]


class Fields(object):
    """Field values: mostly plausible, often hostile (non-UTF-8, NULs, long, empty)."""

    def __init__(self, rng):
        self.rng = rng

    def junk(self, limit=40):
        return bytes(self.rng.getrandbits(8) for _ in range(self.rng.randrange(limit)))

    def text(self):
        choice = self.rng.random()
        if choice < 0.3:
            return self.rng.choice(DOMAINS)
        if choice < 0.5:
            return self.junk().replace(b'\0', b'')
        if choice < 0.6:
            return b'\xff\xfe' + self.rng.choice(DOMAINS) + b'\xc3'
        if choice < 0.7:
            return b'x' * self.rng.choice([255, 256, 1000, 4000])
        return self.rng.choice([b'mx.client.test', b'caf\xc3\xa9.test', b'%s%n%x', b'[::1]'])

    def address(self):
        local = self.rng.choice([b'a', b'', b'"a;spf=pass"', b'\xe9', b'postmaster', b'a@b'])
        shape = self.rng.random()
        if shape < 0.7:
            return b'<' + local + b'@' + self.rng.choice(DOMAINS) + b'>'
        if shape < 0.8:
            return b'<>'
        return self.text()

    def strings(self):
        count = self.rng.randrange(6)
        return b''.join(self.text() + b'\0' for _ in range(count))

    def macro(self):
        count = self.rng.randrange(9)           # odd counts included
        parts = [self.rng.choice(MACRO_NAMES) if i % 2 == 0 else self.text()
                 for i in range(count)]
        return bytes([self.rng.choice(STAGES)]) + b''.join(p + b'\0' for p in parts)

    def connect(self):
        port = struct.pack('!H', self.rng.randrange(65536))
        if self.rng.random() < 0.7:
            family, address = self.rng.choice([(b'4', b'127.0.0.1'), (b'4', b'192.0.2.1'),
                                               (b'6', b'::1'), (b'6', b'2001:db8::1')])
            return self.text() + b'\0' + family + port + address + b'\0'
        family = self.rng.choice([b'4', b'6', b'L', b'U', b'X', b''])
        address = self.rng.choice([b'127.0.0.1', b'::1', b'not-an-ip', b'300.1.1.1', b'',
                                   self.junk(20)])
        data = self.text() + b'\0' + family
        if self.rng.random() < 0.9:
            data += port + address + (b'\0' if self.rng.random() < 0.9 else b'')
        return data

    def script(self):
        """A session's frames in protocol order, each step often mutated: dropped,
        repeated, replaced by a generated frame, or joined by a macro frame."""
        steps = [(b'C', self.connect()), (b'H', self.text() + b'\0'),
                 (b'M', self.address() + b'\0' + self.strings())]
        steps += [(b'R', self.address() + b'\0' + self.strings())
                  for _ in range(self.rng.randrange(3))]
        steps += [(b'T', b'')]
        steps += [(b'L', self.text() + b'\0' + self.text() + b'\0')
                  for _ in range(self.rng.randrange(3))]
        steps += [(b'N', b''), (b'B', self.junk(2000)), (b'E', b'')]
        if self.rng.random() < 0.3:
            steps += [(b'A', b'')] + steps[2:]                # a second message
        frames = []
        for step in steps:
            roll = self.rng.random()
            if roll < 0.25:
                frames.append((b'D', self.macro()))
            if roll < 0.05:
                continue
            if roll < 0.15:
                frames.append(self.frame())
                continue
            frames.append(step)
            if roll > 0.95:
                frames.append(step)
        return frames

    def frame(self):
        kind = self.rng.random()
        if kind < 0.25:
            return b'D', self.macro()
        if kind < 0.35:
            return b'C', self.connect()
        if kind < 0.45:
            return b'H', self.text() + b'\0'
        if kind < 0.6:
            return b'M', self.address() + b'\0' + self.strings()
        if kind < 0.7:
            return b'R', self.address() + b'\0' + self.strings()
        if kind < 0.78:
            return b'L', self.text() + b'\0' + self.text() + b'\0'
        if kind < 0.82:
            return b'B', self.junk(3000)
        if kind < 0.86:
            return b'O', self.junk(16)
        return bytes([self.rng.choice(COMMANDS)]), self.junk(30)


def play(port, rng):
    """One connection: usually a proper option negotiation, then generated frames,
    sometimes a frame cut short or a length that lies; then read what comes back."""
    fields = Fields(rng)
    frames = 0
    sock = socket.create_connection(('127.0.0.1', port), 10)
    try:
        sock.settimeout(10)
        out = b''
        roll = rng.random()
        if roll < 0.8:             # what Postfix offers
            out += struct.pack('!IcIII', 13, b'O', 6, 0x1ff, 0x1fffff)
        elif roll < 0.95:
            out += struct.pack('!IcIII', 13, b'O', rng.choice([0, 2, 6, 0xffffffff]),
                               rng.choice([0x1ff, 0, 0xffffffff]),
                               rng.choice([0, 0x1fffff, 0xffffffff]))
        frames += roll < 0.95
        generated = (fields.script() if rng.random() < 0.8 else
                     [fields.frame() for _ in range(rng.randrange(1, 14))])
        for command, data in generated:
            out += struct.pack('!I', len(data) + 1) + command + data
            frames += 1
        ending = rng.random()
        if ending < 0.05:
            out += struct.pack('!I', 70000) + b'B'            # over libmilter's limit
        elif ending < 0.1:
            out += struct.pack('!I', 500) + b'M<a@'           # cut short
        elif ending < 0.15:
            out += struct.pack('!I', 0)                       # empty frame
        elif ending < 0.2:
            out += b'\x00\x00'                                # a length cut short
        sock.sendall(out)
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(65536):
            pass
    except (OSError, socket.error):
        pass                                                  # the milter may hang up
    finally:
        sock.close()
    return frames


def _settled(measure, idle, timeout=30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        now = measure()
        if now <= idle:
            return now
        time.sleep(0.2)
    return measure()


def test_generated_frames_leave_the_milter_alive_and_idle(tmp_path, dns):
    daemon = rawmilter.Daemon(tmp_path, dns.address).start()
    try:
        # a first session loads whatever is loaded lazily; then the idle numbers
        assert session(daemon.port, b'a@fail.stub.test')[0] == b'y'
        time.sleep(0.5)
        idle_threads, idle_fds = daemon.threads(), daemon.fds()

        master = random.Random(SEED)
        seeds = [master.getrandbits(64) for _ in range(CONNECTIONS)]
        played = []
        lock = threading.Lock()

        def worker(mine):
            count = 0
            for seed in mine:
                count += play(daemon.port, random.Random(seed))
            with lock:
                played.append(count)
        threads = [threading.Thread(target=worker, args=(seeds[i::WORKERS],))
                   for i in range(WORKERS)]
        started = time.time()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        elapsed = time.time() - started
        assert sum(played) > 2500, played

        assert daemon.alive(), 'seed %d: smf-spf died: %s' % (SEED, daemon.stop())
        assert _settled(daemon.threads, idle_threads) == idle_threads, 'seed %d' % SEED
        assert _settled(daemon.fds, idle_fds) == idle_fds, 'seed %d' % SEED
        answer = session(daemon.port, b'someone@fail.stub.test')
        assert answer[0] == b'y' and answer[1].startswith(b'550 5.7.23 '), answer
        assert session(daemon.port, b'someone@pass.stub.test') == (b'c', b'')
        log = daemon.log()
        # our callbacks never fail on this input ...
        assert 'internal error' not in log, 'seed %d:\n%s' % (SEED, log[-5000:])
        # ... nor does pymilter's call of a session without CONNECT reach the log as one
        assert 'untrapped exception' not in log, 'seed %d:\n%s' % (SEED, log[-5000:])
        assert 'Traceback' not in log, 'seed %d:\n%s' % (SEED, log[-5000:])
        assert daemon.stderr() == ''
        print('%d frames over %d connections in %.1fs; %d SPF results logged'
              % (sum(played), CONNECTIONS, elapsed, log.count('SPF ')))
    finally:
        daemon.stop()
