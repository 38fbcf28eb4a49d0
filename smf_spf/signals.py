"""Signals in the main thread, while libmilter serves from a thread of its own.

libmilter's smfi_main starts a signal thread that sigwaits for HUP, TERM and
INT and stops the milter on any of them, HUP included.  It blocks the three
only in the thread that calls smfi_main and in the threads that one starts.
With smfi_main in a second thread, the main thread keeps them unblocked:
Linux hands a signal sent to the process to the main thread whenever that
thread does not block it, so libmilter's sigwait sees one only in the rare
case that the main thread already has a signal pending and is not running
(the process then notices that the milter stopped without being asked).

The handlers only note the signal (set_wakeup_fd writes its number to a
pipe); the main thread reads the pipe and acts, never inside a handler.

libmilter's listener looks whether it was asked to stop only between waits of
MI_CHK_TIME (5 s) for the next connection, or when that wait is interrupted (EINTR).
So a stop also sends NUDGE, which the libmilter thread does not block and whose
handler does nothing, to that thread until it has ended: TERM ends the process in
milliseconds, not up to 5 s later.
"""

import errno
import fcntl
import os
import select
import signal
import threading
import time

HANDLED = (signal.SIGHUP, signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2)
STOP = (signal.SIGTERM, signal.SIGINT)
# written by wake(): not a signal, a thread telling the main thread to look around
WAKE = 0
# sent to the libmilter thread to cut its listener's wait short (see above): a real-time
# signal, which nothing else sends and which libmilter does not wait for
NUDGE = signal.SIGRTMIN + 1
# seconds between nudges while libmilter stops: one may come before its wait begins
NUDGE_EVERY = 0.05


def _noted(signum, frame):
    """The number is already in the wakeup pipe; the main loop acts on it."""


def name(signum):
    try:
        return signal.Signals(signum).name
    except ValueError:
        return 'signal %d' % signum


class SignalPipe(object):
    """HANDLED signals and wake() calls, read in order by the main thread."""

    def __init__(self):
        self._read, self._write = os.pipe()
        for fd in (self._read, self._write):
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)

    def install(self):
        """From the main thread: take over HANDLED and ignore SIGPIPE."""
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        for signum in HANDLED + (NUDGE,):
            signal.signal(signum, _noted)
        signal.set_wakeup_fd(self._write)
        return self

    def wake(self):
        """From any thread: make wait() return."""
        try:
            os.write(self._write, bytes((WAKE,)))
        except OSError as exc:
            if exc.errno != errno.EAGAIN:    # a full pipe wakes the reader anyway
                raise

    def wait(self, timeout):
        """The signal numbers (and WAKEs) that arrived, oldest first; [] after timeout."""
        ready, _, _ = select.select([self._read], [], [], timeout)
        if not ready:
            return []
        try:
            return list(os.read(self._read, 512))
        except OSError as exc:
            if exc.errno == errno.EAGAIN:
                return []
            raise


class MilterThread(object):
    """Milter.runmilter (libmilter's smfi_main) in a thread of its own; see above."""

    def __init__(self, ident, socket_text):
        self.ident = ident
        self.socket_text = socket_text
        self.error = None
        self.on_exit = lambda: None
        self.thread = threading.Thread(target=self._run, name='libmilter')

    def _run(self):
        import Milter
        # before smfi_main: libmilter's threads inherit this mask, and the main thread,
        # never blocking these, stays the one the kernel hands them to
        signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
        try:
            # rmsock=False: a live socket (another instance) must make this fail, not
            # vanish; run() removed a stale one already
            Milter.runmilter(self.ident, self.socket_text, 0, rmsock=False)
        except Exception as exc:       # Milter.error: the socket cannot be served
            self.error = exc
        finally:
            self.on_exit()

    def start(self):
        self.thread.start()

    def is_alive(self):
        return self.thread.is_alive()

    def join(self):
        self.thread.join()

    @staticmethod
    def stop():
        """Ask libmilter to stop: smfi_main returns once its listener looks.  libmilter's
        smfi_stop notes the stop, then waits for the listener's lock to close the socket,
        which the listener holds through each wait: so it runs in a thread of its own
        while this one nudge()s the listener."""
        import milter
        stopper = threading.Thread(target=milter.stop, name='libmilter-stop')
        stopper.daemon = True
        stopper.start()

    def nudge(self):
        """Interrupt the listener's wait for a connection, so that it sees a stop now.
        Returns why it cannot, or None (also when the thread has ended)."""
        try:
            signal.pthread_kill(self.thread.ident, NUDGE)
        except (ProcessLookupError, TypeError):     # ended, or never started
            pass
        except OSError as exc:      # EPERM: an SELinux policy without process signal
            return str(exc)
        return None

    @staticmethod
    def in_flight():
        """Connections libmilter has open (pymilter's contexts made minus freed)."""
        import milter
        made, freed = milter.getdiag()[:2]
        return made - freed


def serve(pipe, milter_thread, log, on_reload, on_status, also_start=()):
    """Run milter_thread (and start also_start's threads) until TERM or INT stops
    it; HUP calls on_reload, USR1 and USR2 on_status, PIPE is ignored; signals
    that came since pipe was installed are acted on first. Returns the name of
    the signal that stopped it, or None when it stopped by itself."""
    milter_thread.on_exit = pipe.wake
    milter_thread.start()
    for extra in also_start:
        extra.start()
    stopped_by = None
    next_nudge = None
    while milter_thread.is_alive():
        wait = 5.0
        if next_nudge is not None:
            wait = next_nudge - time.monotonic()
            if wait <= 0:
                problem = milter_thread.nudge()
                next_nudge, wait = time.monotonic() + NUDGE_EVERY, NUDGE_EVERY
                if problem is not None:
                    log.warning('cannot interrupt libmilter\'s wait for a connection (%s): '
                                'stopping takes up to 5 s', problem)
                    next_nudge, wait = None, 5.0
        for signum in pipe.wait(wait):
            if signum in STOP and stopped_by is None:
                stopped_by = name(signum)
                log.info('%s: stopping', stopped_by)
                milter_thread.stop()
                next_nudge = time.monotonic()
            elif signum == signal.SIGHUP and stopped_by is None:
                _guarded(log, 'reload', on_reload)
            elif signum in (signal.SIGUSR1, signal.SIGUSR2):
                _guarded(log, 'status', on_status)
    milter_thread.join()
    return stopped_by


def _guarded(log, what, action):
    """A signal's action never ends the process."""
    try:
        action()
    except Exception:
        log.exception('[ERROR] %s failed; still serving', what)
