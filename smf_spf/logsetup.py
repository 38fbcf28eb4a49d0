"""Log levels and handlers: syslog with the configured facility, and LogTo.

Only __main__ calls setup(); importing this module changes nothing.
"""

import logging
import logging.handlers
import os
import re
import socket
import time

LOGGER_NAME = 'smf-spf'
NOTICE = 25
STANDARD_STREAMS = ('/dev/stdout', '-', '/dev/stderr')
LEVELS = {'info': logging.INFO, 'notice': NOTICE, 'warning': logging.WARNING,
          'error': logging.ERROR}


LOG_TO_HANDLER = 'LogTo'


def logger():
    return logging.getLogger(LOGGER_NAME)


class LogToFormatter(logging.Formatter):
    """`Nov 28 14:59:18 host smf-spf[pid]: message`, the C milter's LogTo layout."""

    def __init__(self, ident):
        logging.Formatter.__init__(self)
        self.ident = ident
        self.host = socket.gethostname()
        self._stamp = (None, '')       # (second, its text): most lines share their second

    def format(self, record):
        second = int(record.created)
        cached_second, stamp = self._stamp
        if second != cached_second:
            stamp = time.strftime('%b %e %H:%M:%S', time.localtime(second))
            self._stamp = (second, stamp)
        return '%s %s %s[%d]: %s' % (stamp, self.host, self.ident, os.getpid(),
                                     record.getMessage() + _traceback(self, record, '\n'))


class _SyslogFormatter(logging.Formatter):
    def __init__(self, ident):
        logging.Formatter.__init__(self)
        self.ident = ident

    def format(self, record):
        # one datagram, one line: syslog daemons escape newlines anyway
        return '%s[%d]: %s' % (self.ident, os.getpid(),
                               record.getMessage() + _traceback(self, record, ' | '))


def _traceback(formatter, record, separator):
    """The record's exception with its traceback, after `separator`; '' without one."""
    if not record.exc_info:
        return ''
    text = formatter.formatException(record.exc_info)
    text = text.encode('utf-8', 'backslashreplace').decode('utf-8')
    return separator + separator.join(text.splitlines())


# control characters from the wire, escaped: a CR or LF in a HELO must not forge log lines
_CONTROLS = dict((code, '\\x%02x' % code) for code in list(range(0x20)) + [0x7f])
# what SafeText changes: those, and surrogate escapes of undecodable bytes
_UNSAFE = re.compile('[\x00-\x1f\x7f\ud800-\udfff]')


class SafeText(logging.Filter):
    """Log text that any handler can encode and no client can split: addresses from
    the wire may carry undecodable bytes (surrogate escapes), non-ASCII under a C
    locale, or control characters."""

    def filter(self, record):
        message = record.getMessage()
        if _UNSAFE.search(message):
            message = message.encode('utf-8', 'backslashreplace').decode('utf-8').translate(
                _CONTROLS)
        record.msg = message
        record.args = ()
        return True


def open_log_to(path, owner=None):
    """The LogTo stream (UTF-8, line-buffered); OSError when it cannot be opened. A file
    it creates is given to owner, (uid, gid), where it may: root starting the daemon
    hands it to User, who opens it again at a reload (the systemd unit withholds
    CAP_CHOWN: there the file stays root's, and the start warns that User cannot)."""
    import io
    import sys
    if path in STANDARD_STREAMS:
        stream = sys.stderr if path == '/dev/stderr' else sys.stdout
        return io.TextIOWrapper(stream.buffer, encoding='utf-8', errors='backslashreplace',
                                line_buffering=True)
    return io.open(_append_only(path, owner), 'a', encoding='utf-8',
                   errors='backslashreplace', buffering=1)


LOG_FILE_MODE = 0o640


def _append_only(path, owner=None):
    """A descriptor to append to path; a file it creates is 0640 whatever the umask, and
    owner's (uid, gid) if given and allowed (an existing file keeps its mode and owner)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, LOG_FILE_MODE)
    except FileExistsError:
        return os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.fchmod(fd, LOG_FILE_MODE)
    except OSError:
        os.close(fd)
        raise
    if owner is not None:
        try:
            os.fchown(fd, owner[0], owner[1])
        except PermissionError:
            pass
    return fd


def setup(ident, facility, log_to_stream=None, syslog_address='/dev/log'):
    """Attach handlers to the smf-spf logger; facility 'none' disables syslog."""
    logging.addLevelName(NOTICE, 'NOTICE')
    # every decision is logged: no record should pay for what no formatter here shows
    # (the caller's file and line, thread and process names)
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    log = logger()
    log.setLevel(logging.INFO)
    log.propagate = False
    for handler in list(log.handlers):
        log.removeHandler(handler)
    for old in list(log.filters):
        log.removeFilter(old)
    log.addFilter(SafeText())
    # a syslog daemon that goes away for a while must not spray tracebacks over stderr
    logging.raiseExceptions = False
    if facility != 'none' and not os.path.exists(syslog_address):
        import sys
        sys.stderr.write('smf-spf: no syslog socket at %s: logging to LogTo only\n'
                         % syslog_address)
    elif facility != 'none':
        try:
            handler = logging.handlers.SysLogHandler(
                address=syslog_address,
                facility=logging.handlers.SysLogHandler.facility_names[facility])
        except (OSError, IOError):
            handler = None   # no syslog daemon here: LogTo (if any) still works
        if handler is not None:
            handler.priority_map = dict(handler.priority_map, NOTICE='notice')
            handler.setFormatter(_SyslogFormatter(ident))
            log.addHandler(handler)
    if log_to_stream is not None:
        stream_handler = logging.StreamHandler(log_to_stream)
        stream_handler.set_name(LOG_TO_HANDLER)
        stream_handler.setFormatter(LogToFormatter(ident))
        log.addHandler(stream_handler)
    return log


def switch_log_to(log, stream):
    """Point the LogTo handler at a newly opened stream (a reload: logrotate moved the
    file, or LogTo names another). Under the handler's lock, so no line is written
    half to each and none is lost; the old stream is closed. False without LogTo."""
    for handler in log.handlers:
        if handler.get_name() == LOG_TO_HANDLER:
            handler.acquire()
            try:
                handler.flush()
                old, handler.stream = handler.stream, stream
            finally:
                handler.release()
            old.close()
            return True
    return False


def switch_syslog_facility(log, facility):
    """Log to syslog with another facility from the next line on; False without syslog."""
    for handler in log.handlers:
        if isinstance(handler, logging.handlers.SysLogHandler):
            handler.facility = logging.handlers.SysLogHandler.facility_names[facility]
            return True
    return False
