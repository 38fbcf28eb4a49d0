"""Whether the compiled hot-path modules may be used, or their plain-Python twins are
forced (SMF_SPF_NO_EXTENSIONS set and not 0).  Each wrapper (cache.py, cidr.py,
match.py) imports its compiled module by name after compiled_allowed(), and its twin
when that raises or the module is not built."""

import os


def twins_forced():
    return os.environ.get('SMF_SPF_NO_EXTENSIONS', '') not in ('', '0')


def compiled_allowed():
    """Raises ImportError while the twins are forced, as a missing module would."""
    if twins_forced():
        raise ImportError('SMF_SPF_NO_EXTENSIONS is set: the Python twins are used')


def is_compiled(cls):
    """Whether a class comes from one of the compiled modules (smf_spf._*_c)."""
    return cls.__module__.endswith('_c')
