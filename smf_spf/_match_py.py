"""Plain-Python twin of pyx/_match_c.pyx: linear scans with `in` and endswith.

Matching is ASCII case-insensitive on the UTF-8 bytes (surrogate-escaped bytes
from the milter included); bytes >= 0x80 compare as they are.
"""

_ASCII_LOWER = bytes.maketrans(b'ABCDEFGHIJKLMNOPQRSTUVWXYZ', b'abcdefghijklmnopqrstuvwxyz')


def fold(text):
    """ASCII-lower-cased bytes of text (str or bytes)."""
    if isinstance(text, str):
        text = text.encode('utf-8', 'surrogateescape')
    return text.translate(_ASCII_LOWER)


class _Patterns(object):
    __slots__ = ('_patterns',)

    def __init__(self, patterns=()):
        self._patterns = tuple(fold(p) for p in patterns)

    def __len__(self):
        return len(self._patterns)


class SuffixMatcher(_Patterns):
    """True when the text ends with one of the patterns (WhitelistPTR)."""
    __slots__ = ()

    def matches(self, text):
        folded = fold(text)
        return any(folded.endswith(p) for p in self._patterns)


class SubstringMatcher(_Patterns):
    """True when the text contains one of the patterns (WhitelistFrom/To)."""
    __slots__ = ()

    def matches(self, text):
        folded = fold(text)
        return any(p in folded for p in self._patterns)
