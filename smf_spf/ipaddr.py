"""Client addresses as the milter compares them."""

import ipaddress


def parse_ip(text):
    """The ipaddress object for text, an IPv4-mapped IPv6 address unwrapped to its IPv4
    address (a dual-stack MTA reports IPv4 clients so); None when text is no address."""
    try:
        parsed = ipaddress.ip_address(text)
    except ValueError:
        return None
    if parsed.version == 6 and parsed.ipv4_mapped is not None:
        return parsed.ipv4_mapped
    return parsed
