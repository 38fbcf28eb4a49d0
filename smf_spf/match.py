"""WhitelistPTR (suffix) and WhitelistFrom/To (substring) matching, ASCII case-insensitive."""

from smf_spf._select import implementation

_impl = implementation('_match_c', '_match_py')
SuffixMatcher = _impl.SuffixMatcher
SubstringMatcher = _impl.SubstringMatcher

__all__ = ['SuffixMatcher', 'SubstringMatcher']
