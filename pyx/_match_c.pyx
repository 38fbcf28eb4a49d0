# cython: language_level=3, boundscheck=False, wraparound=False
"""Compiled pattern matchers: a byte trie whose edges live in one hash table.

Each step is one hash probe, so the cost of a lookup depends on the length of
the text, not on how many patterns there are.  Text and patterns are compared
after ASCII-only lower-casing (bytes >= 0x80 compare as they are), like the C
original's strcasecmp/strtolower.
"""

from libc.stdint cimport uint64_t, uint32_t, uint8_t
from libc.string cimport memset
from cpython.mem cimport PyMem_Malloc, PyMem_Realloc, PyMem_Free

cdef uint32_t NO_NODE = 0xffffffff


cdef inline uint8_t _fold(uint8_t c) noexcept nogil:
    if 65 <= c <= 90:
        return c + 32
    return c


cdef bytes _to_bytes(text):
    if isinstance(text, bytes):
        return <bytes>text
    return (<str>text).encode('utf-8', 'surrogateescape')


cdef class _EdgeTrie:
    cdef uint64_t *keys          # (parent << 8 | byte) + 1; 0 marks an empty slot
    cdef uint32_t *children
    cdef uint32_t table_bits
    cdef uint64_t table_used
    cdef uint8_t *terminal
    cdef uint32_t *parent
    cdef uint8_t *edge_byte
    cdef uint32_t *depth
    cdef uint32_t node_count, node_cap
    cdef Py_ssize_t pattern_count

    def __cinit__(self):
        self.table_bits = 4
        self.keys = <uint64_t *>PyMem_Malloc((1 << self.table_bits) * sizeof(uint64_t))
        self.children = <uint32_t *>PyMem_Malloc((1 << self.table_bits) * sizeof(uint32_t))
        self.node_cap = 16
        self.terminal = <uint8_t *>PyMem_Malloc(self.node_cap)
        self.parent = <uint32_t *>PyMem_Malloc(self.node_cap * sizeof(uint32_t))
        self.edge_byte = <uint8_t *>PyMem_Malloc(self.node_cap)
        self.depth = <uint32_t *>PyMem_Malloc(self.node_cap * sizeof(uint32_t))
        if (self.keys == NULL or self.children == NULL or self.terminal == NULL
                or self.parent == NULL or self.edge_byte == NULL or self.depth == NULL):
            raise MemoryError()
        memset(self.keys, 0, (1 << self.table_bits) * sizeof(uint64_t))
        self.table_used = 0
        self.node_count = 1
        self.terminal[0] = 0
        self.parent[0] = 0
        self.edge_byte[0] = 0
        self.depth[0] = 0
        self.pattern_count = 0

    def __dealloc__(self):
        PyMem_Free(self.keys)
        PyMem_Free(self.children)
        PyMem_Free(self.terminal)
        PyMem_Free(self.parent)
        PyMem_Free(self.edge_byte)
        PyMem_Free(self.depth)

    def __len__(self):
        return self.pattern_count

    cdef inline uint64_t _slot(self, uint64_t key) noexcept nogil:
        return (key * <uint64_t>0x9E3779B97F4A7C15) >> (64 - self.table_bits)

    cdef inline uint32_t _goto(self, uint32_t node, uint8_t c) noexcept nogil:
        cdef uint64_t key = ((<uint64_t>node << 8) | c) + 1
        cdef uint64_t mask = (<uint64_t>1 << self.table_bits) - 1
        cdef uint64_t i = self._slot(key)
        while self.keys[i] != 0:
            if self.keys[i] == key:
                return self.children[i]
            i = (i + 1) & mask
        return NO_NODE

    cdef void _put_edge(self, uint64_t key, uint32_t child) noexcept nogil:
        cdef uint64_t mask = (<uint64_t>1 << self.table_bits) - 1
        cdef uint64_t i = self._slot(key)
        while self.keys[i] != 0:
            i = (i + 1) & mask
        self.keys[i] = key
        self.children[i] = child

    cdef int _grow_table(self) except -1:
        cdef uint64_t old_size = <uint64_t>1 << self.table_bits
        cdef uint64_t *old_keys = self.keys
        cdef uint32_t *old_children = self.children
        cdef uint64_t i
        cdef uint64_t *new_keys = <uint64_t *>PyMem_Malloc(old_size * 2 * sizeof(uint64_t))
        cdef uint32_t *new_children = <uint32_t *>PyMem_Malloc(old_size * 2 * sizeof(uint32_t))
        if new_keys == NULL or new_children == NULL:
            PyMem_Free(new_keys)
            PyMem_Free(new_children)
            raise MemoryError()
        memset(new_keys, 0, old_size * 2 * sizeof(uint64_t))
        self.keys = new_keys
        self.children = new_children
        self.table_bits += 1
        for i in range(old_size):
            if old_keys[i] != 0:
                self._put_edge(old_keys[i], old_children[i])
        PyMem_Free(old_keys)
        PyMem_Free(old_children)
        return 0

    cdef int _grow_nodes(self) except -1:
        cdef uint32_t cap = self.node_cap * 2
        cdef void *t = PyMem_Realloc(self.terminal, cap)
        if t == NULL:
            raise MemoryError()
        self.terminal = <uint8_t *>t
        t = PyMem_Realloc(self.parent, cap * sizeof(uint32_t))
        if t == NULL:
            raise MemoryError()
        self.parent = <uint32_t *>t
        t = PyMem_Realloc(self.edge_byte, cap)
        if t == NULL:
            raise MemoryError()
        self.edge_byte = <uint8_t *>t
        t = PyMem_Realloc(self.depth, cap * sizeof(uint32_t))
        if t == NULL:
            raise MemoryError()
        self.depth = <uint32_t *>t
        self.node_cap = cap
        return 0

    cdef int _insert(self, const uint8_t *data, Py_ssize_t n, bint reverse) except -1:
        cdef uint32_t node = 0, child
        cdef Py_ssize_t i
        cdef uint8_t c
        for i in range(n):
            c = _fold(data[n - 1 - i] if reverse else data[i])
            child = self._goto(node, c)
            if child == NO_NODE:
                if self.node_count == 0xfffffffe:
                    raise MemoryError('too many pattern bytes')
                if self.node_count == self.node_cap:
                    self._grow_nodes()
                if (self.table_used + 1) * 2 > (<uint64_t>1 << self.table_bits):
                    self._grow_table()
                child = self.node_count
                self.node_count += 1
                self.terminal[child] = 0
                self.parent[child] = node
                self.edge_byte[child] = c
                self.depth[child] = self.depth[node] + 1
                self._put_edge(((<uint64_t>node << 8) | c) + 1, child)
                self.table_used += 1
            node = child
        self.terminal[node] = 1
        return 0

    cdef int _load(self, patterns, bint reverse) except -1:
        cdef bytes raw
        for pattern in patterns:
            raw = _to_bytes(pattern)
            self._insert(raw, len(raw), reverse)
            self.pattern_count += 1
        return 0


