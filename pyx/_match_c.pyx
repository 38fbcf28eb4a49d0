# cython: language_level=3, boundscheck=False, wraparound=False
"""Compiled whitelist matchers; smf_spf/whitelist.py says what they match.

DomainMatcher (WhitelistPTR, TrustedForwarder names, WhitelistFrom/To patterns without
'@') keeps its patterns, reversed and with a leading dot, in a compact byte trie stored
breadth-first in flat arrays (children of a node are one contiguous, label-sorted run),
built in linear time from the sorted patterns.  A lookup walks the name once from its end,
so its cost depends on the length of the name, not on how many patterns there are.
AddressMatcher (WhitelistFrom/To) looks the address's local part and domain up in hash
tables and its domain in a DomainMatcher.  Text and patterns are compared after ASCII-only
lower-casing (other characters compare as they are), like the C original's strtolower.
"""

from libc.stdint cimport uint32_t, uint8_t
from libc.string cimport memset
from cpython.mem cimport PyMem_Malloc, PyMem_Free

from smf_spf.mailbox import ascii_lower
from smf_spf.whitelist import sorted_address_patterns

cdef extern from *:
    """
    /* the characters of an ASCII-only str, without a copy: 1 and *data, *size; 0 if not */
    static int smf_spf_ascii_view(PyObject *text, const unsigned char **data,
                                  Py_ssize_t *size) {
    #if PY_VERSION_HEX < 0x030C0000
        if (PyUnicode_READY(text) < 0)
            return -1;
    #endif
        if (!PyUnicode_IS_ASCII(text))
            return 0;
        *data = PyUnicode_1BYTE_DATA(text);
        *size = PyUnicode_GET_LENGTH(text);
        return 1;
    }
    """
    int smf_spf_ascii_view(str text, const uint8_t **data, Py_ssize_t *size) except -1

cdef uint32_t NO_NODE = 0xffffffff
cdef uint8_t DOT = 46
cdef uint8_t ITSELF = 1     # a pattern without a leading dot: the name itself matches too
cdef uint8_t BELOW = 2      # a pattern with a leading dot: only the names under it


cdef inline uint8_t _fold(uint8_t c) noexcept nogil:
    if 65 <= c <= 90:
        return c + 32
    return c


cdef bytes _utf8(str text):
    # surrogatepass: every str has one encoding (a surrogate-escaped byte too), and equal
    # encodings are equal strings, so comparing these bytes compares the text
    return text.encode('utf-8', 'surrogatepass')


cdef str _folded(str text):
    """text ASCII-lower-cased: text itself when it holds no A-Z (the usual case)."""
    cdef const uint8_t *data
    cdef Py_ssize_t size, i
    if smf_spf_ascii_view(text, &data, &size):
        for i in range(size):
            if 65 <= data[i] <= 90:
                return text.lower()     # ASCII only: str.lower folds just A-Z
        return text
    return ascii_lower(text)


