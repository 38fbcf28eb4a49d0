from hypothesis import given, settings, strategies as st

from smf_spf import _match_c, _match_py


def test_substring_is_ascii_case_insensitive(match_impl):
    m = match_impl.SubstringMatcher(['friend@', '@Example.ORG', 'x@y.z'])
    assert m.matches('friend@anywhere.tld')
    assert m.matches('someone@EXAMPLE.org')
    assert m.matches('A.FRIEND@b')
    assert not m.matches('enemy@example.com')
    assert not m.matches('')
    assert len(m) == 3


def test_suffix_matches_ends_only(match_impl):
    m = match_impl.SuffixMatcher(['.example.com', 'mail.example.net'])
    assert m.matches('MX1.Example.Com')
    assert m.matches('mail.example.net')
    assert m.matches('smtp.mail.example.net')   # plain suffix, as in C (not label-aware)
    assert not m.matches('example.com')
    assert not m.matches('example.com.evil.tld')
    assert not m.matches('')


def test_non_ascii_bytes_compare_as_is(match_impl):
    m = match_impl.SubstringMatcher(['ÄRGER@'])
    assert m.matches('xÄRGER@host')
    assert not m.matches('xärger@host')          # no Unicode case folding, like C
    s = match_impl.SuffixMatcher(['.bücher.de'])
    assert s.matches('mx.BÜCHER.de') is False and s.matches('mx.bücher.DE')


def test_surrogate_escaped_bytes(match_impl):
    raw = b'user\xff@host'.decode('utf-8', 'surrogateescape')
    assert match_impl.SubstringMatcher([raw[:5]]).matches(raw)
    assert match_impl.SuffixMatcher(['\udcff@host']).matches(raw)


def test_empty_pattern_matches_everything_like_in(match_impl):
    assert match_impl.SubstringMatcher(['']).matches('abc')
    assert match_impl.SuffixMatcher(['']).matches('')


def test_length_counts_patterns_as_given(match_impl):
    assert len(match_impl.SubstringMatcher(['a', 'A', 'a', 'b'])) == 4
    assert len(match_impl.SuffixMatcher(iter(['x', 'y']))) == 2


def test_empty_matchers_match_nothing(match_impl):
    assert not match_impl.SubstringMatcher([]).matches('abc')
    assert not match_impl.SuffixMatcher([]).matches('abc')


def test_overlapping_patterns_need_failure_links(match_impl):
    # "abcd" fails after "abc" and must fall back to "bce"
    m = match_impl.SubstringMatcher(['abcd', 'bce'])
    assert m.matches('xabce')
    assert not m.matches('xabcx')
    m2 = match_impl.SubstringMatcher(['aab'])
    assert m2.matches('aaab')


def test_many_patterns(match_impl):
    patterns = ['user%d@example%d.org' % (i, i % 97) for i in range(5000)]
    m = match_impl.SubstringMatcher(patterns)
    assert m.matches('<USER4999@EXAMPLE52.ORG>')
    assert not m.matches('user5000@example54.org')
    s = match_impl.SuffixMatcher(['.host%d.example' % i for i in range(5000)])
    assert s.matches('mx.HOST4321.example') and not s.matches('mx.host5000.example')


# -- property tests: compiled == twin == str oracle ------------------------------

def _fold(text):
    return ''.join(chr(ord(c) + 32) if 'A' <= c <= 'Z' else c for c in text)


alphabet = st.sampled_from(list('abcAB@.-xyzÄä'))
small_text = st.text(alphabet, max_size=12)


@settings(max_examples=400, deadline=None)
@given(st.lists(small_text, max_size=25), st.lists(st.text(alphabet, max_size=30), max_size=10))
def test_substring_agrees(patterns, texts):
    compiled = _match_c.SubstringMatcher(patterns)
    twin = _match_py.SubstringMatcher(patterns)
    for text in texts + patterns + [p.upper() for p in patterns]:
        expected = any(_fold(p) in _fold(text) for p in patterns)
        assert compiled.matches(text) == expected, (patterns, text)
        assert twin.matches(text) == expected, (patterns, text)


@settings(max_examples=400, deadline=None)
@given(st.lists(small_text, max_size=25), st.lists(st.text(alphabet, max_size=30), max_size=10))
def test_suffix_agrees(patterns, texts):
    compiled = _match_c.SuffixMatcher(patterns)
    twin = _match_py.SuffixMatcher(patterns)
    for text in texts + ['q' + p for p in patterns]:
        expected = any(_fold(text).endswith(_fold(p)) for p in patterns)
        assert compiled.matches(text) == expected, (patterns, text)
        assert twin.matches(text) == expected, (patterns, text)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=8), max_size=10), st.text(max_size=40))
def test_any_unicode_agrees(patterns, text):
    assert (_match_c.SubstringMatcher(patterns).matches(text)
            == _match_py.SubstringMatcher(patterns).matches(text))
    assert (_match_c.SuffixMatcher(patterns).matches(text)
            == _match_py.SuffixMatcher(patterns).matches(text))


# raw config text: NUL, surrogate-escaped bytes (non-UTF-8 config lines), blanks, case
raw_alphabet = st.sampled_from(['\x00', '\udcff', '\udce4', 'a', 'A', '@', '.', ' ', '\t',
                                'ä', 'Ä', 'ı', 'İ', 'ß', '\u212a', 'k', 'K'])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.text(raw_alphabet, max_size=6), max_size=8),
       st.lists(st.text(raw_alphabet, max_size=16), max_size=8))
def test_twins_agree_on_raw_config_text(patterns, texts):
    compiled = (_match_c.SubstringMatcher(patterns), _match_c.SuffixMatcher(patterns))
    twin = (_match_py.SubstringMatcher(patterns), _match_py.SuffixMatcher(patterns))
    for text in texts + patterns:
        expected_in = any(_fold(p) in _fold(text) for p in patterns)
        expected_end = any(_fold(text).endswith(_fold(p)) for p in patterns)
        assert compiled[0].matches(text) == twin[0].matches(text) == expected_in, (patterns, text)
        assert compiled[1].matches(text) == twin[1].matches(text) == expected_end, (patterns, text)
