# cython: language_level=3, boundscheck=False, wraparound=False
"""Compiled pattern matchers on a compact byte trie.

The trie is stored breadth-first in flat arrays (children of a node are one
contiguous, label-sorted run), built in linear time from the sorted patterns.
A lookup walks the text once, so its cost depends on the length of the text,
not on how many patterns there are.  Text and patterns are compared after
ASCII-only lower-casing (bytes >= 0x80 compare as they are), like the C
original's strcasecmp/strtolower.
"""

from libc.stdint cimport uint32_t, uint8_t
from libc.string cimport memset
from cpython.mem cimport PyMem_Malloc, PyMem_Free

cdef uint32_t NO_NODE = 0xffffffff
cdef bytes _FOLD = bytes(c + 32 if 65 <= c <= 90 else c for c in range(256))


cdef inline uint8_t _fold(uint8_t c) noexcept nogil:
    if 65 <= c <= 90:
        return c + 32
    return c


cdef bytes _to_bytes(text):
    if isinstance(text, bytes):
        return <bytes>text
    return (<str>text).encode('utf-8', 'surrogateescape')


def _prepared(patterns, bint reverse):
    """(folded, for suffixes reversed, sorted distinct patterns; how many were given)."""
    folded = set()
    cdef Py_ssize_t given = 0
    for pattern in patterns:
        raw = _to_bytes(pattern).translate(_FOLD)
        folded.add(raw[::-1] if reverse else raw)
        given += 1
    return sorted(folded), given


cdef class _Trie:
    cdef uint32_t *offsets      # children of node v: offsets[v] .. offsets[v + 1] - 1
    cdef uint8_t *labels        # label of the edge into node v
    cdef uint8_t *terminal      # a pattern ends here (AC: or at a failure ancestor)
    cdef uint32_t *parents      # build only, then freed
    cdef uint32_t root_next[256]
    cdef uint32_t node_count
    cdef Py_ssize_t pattern_count

    def __cinit__(self):
        self.offsets = NULL
        self.labels = NULL
        self.terminal = NULL
        self.parents = NULL
        self.node_count = 0
        self.pattern_count = 0

    def __dealloc__(self):
        PyMem_Free(self.offsets)
        PyMem_Free(self.labels)
        PyMem_Free(self.terminal)
        PyMem_Free(self.parents)

    def __len__(self):
        return self.pattern_count

    cdef int _build(self, tuple prepared) except -1:
        """Trie of sorted, distinct byte strings, stored in breadth-first order."""
        cdef list patterns = prepared[0]
        cdef Py_ssize_t total = 1, longest = 0, k, n, lcp, i
        cdef bytes raw, previous = b''
        cdef const uint8_t *data
        cdef const uint8_t *prev
        for raw in patterns:
            total += len(raw)
            if len(raw) > longest:
                longest = len(raw)
        if total >= NO_NODE:
            raise MemoryError('too many pattern bytes')
        # depth-first (preorder) trie from the sorted list: a pattern shares its
        # prefix up to the LCP with the one before it; every byte after is a new node
        cdef uint32_t *dfs_parent = <uint32_t *>PyMem_Malloc(total * sizeof(uint32_t))
        cdef uint8_t *dfs_label = <uint8_t *>PyMem_Malloc(total)
        cdef uint8_t *dfs_terminal = <uint8_t *>PyMem_Malloc(total)
        cdef uint32_t *dfs_depth = <uint32_t *>PyMem_Malloc(total * sizeof(uint32_t))
        cdef uint32_t *path = <uint32_t *>PyMem_Malloc((longest + 1) * sizeof(uint32_t))
        cdef uint32_t *depth_start = <uint32_t *>PyMem_Malloc((longest + 2) * sizeof(uint32_t))
        cdef uint32_t *new_index = NULL
        cdef uint32_t count = 1, node, d, v, p
        try:
            if (dfs_parent == NULL or dfs_label == NULL or dfs_terminal == NULL
                    or dfs_depth == NULL or path == NULL or depth_start == NULL):
                raise MemoryError()
            dfs_parent[0] = 0
            dfs_label[0] = 0
            dfs_terminal[0] = 0
            dfs_depth[0] = 0
            path[0] = 0
            for raw in patterns:
                data = raw
                prev = previous
                n = len(raw)
                lcp = 0
                while lcp < n and lcp < len(previous) and data[lcp] == prev[lcp]:
                    lcp += 1
                for k in range(lcp, n):
                    node = count
                    count += 1
                    dfs_parent[node] = path[k]
                    dfs_label[node] = data[k]
                    dfs_terminal[node] = 0
                    dfs_depth[node] = k + 1
                    path[k + 1] = node
                dfs_terminal[path[n]] = 1
                previous = raw
            self.pattern_count = prepared[1]
            self.node_count = count
            # breadth-first order: a stable sort by depth keeps siblings together
            memset(depth_start, 0, (longest + 2) * sizeof(uint32_t))
            for v in range(count):
                depth_start[dfs_depth[v] + 1] += 1
            for d in range(1, longest + 2):
                depth_start[d] += depth_start[d - 1]
            new_index = <uint32_t *>PyMem_Malloc(count * sizeof(uint32_t))
            self.labels = <uint8_t *>PyMem_Malloc(count)
            self.terminal = <uint8_t *>PyMem_Malloc(count)
            self.parents = <uint32_t *>PyMem_Malloc(count * sizeof(uint32_t))
            self.offsets = <uint32_t *>PyMem_Malloc((count + 1) * sizeof(uint32_t))
            if (new_index == NULL or self.labels == NULL or self.terminal == NULL
                    or self.parents == NULL or self.offsets == NULL):
                raise MemoryError()
            for v in range(count):
                new_index[v] = depth_start[dfs_depth[v]]
                depth_start[dfs_depth[v]] += 1
            for v in range(count):
                node = new_index[v]
                self.labels[node] = dfs_label[v]
                self.terminal[node] = dfs_terminal[v]
                self.parents[node] = new_index[dfs_parent[v]]
            # children of each node are one run; runs follow their parents' order
            memset(self.offsets, 0, (count + 1) * sizeof(uint32_t))
            for v in range(1, count):
                self.offsets[self.parents[v] + 1] += 1
            self.offsets[0] = 1
            for v in range(1, count + 1):
                self.offsets[v] += self.offsets[v - 1]
            for i in range(256):
                self.root_next[i] = NO_NODE
            for v in range(self.offsets[0], self.offsets[1]):
                self.root_next[self.labels[v]] = v
        finally:
            PyMem_Free(dfs_parent)
            PyMem_Free(dfs_label)
            PyMem_Free(dfs_terminal)
            PyMem_Free(dfs_depth)
            PyMem_Free(path)
            PyMem_Free(depth_start)
            PyMem_Free(new_index)
        return 0

    cdef inline uint32_t _goto(self, uint32_t node, uint8_t c) noexcept nogil:
        if node == 0:
            return self.root_next[c]
        cdef uint32_t lo = self.offsets[node], hi = self.offsets[node + 1], mid
        while hi - lo > 4:
            mid = (lo + hi) >> 1
            if self.labels[mid] <= c:
                lo = mid
            else:
                hi = mid
        while lo < hi:
            if self.labels[lo] == c:
                return lo
            lo += 1
        return NO_NODE

    cdef void _drop_parents(self):
        PyMem_Free(self.parents)
        self.parents = NULL


