import io
import logging
import logging.handlers
import re
import socket

import pytest
from hypothesis import given, settings, strategies as st

from smf_spf import logsetup


@pytest.fixture
def syslog_server(tmp_path):
    """A datagram socket in place of /dev/log: (its path, the socket)."""
    path = str(tmp_path / 'log.sock')
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.settimeout(5)
    yield path, server
    server.close()


def test_syslog_facility_priority_and_ident(syslog_server):
    path, server = syslog_server
    try:
        log = logsetup.setup('smf-spf', 'local5', None, syslog_address=path)
        log.log(logsetup.NOTICE, 'SPF pass: ip=%s', '192.0.2.1')
        log.warning('careful')
        first = server.recv(4096).decode()
        second = server.recv(4096).decode()
    finally:
        logsetup.setup('smf-spf', 'none', None)
    # local5 = 21; notice = 5, warning = 4
    assert re.match(r'<173>smf-spf\[\d+\]: SPF pass: ip=192\.0\.2\.1', first), first
    assert second.startswith('<172>smf-spf[')


def test_log_to_lines_look_like_syslog():
    stream = io.StringIO()
    log = logsetup.setup('smf-spf', 'none', stream)
    log.info('starting smf-spf x listening on y')
    logsetup.setup('smf-spf', 'none', None)
    assert re.match(r'^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ smf-spf\[\d+\]: '
                    r'starting smf-spf x listening on y\n$', stream.getvalue())


def test_syslog_none_adds_no_syslog_handler():
    log = logsetup.setup('smf-spf', 'none', None)
    assert not any(isinstance(h, logging.handlers.SysLogHandler) for h in log.handlers)


def test_undecodable_bytes_from_the_wire_are_logged_not_lost(tmp_path):
    path = str(tmp_path / 'log')
    stream = logsetup.open_log_to(path)
    log = logsetup.setup('smf-spf', 'none', stream)
    raw = b'<caf\xe9@example.org>'.decode('utf-8', 'surrogateescape')
    log.info('SPF pass: from=%s, to=%s', raw, 'm\u00fcller@example.org')
    logsetup.setup('smf-spf', 'none', None)
    stream.close()
    with open(path, 'rb') as handle:
        line = handle.read().decode('utf-8')
    assert 'from=<caf\\udce9@example.org>, to=m\u00fcller@example.org' in line


def test_log_to_file_is_created_0640_whatever_the_umask(tmp_path):
    import os
    path = tmp_path / 'new.log'
    old = os.umask(0)
    try:
        logsetup.open_log_to(str(path)).close()
    finally:
        os.umask(old)
    assert os.stat(str(path)).st_mode & 0o777 == 0o640


def test_log_to_file_it_creates_is_given_to_the_owner_where_it_may(tmp_path, monkeypatch):
    """Root hands a new LogTo file to User; without CAP_CHOWN (the systemd unit) the
    file is still opened, and stays its creator's."""
    import os
    given = []
    monkeypatch.setattr(os, 'fchown', lambda fd, uid, gid: given.append((uid, gid)))
    logsetup.open_log_to(str(tmp_path / 'a.log'), (4321, 8765)).close()
    logsetup.open_log_to(str(tmp_path / 'a.log'), (4321, 8765)).close()    # exists: kept
    assert given == [(4321, 8765)]

    def refuse(fd, uid, gid):
        raise PermissionError(1, 'Operation not permitted')
    monkeypatch.setattr(os, 'fchown', refuse)
    stream = logsetup.open_log_to(str(tmp_path / 'b.log'), (4321, 8765))
    stream.write('written\n')
    stream.close()
    assert (tmp_path / 'b.log').read_text() == 'written\n'


def test_log_to_file_that_exists_keeps_its_mode(tmp_path):
    import os
    path = tmp_path / 'old.log'
    path.write_text('earlier\n')
    os.chmod(str(path), 0o600)
    stream = logsetup.open_log_to(str(path))
    stream.write('later\n')
    stream.close()
    assert os.stat(str(path)).st_mode & 0o777 == 0o600
    assert path.read_text() == 'earlier\nlater\n'


