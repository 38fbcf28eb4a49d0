"""Plain-Python twin of pyx/_cache_c.pyx: an OrderedDict behind a lock."""

import threading
import time
from collections import OrderedDict

# expired entries are swept from the old end once per this many puts (amortized O(1))
SWEEP_EVERY = 64


class ResultCache(object):
    def __init__(self, ttl, maxsize, clock=None):
        """clock: seconds as a float, monotonic; tests step it instead of sleeping."""
        if ttl < 0 or maxsize < 0:
            raise ValueError('ttl and maxsize must not be negative')
        self._clock = clock or time.monotonic
        self.ttl = float(ttl)
        self.maxsize = int(maxsize)
        self._entries = OrderedDict()
        self._lock = threading.Lock()
        self._puts = 0
        self.evictions = 0

    def __len__(self):
        return len(self._entries)

    def get(self, key):
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= now:
                del self._entries[key]
                return None
            return entry[1]

    def put(self, key, value):
        if self.ttl == 0 or self.maxsize == 0:
            return
        now = self._clock()
        with self._lock:
            entries = self._entries
            if entries.pop(key, None) is None:      # values are (expiry, result), never None
                # room first: len() (which takes no lock) never sees more than maxsize
                while len(entries) >= self.maxsize:
                    entries.popitem(last=False)
                    self.evictions += 1
            entries[key] = (now + self.ttl, value)
            self._puts += 1
            if self._puts >= SWEEP_EVERY:
                self._puts = 0
                while entries:
                    if entries[next(iter(entries))][0] > now:
                        break
                    entries.popitem(last=False)
