"""The SPF result cache, keyed by client IP and sender domain."""

from smf_spf._select import compiled_allowed

try:
    compiled_allowed()
    from smf_spf._cache_c import ResultCache
except ImportError:
    from smf_spf._cache_py import ResultCache

__all__ = ['ResultCache']
