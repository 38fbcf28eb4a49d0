"""Plain-Python twin of pyx/_cidr_c.pyx: the reference the compiled set must agree with."""

import bisect
import ipaddress
import re

from smf_spf.ipaddr import parse_ip, pton_address

_PREFIX_LENGTH = re.compile(r'[0-9]{1,3}\Z')


def _parse_network(entry):
    addr_part, slash, len_part = entry.strip().partition('/')
    if slash and not _PREFIX_LENGTH.match(len_part):
        raise ValueError('bad prefix length')
    address = pton_address(addr_part)
    if address is None:
        raise ValueError('not an IPv4 or IPv6 address')
    prefix = int(len_part) if slash else address.max_prefixlen
    if prefix > address.max_prefixlen:
        raise ValueError('bad IPv%d prefix length' % address.version)
    return ipaddress.ip_network((address, prefix), strict=False)


def _merged(ranges):
    merged = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1] + 1:
            if end > merged[-1][1]:
                merged[-1][1] = end
        else:
            merged.append([start, end])
    return [m[0] for m in merged], [m[1] for m in merged]


class CidrSet(object):
    __slots__ = ('_starts', '_ends', '_count')

    def __init__(self, entries=(), on_error=None):
        ranges = {4: [], 6: []}
        count = 0
        for index, entry in enumerate(entries):
            try:
                network = _parse_network(entry)
            except (ValueError, TypeError, AttributeError) as exc:
                message = '%r: %s' % (entry, exc)
                if on_error is None:
                    raise ValueError(message)
                on_error(index, entry, message)
                continue
            ranges[network.version].append(
                (int(network.network_address), int(network.broadcast_address)))
            count += 1
        self._starts = {}
        self._ends = {}
        for version, items in ranges.items():
            self._starts[version], self._ends[version] = _merged(items)
        self._count = count

    def __len__(self):
        return self._count

    def __contains__(self, address):
        parsed = parse_ip(address) if isinstance(address, str) else None
        if parsed is None:
            return False
        starts = self._starts[parsed.version]
        value = int(parsed)
        position = bisect.bisect_right(starts, value)
        return position > 0 and value <= self._ends[parsed.version][position - 1]
