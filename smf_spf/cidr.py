"""WhitelistIP matching: `address in CidrSet(entries)` for IPv4 and IPv6."""

from smf_spf._select import implementation

_impl = implementation('_cidr_c', '_cidr_py')
CidrSet = _impl.CidrSet

__all__ = ['CidrSet']
