"""The whitelist matchers: the compiled ones, their twins, and a plain reference agree."""

import pytest
from hypothesis import given, settings, strategies as st

from smf_spf import _match_c, _match_py
from smf_spf.mailbox import split_path


# -- host and domain names: whole labels ----------------------------------------------

def test_a_name_pattern_is_itself_and_below_by_whole_labels(match_impl):
    m = match_impl.DomainMatcher(['partner.example', 'Mail.Example.NET'])
    assert m.matches('partner.example') and m.matches('MX.Partner.Example')
    assert m.matches('a.b.partner.example') and m.matches('mail.example.net')
    assert not m.matches('evilpartner.example')          # a look-alike suffix
    assert not m.matches('partner.example.evil.test')
    assert not m.matches('example') and not m.matches('')
    assert not m.matches('example.net')                  # above the pattern


def test_a_leading_dot_means_below_only(match_impl):
    m = match_impl.DomainMatcher(['.partner.example'])
    assert m.matches('mx.partner.example') and m.matches('A.B.PARTNER.example')
    assert not m.matches('partner.example') and not m.matches('evilpartner.example')


def test_both_forms_of_one_name(match_impl):
    m = match_impl.DomainMatcher(['.partner.example', 'partner.example'])
    assert m.matches('partner.example') and m.matches('mx.partner.example')
    assert len(m) == 2


def test_non_ascii_compares_as_it_is(match_impl):
    m = match_impl.DomainMatcher(['BÜCHER.de'])
    assert m.matches('mx.bÜcher.DE')
    assert not m.matches('mx.bücher.de')                 # no Unicode case folding, like C
    assert not m.matches('xn--bcher-kva.de')             # nor IDNA: names compare as written
    raw = b'h\xff.example'.decode('utf-8', 'surrogateescape')
    assert match_impl.DomainMatcher([raw]).matches('mx.' + raw)
    assert not match_impl.DomainMatcher([raw]).matches('mx.h\xff.example')


def test_empty_and_counted(match_impl):
    assert not match_impl.DomainMatcher([]).matches('anything.example')
    assert not match_impl.DomainMatcher([]).matches('')
    assert len(match_impl.DomainMatcher(iter(['a.x', 'A.X', 'b.x']))) == 3


def test_many_names(match_impl):
    m = match_impl.DomainMatcher(['relay%d.example%d.net' % (i, i % 97) for i in range(5000)])
    assert m.matches('mx.RELAY4321.example53.net') and m.matches('relay0.example0.net')
    assert not m.matches('relay5000.example53.net') and not m.matches('xrelay1.example1.net')


# -- addresses: local part and domain as split_path reads them --------------------------

PARTNER = ['@partner.example', 'user@friend.example', 'newsletter@', 'trusted.example',
           '.below.example']


@pytest.mark.parametrize('local,domain,expected', [
    ('anyone', 'partner.example', True),          # @partner.example: that domain
    ('Anyone', 'PARTNER.Example', True),
    ('anyone', 'mx.partner.example', False),      # ... exactly (as C: no '@' before mx.)
    ('anyone', 'partner.example.evil.test', False),
    ('"x@partner.example"', 'victim.example', False),
    ('user', 'friend.example', True),             # user@friend.example: that mailbox
    ('USER', 'friend.example', True),
    ('xuser', 'friend.example', False),
    ('other', 'friend.example', False),
    ('newsletter', 'any.example', True),          # newsletter@: at any domain
    ('evilnewsletter', 'any.example', False),
    ('"newsletter@"', 'victim.example', False),
    ('someone', 'trusted.example', True),         # trusted.example: itself and below
    ('someone', 'mx.trusted.example', True),
    ('someone', 'eviltrusted.example', False),
    ('ceo.trusted.example', 'victim.example', False),
    ('someone', 'a.below.example', True),         # .below.example: below only
    ('someone', 'below.example', False),
    ('', 'victim.example', False),
])
def test_address_patterns(match_impl, local, domain, expected):
    assert match_impl.AddressMatcher(PARTNER).matches(local, domain) is expected


