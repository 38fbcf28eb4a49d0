"""The SPF result cache, keyed by client IP and sender domain."""

from smf_spf._select import implementation

_impl = implementation('_cache_c', '_cache_py')
ResultCache = _impl.ResultCache

__all__ = ['ResultCache']
