"""Put the C layer between libmilter and pymilter, explicitly, once per process.

pymilter's milter.so calls smfi_getsymval and smfi_register, and libmilter (its
dependency) calls mi_rd_cmd, through the dynamic linker: each call binds to the first
definition in the process's global symbol scope, which comes before milter.so's own
dependencies.  smf_spf._symguard (the macro guard and the callback wrappers) and
smf_spf._tcpack (TCP_QUICKACK after unanswered packets) define those functions; loaded
with RTLD_GLOBAL before milter.so, theirs are the ones bound.  Loaded after, they are
never called.  So the daemon (smf_spf.__main__) calls install() before it imports
smf_spf.milter or Milter; nothing installs them at import.
"""

import contextlib
import os
import sys

from smf_spf import symguard, tcpack

_installed = None


@contextlib.contextmanager
def global_symbols():
    """Extension modules imported inside load with RTLD_GLOBAL: their symbols go into
    the process's global scope."""
    flags = sys.getdlopenflags()
    sys.setdlopenflags(flags | os.RTLD_GLOBAL)
    try:
        yield
    finally:
        sys.setdlopenflags(flags)


def install():
    """Load the guard and the packet reader into the global scope, then pymilter, then
    hand each libmilter's own functions. Returns (guard_problem, quickack_problem): None
    for each in effect, else why not. Must come before anything imports pymilter; a
    later call returns the first one's answer."""
    global _installed
    if _installed is None:
        if 'milter' in sys.modules:
            late = "pymilter's milter.so was loaded first: it is bound to libmilter's own"
            _installed = (late, late)
            return _installed
        with global_symbols():
            try:
                from smf_spf import _symguard as guard
            except ImportError as exc:      # not built: the process runs without it
                guard = 'smf_spf._symguard is not built: %s' % exc
            try:
                from smf_spf import _tcpack as reader
            except ImportError as exc:      # packets are acknowledged as the kernel likes
                reader = 'smf_spf._tcpack is not built: %s' % exc
        import milter  # noqa: F401  (pymilter's milter.so, bound to them now)
        _installed = (symguard.install(guard), tcpack.install(reader))
    return _installed