cdef class DomainMatcher:
    """True when the name is one a pattern names: `p` itself and the names under it,
    `.p` the names under it, by whole labels (smf_spf.whitelist.name_matches)."""
    cdef uint32_t *offsets      # children of node v: offsets[v] .. offsets[v + 1] - 1
    cdef uint8_t *labels        # label of the edge into node v
    cdef uint8_t *terminal      # ITSELF | BELOW of the patterns that end at node v
    cdef uint32_t root_next[256]
    cdef uint32_t node_count
    cdef Py_ssize_t pattern_count

    def __cinit__(self):
        self.offsets = NULL
        self.labels = NULL
        self.terminal = NULL
        self.node_count = 0
        self.pattern_count = 0

    def __dealloc__(self):
        PyMem_Free(self.offsets)
        PyMem_Free(self.labels)
        PyMem_Free(self.terminal)

    def __init__(self, patterns=()):
        cdef dict kinds = {}
        cdef Py_ssize_t given = 0
        cdef bytes raw, key
        for pattern in patterns:
            given += 1
            raw = _utf8(pattern).lower()        # bytes.lower folds ASCII only
            if raw.startswith(b'.'):
                key, kind = raw[::-1], BELOW
            else:
                key, kind = (b'.' + raw)[::-1], ITSELF
            kinds[key] = kinds.get(key, 0) | kind
        self._build(sorted(kinds), kinds)
        self.pattern_count = given

    def __len__(self):
        return self.pattern_count

    cdef int _build(self, list patterns, dict kinds) except -1:
        """Trie of sorted, distinct byte strings, stored in breadth-first order."""
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
        cdef uint32_t *parents = NULL
        cdef uint32_t count = 1, node, d, v
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
                dfs_terminal[path[n]] = <uint8_t>kinds[raw]
                previous = raw
            self.node_count = count
            # breadth-first order: a stable sort by depth keeps siblings together
            memset(depth_start, 0, (longest + 2) * sizeof(uint32_t))
            for v in range(count):
                depth_start[dfs_depth[v] + 1] += 1
            for d in range(1, longest + 2):
                depth_start[d] += depth_start[d - 1]
            new_index = <uint32_t *>PyMem_Malloc(count * sizeof(uint32_t))
            parents = <uint32_t *>PyMem_Malloc(count * sizeof(uint32_t))
            self.labels = <uint8_t *>PyMem_Malloc(count)
            self.terminal = <uint8_t *>PyMem_Malloc(count)
            self.offsets = <uint32_t *>PyMem_Malloc((count + 1) * sizeof(uint32_t))
            if (new_index == NULL or parents == NULL or self.labels == NULL
                    or self.terminal == NULL or self.offsets == NULL):
                raise MemoryError()
            for v in range(count):
                new_index[v] = depth_start[dfs_depth[v]]
                depth_start[dfs_depth[v]] += 1
            for v in range(count):
                node = new_index[v]
                self.labels[node] = dfs_label[v]
                self.terminal[node] = dfs_terminal[v]
                parents[node] = new_index[dfs_parent[v]]
            # children of each node are one run; runs follow their parents' order
            memset(self.offsets, 0, (count + 1) * sizeof(uint32_t))
            for v in range(1, count):
                self.offsets[parents[v] + 1] += 1
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
            PyMem_Free(parents)
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

    cdef bint _matches(self, str name) except -1:
        cdef const uint8_t *data
        cdef Py_ssize_t i
        cdef bytes raw
        cdef uint32_t node = 0
        if self.node_count <= 1:
            return False
        if not smf_spf_ascii_view(name, &data, &i):
            raw = _utf8(name)
            data = raw
            i = len(raw)
        # the name from its end; a terminal node reached inside the name is a pattern
        # the name ends with, just after a dot (each pattern is stored with one)
        while i > 0:
            i -= 1
            node = self._goto(node, _fold(data[i]))
            if node == NO_NODE:
                return False
            if self.terminal[node]:
                return True
        # the whole name read: one dot more, as if it stood before the name, finds the
        # pattern that is the name itself
        node = self._goto(node, DOT)
        return node != NO_NODE and (self.terminal[node] & ITSELF) != 0

    def matches(self, str name not None):
        return self._matches(name)


cdef class AddressMatcher:
    """True when the mailbox (local part, domain) matches a pattern
    (smf_spf.whitelist.address_matches)."""
    cdef bint everything
    cdef bint by_local           # any pattern `local@`
    cdef bint by_domain          # any pattern with a domain and an '@'
    cdef frozenset locals_at_any_domain
    cdef dict domains            # domain -> True (any local part) or a frozenset of them
    cdef DomainMatcher names
    cdef Py_ssize_t pattern_count

    def __init__(self, patterns=()):
        everything, locals_at_any_domain, domains, names, count = sorted_address_patterns(
            patterns)
        self.everything = everything
        self.locals_at_any_domain = locals_at_any_domain
        self.domains = domains
        self.by_local = len(locals_at_any_domain) > 0
        self.by_domain = len(domains) > 0
        self.names = DomainMatcher(names)
        self.pattern_count = count

    def __len__(self):
        return self.pattern_count

    def matches(self, str local not None, str domain not None):
        if self.everything:
            return True
        if self.by_local or self.by_domain:
            local = _folded(local)
            if self.by_local and local in self.locals_at_any_domain:
                return True
            if self.by_domain:
                at_domain = self.domains.get(_folded(domain))
                if at_domain is not None and (at_domain is True or local in at_domain):
                    return True
        return self.names._matches(domain)
