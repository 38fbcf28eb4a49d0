"""Whitelist matching (smf_spf.whitelist says what matches): DomainMatcher for host and
domain names (WhitelistPTR, TrustedForwarder), AddressMatcher for a mailbox (WhitelistFrom,
WhitelistTo); ASCII case-insensitive."""

from smf_spf._select import compiled_allowed

try:
    compiled_allowed()
    from smf_spf._match_c import AddressMatcher, DomainMatcher
except ImportError:
    from smf_spf._match_py import AddressMatcher, DomainMatcher

__all__ = ['DomainMatcher', 'AddressMatcher']
