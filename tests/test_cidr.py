import ipaddress

import pytest
from hypothesis import given, settings, strategies as st

from smf_spf import _cidr_c, _cidr_py


def test_ipv4_networks_hosts_and_masks(cidr_impl):
    s = cidr_impl.CidrSet(['127.0.0.0/8', '192.168.1.5/24', '10.1.2.3'])
    assert '127.0.0.1' in s
    assert '127.255.255.255' in s
    assert '128.0.0.0' not in s
    assert '192.168.1.200' in s          # host bits in the entry are masked, as in C
    assert '192.168.2.1' not in s
    assert '10.1.2.3' in s
    assert '10.1.2.4' not in s
    assert len(s) == 3


def test_ipv6_and_ipv4_mapped(cidr_impl):
    s = cidr_impl.CidrSet(['2001:db8::/32', '192.0.2.0/24', '::1'])
    assert '2001:db8:ffff::1' in s
    assert '2001:db9::' not in s
    assert '::1' in s
    assert '::2' not in s
    assert '::ffff:192.0.2.7' in s       # IPv4-mapped matches the IPv4 entry
    assert '::ffff:198.51.100.7' not in s


def test_whole_space_and_edges(cidr_impl):
    s = cidr_impl.CidrSet(['0.0.0.0/0', '::/0'])
    assert '0.0.0.0' in s and '255.255.255.255' in s
    assert '::' in s and 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff' in s
    top = cidr_impl.CidrSet(['255.255.255.255/32', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128'])
    assert '255.255.255.255' in top and '255.255.255.254' not in top


def test_empty_set_and_non_addresses(cidr_impl):
    s = cidr_impl.CidrSet([])
    assert '127.0.0.1' not in s and len(s) == 0
    full = cidr_impl.CidrSet(['0.0.0.0/0'])
    for junk in ['', 'localhost', '1.2.3', '1.2.3.4.5', '1.2.3.4/8', None, 42, b'1.2.3.4', 'é']:
        assert junk not in full


@pytest.mark.parametrize('bad', ['300.1.1.1', '10.0.0.0/33', '2001:db8::/129', 'abc',
                                 '10.0.0.0/', '10.0.0.0/x', '1.2.3.4/-1', ''])
def test_bad_entry_raises_naming_it(cidr_impl, bad):
    with pytest.raises(ValueError) as info:
        cidr_impl.CidrSet(['10.0.0.0/8', bad])
    assert repr(bad) in str(info.value)


def test_on_error_skips_and_reports_index(cidr_impl):
    seen = []
    s = cidr_impl.CidrSet(['10.0.0.0/8', '327.0.0.2', '::1'],
                          on_error=lambda i, entry, msg: seen.append((i, entry)))
    assert seen == [(1, '327.0.0.2')]
    assert '10.9.9.9' in s and '::1' in s and len(s) == 2


def test_overlapping_adjacent_and_duplicate_entries(cidr_impl):
    s = cidr_impl.CidrSet(['10.0.0.0/9', '10.128.0.0/9', '10.0.0.0/8', '10.0.0.0/8',
                           '10.5.0.0/16', '11.0.0.0/8'])
    assert '10.255.255.255' in s and '11.255.255.255' in s and '12.0.0.0' not in s
    assert '9.255.255.255' not in s
    assert len(s) == 6


# -- property tests: compiled == twin == ipaddress -----------------------------

def _network(version, values=None):
    bits = 32 if version == 4 else 128
    network_class = ipaddress.IPv4Network if version == 4 else ipaddress.IPv6Network

    def build(value_and_prefix):
        value, prefix = value_and_prefix
        return network_class((value >> (bits - prefix) << (bits - prefix) if prefix else 0,
                              prefix))
    values = values if values is not None else st.integers(0, 2 ** bits - 1)
    return st.tuples(values, st.integers(0, bits)).map(build)


def _clustered(version):
    """Networks around a few fixed addresses (the ends of the space among them), so that
    duplicates, nesting, overlaps and adjacent ranges are common, not rare."""
    bits = 32 if version == 4 else 128
    bases = [0, 2 ** bits - 1, 2 ** (bits - 1), 0xC0000200 if version == 4 else 0x20010DB8 << 96]
    return _network(version, st.tuples(st.sampled_from(bases), st.integers(-300, 300)).map(
        lambda b: min(max(b[0] + b[1], 0), 2 ** bits - 1)))


networks = st.one_of(_network(4), _network(6), _clustered(4), _clustered(6))
addresses = st.one_of(st.integers(0, 2 ** 32 - 1).map(ipaddress.IPv4Address),
                      st.integers(0, 2 ** 128 - 1).map(ipaddress.IPv6Address))


def _oracle(nets, address):
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in n for n in nets if n.version == address.version)


@settings(max_examples=300, deadline=None)
@given(st.lists(networks, max_size=40), st.lists(addresses, min_size=1, max_size=20))
def test_compiled_twin_and_ipaddress_agree(nets, probes):
    # host networks are written both ways: with /32 or /128, and as a bare address
    entries = [str(n.network_address) if n.prefixlen == n.max_prefixlen and i % 2 else str(n)
               for i, n in enumerate(nets)]
    compiled = _cidr_c.CidrSet(entries)
    twin = _cidr_py.CidrSet(entries)
    # probe the edges of every network too: that is where range merging goes wrong
    edges = []
    for n in nets:
        top = 2 ** n.max_prefixlen - 1
        for value in (int(n.network_address) - 1, int(n.network_address),
                      int(n.broadcast_address), int(n.broadcast_address) + 1):
            if 0 <= value <= top:
                edges.append((ipaddress.IPv6Address if n.version == 6
                              else ipaddress.IPv4Address)(value))
    for address in list(probes) + edges:
        expected = _oracle(nets, address)
        text = str(address)
        assert (text in compiled) == expected, (entries, text)
        assert (text in twin) == expected, (entries, text)
    assert len(compiled) == len(twin) == len(nets)


@settings(max_examples=200, deadline=None)
@given(st.lists(networks, max_size=10), st.integers(0, 2 ** 32 - 1))
def test_ipv4_mapped_probes_agree(nets, value):
    entries = [str(n) for n in nets]
    mapped = '::ffff:%s' % ipaddress.IPv4Address(value)
    expected = _oracle(nets, ipaddress.ip_address(mapped))
    assert (mapped in _cidr_c.CidrSet(entries)) == expected
    assert (mapped in _cidr_py.CidrSet(entries)) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=45))