cdef class SuffixMatcher(_Trie):
    """True when the text ends with one of the patterns (WhitelistPTR)."""

    def __init__(self, patterns=()):
        self._build(_prepared(patterns, True))
        self._drop_parents()

    def matches(self, text):
        cdef bytes raw = _to_bytes(text)
        cdef const uint8_t *data = raw
        cdef Py_ssize_t i = len(raw)
        cdef uint32_t node = 0
        if self.terminal[0]:
            return True
        while i > 0:
            i -= 1
            node = self._goto(node, _fold(data[i]))
            if node == NO_NODE:
                return False
            if self.terminal[node]:
                return True
        return False


cdef class SubstringMatcher(_Trie):
    """True when the text contains one of the patterns (WhitelistFrom/To): Aho-Corasick."""
    cdef uint32_t *fail

    def __cinit__(self):
        self.fail = NULL

    def __dealloc__(self):
        PyMem_Free(self.fail)

    def __init__(self, patterns=()):
        self._build(_prepared(patterns, False))
        self._link()
        self._drop_parents()

    cdef int _link(self) except -1:
        """Failure links, in breadth-first order (which the node numbers already are)."""
        cdef uint32_t v, f, g
        self.fail = <uint32_t *>PyMem_Malloc(self.node_count * sizeof(uint32_t))
        if self.fail == NULL:
            raise MemoryError()
        self.fail[0] = 0
        for v in range(1, self.node_count):
            if self.parents[v] == 0:
                self.fail[v] = 0
            else:
                f = self.fail[self.parents[v]]
                while True:
                    g = self._goto(f, self.labels[v])
                    if g != NO_NODE:
                        self.fail[v] = g
                        break
                    if f == 0:
                        self.fail[v] = 0
                        break
                    f = self.fail[f]
            if self.terminal[self.fail[v]]:
                self.terminal[v] = 1
        return 0

    def matches(self, text):
        cdef bytes raw = _to_bytes(text)
        cdef const uint8_t *data = raw
        cdef Py_ssize_t i, n = len(raw)
        cdef uint32_t node = 0, nxt
        cdef uint8_t c
        if self.terminal[0]:
            return True
        for i in range(n):
            c = _fold(data[i])
            while True:
                nxt = self._goto(node, c)
                if nxt != NO_NODE:
                    node = nxt
                    break
                if node == 0:
                    break
                node = self.fail[node]
            if self.terminal[node]:
                return True
        return False
