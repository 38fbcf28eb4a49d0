"""Reload on SIGHUP: the config file read and checked as -t does, then swapped in whole.

What changed, what needs a restart and whether the result cache survives are
pure functions of the running and the new Config (plan()); Reloader carries a
plan out.  A connection keeps the Services it started with, so one in flight
finishes under the config it began with.
"""

import time
from typing import NamedTuple, Tuple

# which fields wait for a restart, rebuild the cache, reset the resolver or are lists:
# from the key table (smf_spf.config.KEY_TABLE)
from smf_spf.config import (CACHE_DEPENDS_ON, FIELD_KEYS, LIST_FIELDS, RESOLVER_DEPENDS_ON,
                            RESTART_ONLY, fetches_exp)
from smf_spf.logsetup import NOTICE, STANDARD_STREAMS

# at most this many added or removed list entries are named in the log
NAMED_ENTRIES = 5


class Plan(NamedTuple):
    config: object                 # the Config to run with: the new one, restart-only kept
    changes: Tuple[str, ...]       # one log line per changed key
    kept: Tuple[str, ...]          # fields whose new value waits for a restart
    rebuild_cache: bool
    reopen_log_to: bool            # open LogTo again (logrotate, or a new path)
    reset_resolver: bool           # Nameservers or SPFTimeout changed


def shown(value):
    """A Config value as a reload logs it and -t lists it."""
    if value is None:
        return '(none)'
    if isinstance(value, bool):
        return 'on' if value else 'off'
    if isinstance(value, tuple) and not hasattr(value, '_fields'):
        return ' '.join(value) if value else '(none)'
    if hasattr(value, 'text'):     # SocketSpec, ListenSpec, ReasonTemplate
        return value.text
    return str(value)


def _list_change(key, old, new):
    added = [entry for entry in new if entry not in old]
    removed = [entry for entry in old if entry not in new]
    line = '%s %d -> %d entries' % (key, len(old), len(new))
    details = []
    for label, entries in (('added', added), ('removed', removed)):
        if entries:
            more = len(entries) - NAMED_ENTRIES
            details.append('%s %s%s' % (label, ', '.join(entries[:NAMED_ENTRIES]),
                                        ' and %d more' % more if more > 0 else ''))
    if details:
        line += ' (%s)' % '; '.join(details)
    elif old != new:
        line += ' (reordered)'
    return line


def changed_fields(old, new):
    """The Config fields whose values differ, in Config order (lists by their entries)."""
    changed = []
    for field in old._fields:
        if field == 'list_entries':
            continue
        if field in LIST_FIELDS:
            key = FIELD_KEYS[field]
            if old.list_entries.get(key, ()) != new.list_entries.get(key, ()):
                changed.append(field)
        elif getattr(old, field) != getattr(new, field):
            changed.append(field)
    return changed


def _needs_restart(field, old, new):
    if field in RESTART_ONLY:
        return True
    if field == 'syslog':          # a facility can change; syslog on or off cannot
        return 'none' in (old.syslog, new.syslog)
    if field == 'log_to':          # a file can change; LogTo on or off, or stdout, cannot
        return any(value is None or value in STANDARD_STREAMS
                   for value in (old.log_to, new.log_to))
    return False


def plan(old, new):
    """How to go from the running Config to a new, valid one."""
    changes, kept = [], []
    for field in changed_fields(old, new):
        key = FIELD_KEYS[field]
        if field in LIST_FIELDS:
            changes.append(_list_change(key, old.list_entries.get(key, ()),
                                        new.list_entries.get(key, ())))
            continue
        was, now = shown(getattr(old, field)), shown(getattr(new, field))
        if _needs_restart(field, old, new):
            kept.append(field)
            changes.append('%s %s -> %s needs a restart; keeping %s' % (key, was, now, was))
        else:
            changes.append('%s %s -> %s' % (key, was, now))
    config = new._replace(**{field: getattr(old, field) for field in kept})
    rebuild = (any(getattr(old, f) != getattr(config, f) for f in CACHE_DEPENDS_ON)
               or fetches_exp(old) != fetches_exp(config))
    reopen = config.log_to is not None and config.log_to not in STANDARD_STREAMS
    resolver = any(getattr(old, f) != getattr(config, f) for f in RESOLVER_DEPENDS_ON)
    return Plan(config, tuple(changes), tuple(kept), rebuild, reopen, resolver)


