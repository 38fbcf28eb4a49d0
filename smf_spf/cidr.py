"""WhitelistIP matching: `address in CidrSet(entries)` for IPv4 and IPv6."""

from smf_spf._select import compiled_allowed

try:
    compiled_allowed()
    from smf_spf._cidr_c import CidrSet
except ImportError:
    from smf_spf._cidr_py import CidrSet

__all__ = ['CidrSet']