cdef class SuffixMatcher(_EdgeTrie):
    """True when the text ends with one of the patterns (WhitelistPTR)."""

    def __init__(self, patterns=()):
        self._load(patterns, True)

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


cdef class SubstringMatcher(_EdgeTrie):
    """True when the text contains one of the patterns (WhitelistFrom/To): Aho-Corasick."""
    cdef uint32_t *fail

    def __cinit__(self):
        self.fail = NULL

    def __dealloc__(self):
        PyMem_Free(self.fail)

    def __init__(self, patterns=()):
        self._load(patterns, False)
        self._link()

    cdef int _link(self) except -1:
        cdef uint32_t n = self.node_count, v, d, max_depth = 0, f, g
        cdef uint32_t *order = <uint32_t *>PyMem_Malloc(n * sizeof(uint32_t))
        cdef uint32_t *starts
        self.fail = <uint32_t *>PyMem_Malloc(n * sizeof(uint32_t))
        if order == NULL or self.fail == NULL:
            PyMem_Free(order)
            raise MemoryError()
        for v in range(n):
            if self.depth[v] > max_depth:
                max_depth = self.depth[v]
        starts = <uint32_t *>PyMem_Malloc((max_depth + 2) * sizeof(uint32_t))
        if starts == NULL:
            PyMem_Free(order)
            raise MemoryError()
        memset(starts, 0, (max_depth + 2) * sizeof(uint32_t))
        for v in range(n):
            starts[self.depth[v] + 1] += 1
        for d in range(1, max_depth + 2):
            starts[d] += starts[d - 1]
        for v in range(n):
            order[starts[self.depth[v]]] = v
            starts[self.depth[v]] += 1
        self.fail[0] = 0
        for d in range(n):
            v = order[d]
            if self.depth[v] <= 1:
                self.fail[v] = 0
            else:
                f = self.fail[self.parent[v]]
                while True:
                    g = self._goto(f, self.edge_byte[v])
                    if g != NO_NODE:
                        self.fail[v] = g
                        break
                    if f == 0:
                        self.fail[v] = 0
                        break
                    f = self.fail[f]
            if self.terminal[self.fail[v]]:
                self.terminal[v] = 1
        PyMem_Free(starts)
        PyMem_Free(order)
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
