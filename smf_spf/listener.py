"""Socket options libmilter does not set on the milter's listening socket."""

import os
import socket


SO_DOMAIN = getattr(socket, 'SO_DOMAIN', 39)     # Linux; Python 3.6 may lack the name


def _listening_tcp_sockets():
    """Every listening TCP socket this process holds, as duplicates the caller closes."""
    for name in os.listdir('/proc/self/fd'):
        try:
            duplicate = os.dup(int(name))
        except (OSError, ValueError):
            continue
        try:
            probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 0, duplicate)
        except OSError:          # not a socket (Python 3.7 and later check at once)
            os.close(duplicate)
            continue
        try:
            family = probe.getsockopt(socket.SOL_SOCKET, SO_DOMAIN)
            listening = (probe.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE)
                         == socket.SOCK_STREAM
                         and probe.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))
        except OSError:          # not a socket
            probe.close()
            continue
        if family not in (socket.AF_INET, socket.AF_INET6) or not listening:
            probe.close()
            continue
        yield socket.socket(family, socket.SOCK_STREAM, 0, probe.detach())


def set_nodelay(port):
    """TCP_NODELAY on the listening socket on `port`, which accepted connections inherit
    (Linux): a reply libmilter writes in several packets (header edits, then the answer)
    is then not held back by Nagle's algorithm until the MTA's delayed ACK, about 40 ms.
    True when the socket was found."""
    found = False
    for sock in _listening_tcp_sockets():
        try:
            if sock.getsockname()[1] == port:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                found = True
        finally:
            sock.close()
    return found


def nodelay_once_listening(port, timeout=10.0, log=None):
    """Wait (in a thread of its own) until libmilter listens on `port`, then set_nodelay.
    libmilter opens and serves the socket in one call, so there is no moment in between
    to set the option; the MTA's first connection comes long after the few milliseconds
    this takes."""
    import threading
    import time

    def poll():
        deadline = time.time() + timeout
        while time.time() < deadline:
            if set_nodelay(port):
                if log is not None:
                    log.info('TCP_NODELAY set on the listening socket (port %d)', port)
                return
            time.sleep(0.01)
        if log is not None:
            log.warning('TCP_NODELAY not set: no listening socket on port %d within %.0f s; '
                        'replies may wait for the MTA\'s delayed ACK', port, timeout)

    thread = threading.Thread(target=poll, name='nodelay')
    thread.daemon = True
    thread.start()
    return thread
