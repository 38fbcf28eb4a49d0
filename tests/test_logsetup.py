import io
import logging
import logging.handlers
import re
import socket

from smf_spf import logsetup


def test_syslog_facility_priority_and_ident(tmp_path):
    path = str(tmp_path / 'log.sock')
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.settimeout(5)
    try:
        log = logsetup.setup('smf-spf', 'local5', None, syslog_address=path)
        log.log(logsetup.NOTICE, 'SPF pass: ip=%s', '192.0.2.1')
        log.warning('careful')
        first = server.recv(4096).decode()
        second = server.recv(4096).decode()
    finally:
        server.close()
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


def test_switch_syslog_facility(tmp_path):
    path = str(tmp_path / 'log.sock')
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.settimeout(5)
    try:
        log = logsetup.setup('smf-spf', 'mail', None, syslog_address=path)
        assert logsetup.switch_syslog_facility(log, 'local2') is True
        log.warning('moved')
        line = server.recv(4096).decode()
    finally:
        server.close()
        logsetup.setup('smf-spf', 'none', None)
    assert line.startswith('<148>smf-spf[')      # local2 = 18; warning = 4
    assert logsetup.switch_syslog_facility(logsetup.logger(), 'mail') is False