def test_at_alone_matches_every_address_as_in_c(match_impl):
    m = match_impl.AddressMatcher(['@'])
    assert m.matches('', 'x.example') and m.matches('"a@b"', 'victim.example')


def test_one_domain_any_local_part_and_some(match_impl):
    m = match_impl.AddressMatcher(['a@d.example', '@d.example', 'b@d.example', 'c@e.example'])
    assert m.matches('zz', 'd.example') and m.matches('c', 'e.example')
    assert not m.matches('a', 'e.example') and len(m) == 4


def test_a_quoted_local_part_compares_with_its_quotes(match_impl):
    m = match_impl.AddressMatcher(['"a@b"@x.example'])
    assert m.matches('"a@b"', 'x.example') and not m.matches('a@b', 'x.example')


def test_empty_address_matcher(match_impl):
    m = match_impl.AddressMatcher([])
    assert not m.matches('a', 'b.example') and len(m) == 0


def test_many_addresses(match_impl):
    m = match_impl.AddressMatcher(['user%d@example%d.org' % (i, i % 97) for i in range(5000)])
    assert m.matches('USER4999', 'EXAMPLE52.org')
    assert not m.matches('user5000', 'example54.org') and not m.matches('user4999', 'example53.org')


# -- property tests: compiled == twin == a plain reference -----------------------------

def fold(text):
    return ''.join(chr(ord(c) + 32) if 'A' <= c <= 'Z' else c for c in text)


def reference_name(pattern, name):
    """By label lists: the pattern's labels end the name's (`.p`: with one more before)."""
    below = pattern.startswith('.')
    want = fold(pattern[1:] if below else pattern).split('.')
    have = fold(name).split('.')
    return len(have) >= len(want) + below and have[len(have) - len(want):] == want


def reference_address(pattern, local, domain):
    """The pattern as split_path reads it ('' in it is any), or without '@' a name."""
    wanted = split_path(pattern)
    if wanted is None:
        return reference_name(pattern, domain)
    return (fold(wanted.local) in ('', fold(local))
            and fold(wanted.domain) in ('', fold(domain)))


IDNA = ['bücher', 'BÜCHER', 'xn--bcher-kva', 'XN--BCHER-KVA', 'münchen', 'xn--mnchen-3ya',
        '例え', 'xn--r8jz45g']
label = st.one_of(st.sampled_from(['a', 'A', 'b', 'ab', 'partner', 'Partner', 'example', 'mx',
                                   'ä', 'Ä', '-', '_', '\udcff'] + IDNA),
                  st.text(st.sampled_from('abAB-ä'), min_size=1, max_size=4))
plain_name = st.lists(label, min_size=1, max_size=4).map('.'.join)
# look-alikes: a name with more letters before it, or more labels after it
name = st.one_of(plain_name,
                 st.tuples(st.sampled_from(['evil', 'x', 'E']), plain_name).map(''.join),
                 st.tuples(plain_name, plain_name).map('.'.join))


def below(names):
    """Name patterns for names: a suffix of labels, sometimes with a leading dot."""
    def one(draw_name, cut, dot):
        labels = draw_name.split('.')
        return ('.' if dot else '') + '.'.join(labels[min(cut, len(labels) - 1):])
    return st.builds(one, names, st.integers(0, 3), st.booleans())


@settings(max_examples=500, deadline=None)
@given(st.lists(name, min_size=1, max_size=6).flatmap(
    lambda names: st.tuples(st.just(names), st.lists(st.one_of(below(st.sampled_from(names)),
                                                               name), max_size=8))))
def test_names_agree(drawn):
    names, patterns = drawn
    compiled = _match_c.DomainMatcher(patterns)
    twin = _match_py.DomainMatcher(patterns)
    for text in names + patterns + [fold(p).upper() for p in patterns]:
        expected = any(reference_name(p, text) for p in patterns)
        assert compiled.matches(text) is expected, (patterns, text)
        assert twin.matches(text) is expected, (patterns, text)