def test_random_text_never_crashes(text):
    full = [_cidr_c.CidrSet(['0.0.0.0/0', '::/0']), _cidr_py.CidrSet(['0.0.0.0/0', '::/0'])]
    for s in full:
        assert (text in s) in (True, False)
    for impl in (_cidr_c, _cidr_py):
        try:
            impl.CidrSet([text])
        except ValueError:
            pass


# -- raw config text, not only what ipaddress prints: both agree on every interpreter ------

RAW_PIECES = ['1', '2', '0', '00', '04', '010', '255', '256', '1.2.3.4', '::', ':', '.',
              'ffff', 'fe80', 'db8', '2001', '/', '/8', '/32', '/128', '/033', '%eth0', '%',
              '\x00', ' ', '\t', '\n', '\x85', '\u3000', '\u0661', 'x', '0x0a', '[', ']', '+']
raw_text = st.lists(st.sampled_from(RAW_PIECES), max_size=12).map(''.join)
raw_pieces = st.sampled_from(RAW_PIECES)
# real addresses and networks with raw text before or after them
raw_around = st.one_of(
    st.tuples(st.one_of(networks.map(str), addresses.map(str)), raw_pieces).map(''.join),
    st.tuples(raw_pieces, addresses.map(str)).map(''.join))
raw_entries = st.one_of(raw_text, networks.map(str), raw_around)
raw_probes = st.one_of(raw_text, addresses.map(str), raw_around)


def _built(impl, entries):
    errors = []
    built = impl.CidrSet(entries, on_error=lambda index, entry, message: errors.append(index))
    return built, errors


def _agree(entries, probes):
    compiled, compiled_errors = _built(_cidr_c, entries)
    twin, twin_errors = _built(_cidr_py, entries)
    assert compiled_errors == twin_errors, entries
    assert len(compiled) == len(twin)
    for probe in probes + entries:
        assert (probe in compiled) == (probe in twin), (entries, probe)


@settings(max_examples=1000, deadline=None)
@given(raw_entries, raw_probes)
def test_twins_agree_on_one_raw_entry_and_probe(entry, probe):
    _agree([entry], [probe])


@settings(max_examples=300, deadline=None)
@given(st.lists(raw_entries, max_size=8), st.lists(raw_probes, max_size=12))
def test_twins_agree_on_raw_text(entries, probes):
    _agree(entries, probes)


@pytest.mark.parametrize('text', ['fe80::1%eth0', 'fe80::1%1', '1.2.3.4\x00', '1.2.3.4\x00junk',
                                  '1.2.3.04', '01.2.3.4', '::ffff:1.2.3.04', '\u0661.2.3.4',
                                  '1.2.3.4/8\x00', '1.2.3.4/\x008', '0x0a.0.0.1', '10.1'])
def test_odd_text_is_no_address_for_either(cidr_impl, text):
    """inet_pton's reading on every interpreter: no scope IDs (ipaddress takes them from
    3.9 on), no NUL (C stops there), no leading zeros (3.6's ipaddress took them)."""
    assert text not in cidr_impl.CidrSet(['0.0.0.0/0', '::/0'])
    with pytest.raises(ValueError):
        cidr_impl.CidrSet([text])
