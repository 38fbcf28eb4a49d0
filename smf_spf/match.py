"""Whitelist matching (smf_spf.whitelist says what matches): DomainMatcher for host and
domain names (WhitelistPTR, TrustedForwarder), AddressMatcher for a mailbox (WhitelistFrom,
WhitelistTo); ASCII case-insensitive."""

from smf_spf._select import implementation

_impl = implementation('_match_c', '_match_py')
DomainMatcher = _impl.DomainMatcher
AddressMatcher = _impl.AddressMatcher

__all__ = ['DomainMatcher', 'AddressMatcher']