atom = st.text(st.sampled_from("abAB09!#$%&'*+/=?^_`{|}~-ä"), min_size=1, max_size=5)
dot_string = st.lists(atom, min_size=1, max_size=3).map('.'.join)


def quoted(inner):
    """A quoted local part holding `inner` (an address or pattern, '@' and all)."""
    return '"%s"' % inner.replace('\\', '\\\\').replace('"', '\\"')


@st.composite
def addresses_and_patterns(draw):
    domains = draw(st.lists(name, min_size=1, max_size=4))
    locals_ = draw(st.lists(dot_string, min_size=1, max_size=3))
    patterns = []
    for _ in range(draw(st.integers(0, 8))):
        local = draw(st.sampled_from(locals_))
        domain = draw(st.sampled_from(domains))
        patterns.append(draw(st.sampled_from([
            '%s@%s' % (local, domain), '@' + domain, local + '@', domain, '.' + domain,
            '%s@%s' % (quoted(local + '@' + domain), domain)])))
    addresses = []
    for _ in range(draw(st.integers(1, 8))):
        local = draw(st.one_of(st.sampled_from(locals_), dot_string))
        domain = draw(st.sampled_from(domains))
        victim = draw(st.one_of(st.sampled_from(domains), name))
        addresses.append(draw(st.sampled_from([
            '%s@%s' % (local, domain),
            '%s@%s' % (quoted(draw(st.sampled_from(patterns or ['@' + domain]))), victim),
            '%s.%s@%s' % (local, domain, victim),            # the domain in the local part
            '@relay.example:%s@%s' % (local, domain),
            '%s@evil%s' % (local, domain)])))
    return patterns, addresses


@settings(max_examples=500, deadline=None)
@given(addresses_and_patterns())
def test_addresses_agree(drawn):
    patterns, addresses = drawn
    compiled = _match_c.AddressMatcher(patterns)
    twin = _match_py.AddressMatcher(patterns)
    for address in addresses:
        mailbox = split_path(address)
        expected = any(reference_address(p, *mailbox) for p in patterns)
        assert compiled.matches(mailbox.local, mailbox.domain) is expected, (patterns, address)
        assert twin.matches(mailbox.local, mailbox.domain) is expected, (patterns, address)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=10), max_size=8), st.text(max_size=20), st.text(max_size=20))
def test_any_text_agrees(patterns, local, domain):
    """Patterns and values no config or MTA would hold: the twins still agree."""
    assert (_match_c.DomainMatcher(patterns).matches(domain)
            is _match_py.DomainMatcher(patterns).matches(domain)
            is any(reference_name(p, domain) for p in patterns))
    assert (_match_c.AddressMatcher(patterns).matches(local, domain)
            is _match_py.AddressMatcher(patterns).matches(local, domain))


# raw config text: NUL, surrogate-escaped bytes (non-UTF-8 config lines), blanks, case
raw_alphabet = st.sampled_from(['\x00', '\udcff', '\udce4', 'a', 'A', '@', '.', ' ', '\t', '"',
                                'ä', 'Ä', 'ı', 'İ', 'ß', '\u212a', 'k', 'K'])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.text(raw_alphabet, max_size=6), max_size=8),
       st.lists(st.text(raw_alphabet, max_size=16), max_size=8))
def test_twins_agree_on_raw_config_text(patterns, texts):
    names = (_match_c.DomainMatcher(patterns), _match_py.DomainMatcher(patterns))
    mailboxes = (_match_c.AddressMatcher(patterns), _match_py.AddressMatcher(patterns))
    for text in texts + patterns:
        assert names[0].matches(text) is names[1].matches(text), (patterns, text)
        mailbox = split_path(text) or ('', text)
        assert (mailboxes[0].matches(*mailbox) is mailboxes[1].matches(*mailbox)
                is any(reference_address(p, *mailbox) for p in patterns)), (
                    patterns, text)
