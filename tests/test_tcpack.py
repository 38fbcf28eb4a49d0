"""smf_spf/_tcpack.c: libmilter's packet reads go through it, and the packets that get no
reply (macros, abort) are acknowledged at once with TCP_QUICKACK. The stall it removes is
measured in bench/sendmail_stages.py; here, that the reads bind to it and when it acts."""

import ctypes
import socket
import struct

import pytest

from smf_spf import interpose, tcpack


class Timeval(ctypes.Structure):
    _fields_ = [('tv_sec', ctypes.c_long), ('tv_usec', ctypes.c_long)]


@pytest.fixture
def reader():
    """mi_rd_cmd as libmilter's engine calls it (the process's first definition), and
    quickack on for the test."""
    function = ctypes.CDLL(None).mi_rd_cmd
    function.restype = ctypes.c_void_p
    function.argtypes = [ctypes.c_int, ctypes.POINTER(Timeval), ctypes.c_char_p,
                         ctypes.POINTER(ctypes.c_size_t), ctypes.c_char_p]
    tcpack._tcpack.enable(True)
    yield function
    tcpack._tcpack.enable(False)


@pytest.fixture
def tcp_pair():
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(1)
    mta = socket.create_connection(listener.getsockname())
    milter, _ = listener.accept()
    listener.close()
    yield mta, milter
    mta.close()
    milter.close()


def read_packet(reader, sock):
    command = ctypes.create_string_buffer(1)
    length = ctypes.c_size_t()
    timeout = Timeval(5, 0)
    buffer = reader(sock.fileno(), ctypes.byref(timeout), command, ctypes.byref(length),
                    b'test')
    data = ctypes.string_at(buffer, length.value) if buffer else b''
    if buffer:
        ctypes.CDLL(None).free(ctypes.c_void_p(buffer))
    return command.raw, data


def frame(command, data=b''):
    return struct.pack('!I', len(data) + 1) + command + data


def test_libmilter_reads_packets_through_the_module():
    _, quickack_problem = interpose.install()   # tests/conftest.py installed it
    assert quickack_problem is None
    assert tcpack._tcpack.active()


@pytest.mark.parametrize('command,data,acknowledged', [
    (b'D', b'Mi\x00ABC123\x00', True),     # macros: no reply
    (b'A', b'', True),                      # abort: no reply
    (b'M', b'<a@example.org>\x00', False),  # MAIL: the reply carries the ACK
    (b'H', b'client.example\x00', False),
])
def test_quickack_follows_only_packets_without_reply(reader, tcp_pair, command, data,
                                                     acknowledged):
    mta, milter = tcp_pair
    before = tcpack._pushed()
    mta.sendall(frame(command, data))
    assert read_packet(reader, milter) == (command, data)
    assert tcpack._pushed() - before == (1 if acknowledged else 0)


@pytest.mark.parametrize('command,data,acknowledged', [
    (b'H', b'client.example\x00', True),
    (b'T', b'', True),
    (b'L', b'Subject\x00hello\x00', True),
    (b'M', b'<a@example.org>\x00', False),
])
def test_steps_the_milter_takes_without_reply_are_acknowledged_too(reader, tcp_pair, command,
                                                                   data, acknowledged):
    mta, milter = tcp_pair
    tcpack._tcpack.enable(True, b'HTL')
    before = tcpack._pushed()
    mta.sendall(frame(command, data))
    assert read_packet(reader, milter) == (command, data)
    assert tcpack._pushed() - before == (1 if acknowledged else 0)


def test_the_steps_taken_without_reply_are_those_the_negotiation_keeps():
    from smf_spf.milter import guard_protocol_mask
    assert tcpack.unanswered_commands(guard_protocol_mask(True)) == b'HTL'   # HELO, DATA, fields
    assert tcpack.unanswered_commands(guard_protocol_mask(False)) == b'HL'
    assert tcpack.unanswered_commands(~0) == b''


def test_no_ack_of_its_own_when_the_next_packet_is_already_there(reader, tcp_pair):
    """Postfix writes its macros and the command together: the reply to the command will
    carry the ACK, so none is pushed for the macros; the last packet read decides."""
    mta, milter = tcp_pair
    before = tcpack._pushed()
    mta.sendall(frame(b'D', b'Mi\x00ABC\x00') + frame(b'A') + frame(b'D', b'Cj\x00x\x00'))
    packets = [read_packet(reader, milter) for _ in range(3)]
    assert [command for command, _ in packets] == [b'D', b'A', b'D']
    assert tcpack._pushed() - before == 1


def test_nothing_is_set_until_enabled(reader, tcp_pair):
    mta, milter = tcp_pair
    tcpack._tcpack.enable(False)
    before = tcpack._pushed()
    mta.sendall(frame(b'D', b'Cj\x00mx.example\x00'))
    assert read_packet(reader, milter) == (b'D', b'Cj\x00mx.example\x00')
    assert tcpack._pushed() == before


def test_unix_socket_packets_pass_through_untouched(reader):
    """setsockopt fails on a unix socket: the packet is read all the same, nothing counted."""
    mta, milter = socket.socketpair()
    try:
        before = tcpack._pushed()
        mta.sendall(frame(b'D', b'Hx\x00y\x00'))
        assert read_packet(reader, milter) == (b'D', b'Hx\x00y\x00')
        assert tcpack._pushed() == before
    finally:
        mta.close()
        milter.close()


def test_disable_variable_keeps_it_off(monkeypatch):
    monkeypatch.setenv(tcpack.DISABLE_VARIABLE, '1')
    assert tcpack.enable(None) == '%s is set' % tcpack.DISABLE_VARIABLE
    assert tcpack.enable('not built') == 'not built'
