"""smf-spf-py: a drop-in Python replacement for the smf-spf SPF milter."""

__version__ = '1.0.0'


def _extensions_in_use():
    from smf_spf import _select, cache, cidr, match
    return all(_select.is_compiled(cls) for cls in (
        cache.ResultCache, cidr.CidrSet, match.DomainMatcher, match.AddressMatcher))


#: True when the compiled (Cython) hot paths are in use, False for the Python twins.
EXTENSIONS = _extensions_in_use()
