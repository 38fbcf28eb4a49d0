"""smf-spf-py: a drop-in Python replacement for the smf-spf SPF milter."""

from smf_spf._select import extensions_in_use as _extensions_in_use

__version__ = '1.0.0'

#: True when the compiled (Cython) hot paths are in use, False for the Python twins.
EXTENSIONS = _extensions_in_use()
