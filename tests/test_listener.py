"""Socket options for the milter socket, and the protocol steps that avoid TCP stalls."""

import logging
import socket

import Milter
import pytest

import rawmilter
from dnsstub import DnsStub
from rawmilter import (CONNECT, DATA, EOM, HEADER, HELO, MAIL, NO_REPLY, RCPT, Client,
                       connect_data)
from smf_spf import listener, symguard
from smf_spf import config as configuration
from smf_spf.milter import Services, SpfMilter, guard_protocol_mask


def _milter():
    return SpfMilter(Services(configuration.parse_lines([], 'test.conf').config, None))


def _listening(family=socket.AF_INET, host='127.0.0.1'):
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.bind((host, 0))
    sock.listen(1)
    return sock


def test_set_nodelay_sets_the_option_on_the_listening_socket_of_that_port():
    for family, host in ((socket.AF_INET, '127.0.0.1'), (socket.AF_INET6, '::1')):
        target, other = _listening(family, host), _listening(family, host)
        try:
            assert listener.set_nodelay(target.getsockname()[1])
            assert target.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            assert not other.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        finally:
            target.close()
            other.close()


def test_accepted_connections_inherit_nodelay():
    server = _listening()
    try:
        listener.set_nodelay(server.getsockname()[1])
        client = socket.create_connection(server.getsockname())
        accepted, _ = server.accept()
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        accepted.close()
        client.close()
    finally:
        server.close()


def test_set_nodelay_ignores_connected_and_unix_sockets():
    server = _listening()
    unix = socket.socket(socket.AF_UNIX)
    client = socket.create_connection(server.getsockname())
    try:
        assert not listener.set_nodelay(client.getsockname()[1])
        assert not client.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        for sock in (server, unix, client):
            sock.close()


def test_nodelay_once_listening_waits_for_the_socket_and_logs(caplog):
    server = socket.socket()
    server.bind(('127.0.0.1', 0))
    port = server.getsockname()[1]
    log = logging.getLogger('test-listener')
    with caplog.at_level(logging.INFO, logger='test-listener'):
        thread = listener.nodelay_once_listening(port, timeout=5, log=log)
        server.listen(1)      # after the thread started: it must wait for it
        thread.join(6)
    try:
        assert server.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert 'TCP_NODELAY set on the listening socket (port %d)' % port in caplog.text
    finally:
        server.close()


def test_nodelay_once_listening_warns_when_nothing_listens(caplog):
    log = logging.getLogger('test-listener')
    with caplog.at_level(logging.WARNING, logger='test-listener'):
        listener.nodelay_once_listening(1, timeout=0.05, log=log).join(2)
    assert 'TCP_NODELAY not set' in caplog.text


def test_the_milter_answers_data_so_its_macros_never_wait_unacknowledged():
    # with P_NODATA the MTA sends DATA's macros and no command we would answer
    offered = Milter.P_NODATA | Milter.P_NR_DATA | Milter.P_NOHDRS | Milter.P_NOBODY
    options = [Milter.CURR_ACTS, offered, 0, 0]
    assert _milter().negotiate(options) == Milter.CONTINUE
    assert not options[1] & (Milter.P_NODATA | Milter.P_NR_DATA)
    assert options[1] & Milter.P_NOBODY        # the body is still not sent to us


def test_negotiate_gives_what_pymilters_own_negotiate_gives():
    for offered in (0, 0x1fffff, Milter.P_NODATA | Milter.P_NR_HDR | Milter.P_NOBODY):
        ours, theirs = [Milter.CURR_ACTS, offered, 7, 7], [Milter.CURR_ACTS, offered, 7, 7]
        fast, reference = _milter(), _milter()
        assert fast.negotiate(ours) == Milter.Base.negotiate(reference, theirs)
        assert ours == theirs
        assert (fast._actions, fast._protocol) == (reference._actions, reference._protocol)


