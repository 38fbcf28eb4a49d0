"""Choose the compiled hot-path modules or their plain-Python twins."""

import importlib
import os

COMPILED = ('_cidr_c', '_match_c', '_cache_c')


def twins_forced():
    return os.environ.get('SMF_SPF_NO_EXTENSIONS', '') not in ('', '0')


def implementation(compiled, twin):
    """The module named `compiled` unless twins are forced or it is not built."""
    if not twins_forced():
        try:
            return importlib.import_module('smf_spf.' + compiled)
        except ImportError:
            pass
    return importlib.import_module('smf_spf.' + twin)


def extensions_in_use():
    if twins_forced():
        return False
    try:
        for name in COMPILED:
            importlib.import_module('smf_spf.' + name)
    except ImportError:
        return False
    return True
