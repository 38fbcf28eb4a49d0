# cython: language_level=3, boundscheck=False, wraparound=False
"""Compiled CIDR set: merged, sorted address ranges per family, binary search."""

from libc.stdlib cimport qsort
from libc.string cimport memcpy
from cpython.mem cimport PyMem_Malloc, PyMem_Realloc, PyMem_Free

cdef extern from *:
    """
    typedef unsigned __int128 smf_u128;
    """
    ctypedef unsigned long long smf_u128

cdef extern from "arpa/inet.h":
    int inet_pton(int af, const char *src, void *dst) nogil

cdef extern from "sys/socket.h":
    int AF_INET
    int AF_INET6

ctypedef struct Range:
    smf_u128 start
    smf_u128 end


cdef smf_u128 ALL_ONES = ~(<smf_u128>0)
cdef unsigned int TOP4 = 0xffffffffU


cdef int _cmp(const void *a, const void *b) noexcept nogil:
    cdef smf_u128 x = (<const Range *>a).start
    cdef smf_u128 y = (<const Range *>b).start
    return (x > y) - (x < y)


cdef inline unsigned int _load4(const unsigned char *b) noexcept nogil:
    return (<unsigned int>b[0] << 24) | (<unsigned int>b[1] << 16) | (<unsigned int>b[2] << 8) | b[3]


cdef inline smf_u128 _load6(const unsigned char *b) noexcept nogil:
    cdef smf_u128 v = 0
    cdef int i
    for i in range(16):
        v = (v << 8) | b[i]
    return v


cdef inline bint _is_v4_mapped(const unsigned char *b) noexcept nogil:
    cdef int i
    for i in range(10):
        if b[i] != 0:
            return False
    return b[10] == 0xff and b[11] == 0xff


cdef int _parse_prefix(bytes text, int maxlen) except -2:
    """Prefix length from ASCII digits; -1 when not a valid length."""
    if len(text) == 0 or len(text) > 3:
        return -1
    cdef int value = 0
    cdef unsigned char c
    for c in text:
        if c < 48 or c > 57:
            return -1
        value = value * 10 + (c - 48)
    if value > maxlen:
        return -1
    return value


cdef Py_ssize_t _merge(Range *r, Py_ssize_t n) noexcept nogil:
    """Sort ranges and merge overlapping or adjacent ones in place; the new count."""
    if n == 0:
        return 0
    qsort(r, n, sizeof(Range), _cmp)
    cdef Py_ssize_t out = 0, i
    for i in range(1, n):
        # end + 1 cannot wrap unless end is the very top address
        if r[i].start <= r[out].end or (r[out].end != ALL_ONES and r[i].start == r[out].end + 1):
            if r[i].end > r[out].end:
                r[out].end = r[i].end
        else:
            out += 1
            r[out] = r[i]
    return out + 1


cdef bint _covers(const smf_u128 *starts, const smf_u128 *ends, Py_ssize_t n,
                  smf_u128 x) noexcept nogil:
    """Binary search in merged ranges: the last start <= x, then its end.  The starts
    are an array of their own so that the search touches as little memory as it can."""
    cdef Py_ssize_t lo = 0, hi = n, mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if starts[mid] <= x:
            lo = mid + 1
        else:
            hi = mid
    return lo > 0 and x <= ends[lo - 1]


cdef int _split(Range *r, Py_ssize_t n, smf_u128 **starts, smf_u128 **ends) except -1:
    cdef Py_ssize_t i, size = n if n else 1
    starts[0] = <smf_u128 *>PyMem_Malloc(size * sizeof(smf_u128))
    ends[0] = <smf_u128 *>PyMem_Malloc(size * sizeof(smf_u128))
    if starts[0] == NULL or ends[0] == NULL:
        raise MemoryError()
    for i in range(n):
        starts[0][i] = r[i].start
        ends[0][i] = r[i].end
    return 0