def test_helo_and_header_fields_are_negotiated_without_reply():
    offered = (Milter.P_NR_HELO | Milter.P_NR_HDR | Milter.P_NR_MAIL | Milter.P_NR_RCPT |
               Milter.P_NR_DATA)
    options = [Milter.CURR_ACTS, offered, 0, 0]
    assert _milter().negotiate(options) == Milter.CONTINUE
    assert options[1] & Milter.P_NR_HELO and options[1] & Milter.P_NR_HDR
    # MAIL FROM and RCPT TO may refuse: they are always answered; DATA, unanswered, would
    # wait for a delayed ACK on TCP: the guard takes it so only where nothing waits for that
    assert not options[1] & (Milter.P_NR_MAIL | Milter.P_NR_RCPT | Milter.P_NR_DATA)
    assert guard_protocol_mask(True) == SpfMilter.protocol_mask() & ~Milter.P_NR_DATA
    assert guard_protocol_mask(False) == SpfMilter.protocol_mask()


def test_an_error_at_helo_leaves_the_session_unchecked(caplog, monkeypatch):
    def explode(value, index=0):
        raise ValueError('boom')
    monkeypatch.setattr(symguard, 'from_wire', explode)
    milter = _milter()
    milter.connection = object()
    milter._protocol = Milter.P_NR_HELO
    milter.services.log = logging.getLogger('test-helo-error')
    with caplog.at_level(logging.ERROR, logger='test-helo-error'):
        assert milter.hello('mx.example.org') == Milter.NOREPLY
    assert 'internal error at HELO' in caplog.text
    assert milter.connection is None        # MAIL FROM then accepts it, unchecked
    assert milter.envfrom('<a@example.org>') == Milter.ACCEPT


@pytest.fixture(scope='module')
def daemon(tmp_path_factory):
    stub = DnsStub().start()
    running = rawmilter.Daemon(tmp_path_factory.mktemp('noreply'), stub.address).start()
    yield running
    running.stop()
    stub.stop()


@pytest.mark.parametrize('mta_takes_no_reply', [True, False])
def test_helo_data_and_header_fields_get_no_reply_where_the_mta_takes_none(daemon,
                                                                          mta_takes_no_reply):
    """Through libmilter and the guard: with the MTA's "no reply" flags for HELO, DATA and
    header fields none gets an answer, read fields (Subject, answered by Python) and ignored
    ones (From, by the guard) alike; an MTA without them gets CONTINUE for each.  A stray
    reply would be read as the end of message's answer here."""
    no_reply = NO_REPLY[HELO] | NO_REPLY[DATA] | NO_REPLY[HEADER] if mta_takes_no_reply else 0
    client = Client(daemon.port)
    try:
        # the steps the milter does not want are skipped, as Postfix offers
        negotiated = client.negotiate(protocol=Milter.P_NOEOH | Milter.P_NOBODY | no_reply)
        assert negotiated & (NO_REPLY[HELO] | NO_REPLY[DATA] | NO_REPLY[HEADER]) == no_reply
        client.macros(CONNECT, b'j', b'mx.receiver.test')
        assert client.step(CONNECT, connect_data(b'client.test', '127.0.0.1')) == [(b'c', b'')]
        answered = [] if mta_takes_no_reply else [(b'c', b'')]
        assert client.step(HELO, b'mx.client.test\0') == answered
        assert client.step(MAIL, b'<a@pass.stub.test>\0') == [(b'c', b'')]
        assert client.step(RCPT, b'<b@receiver.test>\0') == [(b'c', b'')]
        assert client.step(DATA) == answered
        assert client.step(HEADER, b'From\0<a@pass.stub.test>\0') == answered
        assert client.step(HEADER, b'Subject\0hello\0') == answered
        replies = client.step(EOM)
    finally:
        client.close()
    assert replies[0][0] == b'i' and b'Authentication-Results' in replies[0][1], replies
    assert replies[-1] == (b'c', b'')
