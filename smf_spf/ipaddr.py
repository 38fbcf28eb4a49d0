"""Client addresses as the milter compares them."""

import ipaddress


def _leading_zero_octet(text):
    """An octet of a dotted quad (alone or at the end of IPv6) written with a leading 0."""
    tail = text.rpartition(':')[2]
    return '.' in tail and any(len(part) > 1 and part[0] == '0' for part in tail.split('.'))


def pton_address(text):
    """The ipaddress object for text read as inet_pton reads it, the same on every
    interpreter: no scope ID (ipaddress takes `fe80::1%eth0` from 3.9 on), no NUL (C
    stops there), no leading zero in an IPv4 octet (3.6's ipaddress read `1.2.3.04` as
    1.2.3.4); None when text is no address."""
    if '%' in text or '\x00' in text or _leading_zero_octet(text):
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def parse_ip(text):
    """The ipaddress object for text (as pton_address reads it), an IPv4-mapped IPv6
    address unwrapped to its IPv4 address (a dual-stack MTA reports IPv4 clients so);
    None when text is no address."""
    parsed = pton_address(text)
    if parsed is not None and parsed.version == 6 and parsed.ipv4_mapped is not None:
        return parsed.ipv4_mapped
    return parsed