class Live(object):
    """The Services new connections get; replaced whole by a reload."""

    def __init__(self, services, path):
        self.services = services
        self.path = path
        self.loaded_at = time.time()
        self.reloads_ok = 0
        self.reloads_failed = 0

    def status(self, in_flight):
        """One log line for USR1/USR2."""
        cache = self.services.spf.cache
        return ('status: config %s loaded %s (reloads: %d ok, %d failed), %s connections '
                'in flight, cache %s' % (
                    self.path, time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(self.loaded_at)),
                    self.reloads_ok, self.reloads_failed, in_flight,
                    'off' if cache is None else '%d/%d entries, %d evicted'
                    % (len(cache), cache.maxsize, cache.evictions)))


class Reloader(object):
    """Carries out a reload.  check(path) is -t's check: (LoadResult, problem lines,
    failed) or an exception when the file cannot be read (LogTo is opened here);
    build_spf(config, cache) gives the (cached) SPF checker; new_cache(config) a
    result cache or None; use_resolver(config) points DNS at the new Nameservers;
    open_log_to(path) the new LogTo stream; switch_log_to(stream) and
    switch_syslog(facility) change the running log handlers."""

    def __init__(self, live, check, build_spf, new_cache, use_resolver, open_log_to,
                 switch_log_to, switch_syslog):
        self.live = live
        self.check = check
        self.build_spf = build_spf
        self.new_cache = new_cache
        self.use_resolver = use_resolver
        self.open_log_to = open_log_to
        self.switch_log_to = switch_log_to
        self.switch_syslog = switch_syslog

    def reload(self):
        """True when the new config is in use; on any problem the running one stays."""
        live = self.live
        log, metrics = live.services.log, live.services.metrics
        log.log(NOTICE, 'reloading %s', live.path)
        try:
            loaded, problems, failed = self.check(live.path)
        except Exception as exc:
            problems, failed = ['%s: cannot reload: %s' % (live.path, exc)], True
        if failed:
            for line in problems:
                log.error('[CONFIG] %s', line)
            return self._failed(log, metrics, 'the config has errors')
        old = live.services.config
        change = plan(old, loaded.config)
        stream = None
        if change.reopen_log_to:
            try:
                stream = self.open_log_to(change.config.log_to)
            except (IOError, OSError) as exc:
                if change.config.log_to != old.log_to:
                    log.error('[CONFIG] %s: LogTo %s cannot be opened: %s',
                              live.path, change.config.log_to, exc)
                    return self._failed(log, metrics, 'LogTo cannot be opened')
                # logrotate's new file must belong to User; until then the open one serves
                log.error('[CONFIG] %s: LogTo %s cannot be reopened: %s; still writing to '
                          'the file opened before', live.path, old.log_to, exc)
        for line in problems:
            log.warning('[CONFIG] %s', line)
        old_spf = live.services.spf
        if change.reset_resolver:
            self.use_resolver(change.config)
        cache = self.new_cache(change.config) if change.rebuild_cache else old_spf.cache
        live.services = live.services.replaced(change.config,
                                               self.build_spf(change.config, cache))
        if change.rebuild_cache:
            metrics.cache_replaced(old_spf.cache)
        if stream is not None:
            self.switch_log_to(stream)
        if old.syslog != change.config.syslog:
            self.switch_syslog(change.config.syslog)
        live.loaded_at = time.time()
        live.reloads_ok += 1
        metrics.reloaded(True)
        log.log(NOTICE, 'reloaded %s: %s', live.path,
                '%d change%s' % (len(change.changes), '' if len(change.changes) == 1 else 's')
                if change.changes else 'no changes')
        for line in change.changes:
            log.log(NOTICE, 'reload: %s', line)
        if change.rebuild_cache:
            log.log(NOTICE, 'reload: SPF result cache %s', 'emptied and rebuilt'
                    if cache is not None else 'off')
        return True

    def _failed(self, log, metrics, why):
        self.live.reloads_failed += 1
        metrics.reloaded(False)
        log.error('[CONFIG] reload of %s failed (%s): keeping the running config',
                  self.live.path, why)
        return False
