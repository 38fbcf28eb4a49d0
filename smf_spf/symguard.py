"""Load the bounds-safe smfi_getsymval (smf_spf/_symguard.c) ahead of pymilter.

Importing this module before pymilter's milter.so puts the guard's
smfi_getsymval into the process's global symbol scope, where milter.so's
reference to it is resolved first; install() then hands the guard libmilter's
own function for contexts it does not recognise.
"""

import os
import sys

_flags = sys.getdlopenflags()
sys.setdlopenflags(_flags | os.RTLD_GLOBAL)
try:
    from smf_spf import _symguard
except ImportError as exc:      # not built: the process runs without the guard
    _symguard = None
    _IMPORT_ERROR = str(exc)
finally:
    sys.setdlopenflags(_flags)


def install():
    """Point the guard at libmilter's smfi_getsymval (pymilter must be imported):
    None when the guard is in effect, else why not."""
    if _symguard is None:
        return 'smf_spf._symguard is not built: %s' % _IMPORT_ERROR
    import ctypes
    milter = sys.modules.get('milter')
    if milter is None:
        return 'pymilter is not loaded'
    # looked up from milter.so: its own dependency, libmilter, defines the symbol
    original = ctypes.cast(ctypes.CDLL(milter.__file__).smfi_getsymval, ctypes.c_void_p)
    try:
        _symguard.install(original.value)
    except ValueError as exc:
        return str(exc)
    if not _symguard.active():
        return 'another smfi_getsymval was loaded first'
    return None


def unexpected_contexts():
    return _symguard.unexpected() if _symguard is not None else 0