def _raise_and_log(log):
    try:
        {}['missing']
    except KeyError:
        log.exception('[ERROR] internal error at %s; passing the message on unfiltered', 'MAIL')


def test_internal_errors_reach_both_handlers_with_their_traceback(syslog_server):
    path, server = syslog_server
    stream = io.StringIO()
    try:
        log = logsetup.setup('smf-spf', 'mail', stream, syslog_address=path)
        _raise_and_log(log)
        datagram = server.recv(65536).decode()
    finally:
        logsetup.setup('smf-spf', 'none', None)
    for text in (datagram, stream.getvalue()):
        assert 'internal error at MAIL' in text
        assert 'Traceback (most recent call last)' in text
        assert "KeyError: 'missing'" in text
        assert 'in _raise_and_log' in text
    assert '\n' not in datagram.rstrip('\n')       # one syslog line
    assert stream.getvalue().count('\n') > 3


def test_control_characters_from_the_wire_cannot_forge_log_lines():
    stream = io.StringIO()
    log = logsetup.setup('smf-spf', 'none', stream)
    log.info('SPF fail: helo=%s, from=%s', 'x\r\nNov 29 12:00:00 vm smf-spf[1]: SPF pass',
             '<a\x00\x1b[31m\x7f@example.org>')
    logsetup.setup('smf-spf', 'none', None)
    text = stream.getvalue()
    assert text.count('\n') == 1
    assert ('helo=x\\x0d\\x0aNov 29 12:00:00 vm smf-spf[1]: SPF pass, '
            'from=<a\\x00\\x1b[31m\\x7f@example.org>') in text


def test_switch_log_to_moves_the_next_line_to_the_new_stream_and_closes_the_old():
    old, new = io.StringIO(), io.StringIO()
    log = logsetup.setup('smf-spf', 'none', old)
    try:
        log.info('before')
        assert logsetup.switch_log_to(log, new) is True
        log.info('after')
        assert old.closed
        assert 'after' in new.getvalue() and 'before' not in new.getvalue()
    finally:
        logsetup.setup('smf-spf', 'none', None)


def test_switch_log_to_without_log_to_changes_nothing():
    log = logsetup.setup('smf-spf', 'none', None)
    stream = io.StringIO()
    assert logsetup.switch_log_to(log, stream) is False and not stream.closed


def test_switch_syslog_facility(syslog_server):
    path, server = syslog_server
    try:
        log = logsetup.setup('smf-spf', 'mail', None, syslog_address=path)
        assert logsetup.switch_syslog_facility(log, 'local2') is True
        log.warning('moved')
        line = server.recv(4096).decode()
    finally:
        logsetup.setup('smf-spf', 'none', None)
    assert line.startswith('<148>smf-spf[')      # local2 = 18; warning = 4
    assert logsetup.switch_syslog_facility(logsetup.logger(), 'mail') is False


def escaped_reference(message):
    """SafeText's transformation applied to every message, without its shortcut."""
    return message.encode('utf-8', 'backslashreplace').decode('utf-8').translate(
        logsetup._CONTROLS)


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10ffff,
                                      blacklist_categories=())))
def test_safe_text_shortcut_changes_exactly_what_the_full_escaping_changes(message):
    record = logging.LogRecord('smf-spf', logging.INFO, None, 0, message, (), None)
    logsetup.SafeText().filter(record)
    assert record.getMessage() == escaped_reference(message)


def test_log_to_time_stamp_follows_the_clock_across_seconds():
    formatter = logsetup.LogToFormatter('smf-spf')
    stamps = []
    for created in (1000000000.2, 1000000000.9, 1000000001.1, 1000000000.5):
        record = logging.LogRecord('smf-spf', logging.INFO, None, 0, 'x', (), None)
        record.created = created
        stamps.append(formatter.format(record).split(' smf-spf[')[0].rsplit(' ', 1)[0])
    import time
    expected = [time.strftime('%b %e %H:%M:%S', time.localtime(int(c)))
                for c in (1000000000, 1000000000, 1000000001, 1000000000)]
    assert stamps == expected
