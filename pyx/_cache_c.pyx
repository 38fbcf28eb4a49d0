# cython: language_level=3
"""Compiled SPF result cache: insertion-ordered, TTL on the monotonic clock, bounded.

The TTL is the same for every entry, so insertion order is expiry order: the
oldest entry is always the first to expire and the first to evict.

Memory is what bounds CacheSize, so an entry is one small object (key, value,
expiry; not tracked by the garbage collector) in a plain dict, plus one slot in
a list that keeps insertion order.  A re-put or removed entry is not searched
for in that list: it is marked dead (its key set to None) and skipped when the
oldest end is reached; the list's dead front is cut off once it is half of it.
"""

cimport cython
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
# the order list's dead front is cut off once it is this long and half of the list
cdef Py_ssize_t COMPACT_AT = 1024


@cython.no_gc
@cython.final
cdef class _Entry:
    cdef object key          # None once the entry is dead (re-put, expired or evicted)
    cdef object value
    cdef double expires


cdef class ResultCache:
    cdef dict _entries
    cdef list _order
    cdef Py_ssize_t _head
    cdef int _puts
    cdef readonly double ttl
    cdef readonly Py_ssize_t maxsize
    cdef readonly unsigned long long evictions
    cdef PyThread_type_lock _lock
    cdef object _clock       # None: CLOCK_MONOTONIC, read in C

    def __cinit__(self):
        self._lock = PyThread_allocate_lock()
        if self._lock == NULL:
            raise MemoryError()

    def __dealloc__(self):
        if self._lock != NULL:
            PyThread_free_lock(self._lock)

    def __init__(self, ttl, maxsize, clock=None):
        """clock: seconds as a float, monotonic (default: CLOCK_MONOTONIC, as
        time.monotonic reads it); tests step it instead of sleeping."""
        if ttl < 0 or maxsize < 0:
            raise ValueError('ttl and maxsize must not be negative')
        self._clock = clock
        self.ttl = ttl
        self.maxsize = maxsize
        self._entries = {}
        self._order = []
        self._head = 0
        self._puts = 0
        self.evictions = 0

    def __len__(self):
        return len(self._entries)

    cdef inline double _time(self) except? -1.0:
        return _now() if self._clock is None else self._clock()

    cdef inline void _lock_acquire(self):
        # uncontended: take it without releasing the GIL; else wait without the GIL
        if not PyThread_acquire_lock(self._lock, NOWAIT_LOCK):
            with nogil:
                PyThread_acquire_lock(self._lock, WAIT_LOCK)

    def get(self, key):
        cdef double now = self._time()
        cdef _Entry entry
        self._lock_acquire()
        try:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.expires <= now:
                del self._entries[key]
                entry.key = None
                return None
            return entry.value
        finally:
            PyThread_release_lock(self._lock)

    cdef _Entry _oldest(self):
        """The oldest live entry, dropping dead ones on the way; None when empty."""
        cdef _Entry entry
        cdef list order = self._order
        while self._head < len(order):
            entry = <_Entry>order[self._head]
            if entry.key is not None:
                return entry
            order[self._head] = None
            self._head += 1
        return None

    cdef void _drop_oldest(self, _Entry entry):
        del self._entries[entry.key]
        entry.key = None
        self._order[self._head] = None
        self._head += 1

    cdef void _compact(self):
        if self._head >= COMPACT_AT and self._head * 2 >= len(self._order):
            del self._order[:self._head]
            self._head = 0

    def put(self, key, value):
        if self.ttl == 0 or self.maxsize == 0:
            return
        cdef double now = self._time()
        cdef _Entry entry = _Entry.__new__(_Entry)
        cdef _Entry old
        entry.key = key
        entry.value = value
        entry.expires = now + self.ttl
        self._lock_acquire()
        try:
            old = self._entries.get(key)
            if old is not None:
                old.key = None
            else:
                # room first, so the size never exceeds maxsize, not even for a moment
                while len(self._entries) >= self.maxsize:
                    self._drop_oldest(self._oldest())
                    self.evictions += 1
            self._entries[key] = entry
            self._order.append(entry)
            self._puts += 1
            if self._puts >= SWEEP_EVERY:
                self._puts = 0
                old = self._oldest()
                while old is not None and old.expires <= now:
                    self._drop_oldest(old)
                    old = self._oldest()
            self._compact()
        finally:
            PyThread_release_lock(self._lock)
