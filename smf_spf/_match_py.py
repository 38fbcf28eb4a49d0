"""Plain-Python twin of pyx/_match_c.pyx: each pattern tried in turn, by the definitions
in smf_spf.whitelist (ASCII case-insensitive; other characters compare as they are)."""

from smf_spf.mailbox import ascii_lower
from smf_spf.whitelist import address_matches, as_address_pattern, name_matches


class DomainMatcher(object):
    """True when the name is one a pattern names: `p` itself and the names under it,
    `.p` the names under it, by whole labels."""
    __slots__ = ('_patterns',)

    def __init__(self, patterns=()):
        self._patterns = tuple(ascii_lower(pattern) for pattern in patterns)

    def __len__(self):
        return len(self._patterns)

    def matches(self, name):
        name = ascii_lower(name)
        return any(name_matches(pattern, name) for pattern in self._patterns)


class AddressMatcher(object):
    """True when the mailbox (local part, domain) matches a pattern (a value as written or
    its smf_spf.whitelist.AddressPattern)."""
    __slots__ = ('_patterns',)

    def __init__(self, patterns=()):
        self._patterns = tuple(as_address_pattern(pattern) for pattern in patterns)

    def __len__(self):
        return len(self._patterns)

    def matches(self, local, domain):
        local, domain = ascii_lower(local), ascii_lower(domain)
        return any(address_matches(pattern, local, domain) for pattern in self._patterns)
