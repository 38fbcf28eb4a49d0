"""The guard of smf_spf/_symguard.c between libmilter and pymilter's milter.so.

Its C module must be in the process's global symbol scope before milter.so is loaded:
its smfi_getsymval and smfi_register (which wraps pymilter's negotiate, connect, HELO,
MAIL, RCPT, DATA, header and unknown-command callbacks) are then the ones milter.so
binds to.  smf_spf.interpose.install() loads it so, then pymilter, then hands it here
(install()), which gives the guard libmilter's own functions.  Importing this module
loads nothing.
"""

import sys
import threading

_symguard = None                # the C module, once install() has it


def install(loaded):
    """Point the guard (`loaded`: the C module, or why it is not there) at libmilter's
    smfi_getsymval and smfi_register (pymilter must be imported): None when the guard
    is in effect, else why not."""
    global _symguard
    if isinstance(loaded, str):
        return loaded
    _symguard = loaded
    milter = sys.modules.get('milter')
    if milter is None:
        return 'pymilter is not loaded'
    try:
        # looked up from milter.so: its own dependency, libmilter, defines the symbols
        getsymval, register = _symguard.lookup(milter.__file__)
        _symguard.install(getsymval, register)
    except ValueError as exc:
        return str(exc)
    if not _symguard.active():
        return 'another smfi_getsymval was loaded first'
    return None


def libmilter_has_worker_pool():
    """Whether the libmilter pymilter runs on was built with its worker pool
    (_FFR_WORKERS_POOL: Debian's, not el7's, el8's or el9's), which serves a burst of
    commands with the workers idle at that moment (docs/libmilter.md); None when
    pymilter is not loaded or the guard not built."""
    milter = sys.modules.get('milter')
    if _symguard is None or milter is None:
        return None
    return _symguard.defines(milter.__file__, 'mi_pool_controller_init')


def from_wire(value, index=0):
    """The string a connect/HELO/MAIL/RCPT callback got as argument `index`: the
    original bytes, decoded with surrogate escapes, when they were not UTF-8."""
    raw = stashed()
    if raw is not None and index < len(raw):
        return raw[index].decode('utf-8', 'surrogateescape')
    if isinstance(value, bytes):
        return value.decode('utf-8', 'surrogateescape')
    return value


def pass_on(headers=None, data=True, negotiate_mask=None):
    """Which callbacks reach Python: only these header fields (None: all of them), DATA
    if `data`, and the option negotiation unless `negotiate_mask` is given (the guard
    then answers it as SpfMilter.negotiate does, clearing those protocol bits); the
    guard answers the others itself (continue, or no reply where the session negotiated
    none), without taking the interpreter's lock.  Without the guard every callback
    reaches Python."""
    if _symguard is not None:
        _symguard.pass_on(
            None if headers is None else tuple(name.encode('ascii') for name in headers),
            data, negotiate_mask, *_pymilter_constants())


def _pymilter_constants():
    """What the guard's wrappers answer with, as pymilter has them: the SMFIP_NR_* flags
    of HELO, DATA and header fields, and CONTINUE and NOREPLY."""
    import Milter
    return ((Milter.P_NR_HELO, Milter.P_NR_DATA, Milter.P_NR_HDR),
            (Milter.CONTINUE, Milter.NOREPLY))


def stashed():
    """The current callback's strings as bytes when one was not UTF-8, else None."""
    return _symguard.stashed() if _symguard is not None else None


def _unexpected_contexts():
    return _symguard.unexpected() if _symguard is not None else 0


_reported = set()
_report_lock = threading.Lock()
_REPORTS = {
    'foreign': "[WARNING] libmilter's session context is not laid out as the macro guard "
               "expects (%s): it stepped aside, every macro lookup is libmilter's own, which "
               "a malformed macro frame can crash; keep the socket for the MTA only",
    'unexpected': "[WARNING] a libmilter session context did not look as the macro guard "
                  "expects: that lookup went to libmilter's own, which a malformed macro "
                  "frame can crash; keep the socket for the MTA only",
}


def report(log):
    """After a callback's macro lookups: warn, once each, that the guard stepped aside
    from libmilter's session layout (and why), or that a context did not look like
    libmilter's (that lookup went to libmilter's own, unguarded)."""
    if _symguard is None or len(_reported) == len(_REPORTS):
        return
    state, problem = _symguard.layout()
    for what, seen in (('foreign', state == 'foreign'), ('unexpected', _symguard.unexpected())):
        if not seen:
            continue
        with _report_lock:
            if what in _reported:
                continue
            _reported.add(what)
        log.warning(_REPORTS[what] % ((problem,) if what == 'foreign' else ()))