cdef class CidrSet:
    """IPv4 and IPv6 ranges (IPv4 zero-extended), each family merged and sorted,
    kept as two arrays: range starts and range ends."""
    cdef smf_u128 *starts4
    cdef smf_u128 *ends4
    cdef smf_u128 *starts6
    cdef smf_u128 *ends6
    cdef Py_ssize_t n4, n6
    cdef Py_ssize_t count

    def __cinit__(self):
        self.starts4 = self.ends4 = self.starts6 = self.ends6 = NULL
        self.n4 = self.n6 = self.count = 0

    def __dealloc__(self):
        PyMem_Free(self.starts4)
        PyMem_Free(self.ends4)
        PyMem_Free(self.starts6)
        PyMem_Free(self.ends6)

    def __init__(self, entries=(), on_error=None):
        cdef list items = list(entries)
        cdef Py_ssize_t cap = len(items) if items else 1
        cdef Range *r4 = <Range *>PyMem_Malloc(cap * sizeof(Range))
        cdef Range *r6 = <Range *>PyMem_Malloc(cap * sizeof(Range))
        cdef Py_ssize_t n4 = 0, n6 = 0, index
        cdef unsigned char buf[16]
        cdef int plen
        cdef smf_u128 address, mask
        cdef bytes raw, addr_part, len_part
        if r4 == NULL or r6 == NULL:
            PyMem_Free(r4)
            PyMem_Free(r6)
            raise MemoryError()
        try:
            for index, entry in enumerate(items):
                reason = None
                try:
                    raw = entry.strip().encode('ascii')
                except (UnicodeError, AttributeError):
                    raw = None
                    reason = 'not an ASCII address'
                if raw is not None and b'\0' in raw:
                    # inet_pton would stop at the NUL and read only what comes before it
                    raw = None
                    reason = 'NUL in the address'
                if raw is not None:
                    addr_part, slash, len_part = raw.partition(b'/')
                    if inet_pton(AF_INET, addr_part, buf) == 1:
                        plen = _parse_prefix(len_part, 32) if slash else 32
                        if plen < 0:
                            reason = 'bad IPv4 prefix length'
                        else:
                            address = _load4(buf)
                            mask = TOP4 & (0 if plen == 0 else TOP4 << (32 - plen))
                            r4[n4].start = address & mask
                            r4[n4].end = (address & mask) | (TOP4 & ~mask)
                            n4 += 1
                    elif inet_pton(AF_INET6, addr_part, buf) == 1:
                        plen = _parse_prefix(len_part, 128) if slash else 128
                        if plen < 0:
                            reason = 'bad IPv6 prefix length'
                        else:
                            address = _load6(buf)
                            mask = 0 if plen == 0 else ALL_ONES << (128 - plen)
                            r6[n6].start = address & mask
                            r6[n6].end = (address & mask) | ~mask
                            n6 += 1
                    else:
                        reason = 'not an IPv4 or IPv6 address'
                if reason is not None:
                    message = '%r: %s' % (entry, reason)
                    if on_error is None:
                        raise ValueError(message)
                    on_error(index, entry, message)
            self.count = n4 + n6
            self.n4 = _merge(r4, n4)
            self.n6 = _merge(r6, n6)
            _split(r4, self.n4, &self.starts4, &self.ends4)
            _split(r6, self.n6, &self.starts6, &self.ends6)
        finally:
            PyMem_Free(r4)
            PyMem_Free(r6)

    def __len__(self):
        return self.count

    def __contains__(self, address):
        cdef unsigned char buf[16]
        cdef bytes raw
        if not isinstance(address, str):
            return False
        try:
            raw = (<str>address).encode('ascii')
        except UnicodeError:
            return False
        if b'\0' in raw:
            return False
        if inet_pton(AF_INET, raw, buf) == 1:
            return _covers(self.starts4, self.ends4, self.n4, _load4(buf))
        if inet_pton(AF_INET6, raw, buf) == 1:
            if _is_v4_mapped(buf):
                return _covers(self.starts4, self.ends4, self.n4, _load4(buf + 12))
            return _covers(self.starts6, self.ends6, self.n6, _load6(buf))
        return False
