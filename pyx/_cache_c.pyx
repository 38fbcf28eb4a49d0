# cython: language_level=3
"""Compiled SPF result cache: insertion-ordered, TTL on the monotonic clock, bounded.

The TTL is the same for every entry, so insertion order is expiry order: the
oldest entry is always the first to expire and the first to evict.
"""

from collections import OrderedDict
from cpython.pythread cimport (PyThread_type_lock, PyThread_allocate_lock,
                               PyThread_free_lock, PyThread_acquire_lock,
                               PyThread_release_lock, WAIT_LOCK, NOWAIT_LOCK)
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC


cdef inline double _now() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9


# expired entries are swept from the old end once per this many puts (amortized O(1));
# get() never returns an expired entry and maxsize bounds the size at every put
cdef int SWEEP_EVERY = 64


cdef class ResultCache:
    cdef object _entries
    cdef object _popitem
    cdef object _move_to_end
    cdef int _puts
    cdef readonly double ttl
    cdef readonly Py_ssize_t maxsize
    # entries dropped because the cache was full (not the expired ones)
    cdef readonly unsigned long long evictions
    cdef PyThread_type_lock _lock

    def __cinit__(self):
        self._lock = PyThread_allocate_lock()
        if self._lock == NULL:
            raise MemoryError()

    def __dealloc__(self):
        if self._lock != NULL:
            PyThread_free_lock(self._lock)

    def __init__(self, ttl, maxsize):
        if ttl < 0 or maxsize < 0:
            raise ValueError('ttl and maxsize must not be negative')
        self.ttl = ttl
        self.maxsize = maxsize
        self._entries = OrderedDict()
        self._popitem = self._entries.popitem
        self._move_to_end = self._entries.move_to_end
        self._puts = 0
        self.evictions = 0

    def __len__(self):
        return len(self._entries)

    cdef inline void _lock_acquire(self):
        # uncontended: take it without releasing the GIL; else wait without the GIL
        if not PyThread_acquire_lock(self._lock, NOWAIT_LOCK):
            with nogil:
                PyThread_acquire_lock(self._lock, WAIT_LOCK)

    def get(self, key):
        cdef double now = _now()
        cdef tuple entry
        cdef object dropped = None
        self._lock_acquire()
        try:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if <double>entry[0] <= now:
                dropped = self._entries.pop(key)
                return None
            return entry[1]
        finally:
            PyThread_release_lock(self._lock)

    def put(self, key, value):
        if self.ttl == 0 or self.maxsize == 0:
            return
        cdef double now = _now()
        cdef object dropped = None
        cdef object entries = self._entries
        self._lock_acquire()
        try:
            if key in entries:
                dropped = entries[key]
                self._move_to_end(key)
            entries[key] = (now + self.ttl, value)
            while len(entries) > self.maxsize:
                dropped = self._popitem(False)
                self.evictions += 1
            self._puts += 1
            if self._puts >= SWEEP_EVERY:
                self._puts = 0
                while entries:
                    if <double>(entries[next(iter(entries))][0]) > now:
                        break
                    dropped = self._popitem(False)
        finally:
            PyThread_release_lock(self._lock)
