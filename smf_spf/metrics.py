"""What the milter decided, as Prometheus metrics (MetricsListen).

The adapter reports outcomes to a metrics object; with MetricsListen off that
is NO_METRICS, whose methods do nothing, and prometheus_client is never
imported.  Policy knows nothing of this module.
"""

import socket

from smf_spf import __version__, EXTENSIONS
from smf_spf import outcomes

SPF_RESULTS = outcomes.RESULTS
# RFC 7208's identities: MAIL FROM, and HELO (an empty sender's, or CheckHelo's)
IDENTITIES = ('mailfrom', 'helo')
ACCEPT, REFUSE, TEMPFAIL, TAG, QUARANTINE, SKIPPED = (
    'accept', 'refuse', 'tempfail', 'tag', 'quarantine', 'skipped')
# DryRun: a refusal let through, counted as what it would have been
WOULD_REFUSE, WOULD_TEMPFAIL = 'would_refuse', 'would_tempfail'
# what a skip can be due to (the `list` label): whitelists, and the other skip rules
SKIP_REASONS = ('WhitelistIP', 'WhitelistPTR', 'WhitelistFrom', 'WhitelistTo',
                'SkipAuth', 'SkipNDR', 'TLS', 'NoClientIP')
# SPF check durations: DNS answers take milliseconds to the SPFTimeout (at most 300 s)
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0, 20.0, 30.0)


def refusal_action(verdict):
    """(rule, action) a refusal counts as (made, or with DryRun would-be), else None."""
    counted = verdict_action(verdict)
    if verdict.rule is None or counted is None or counted[0] == SKIPPED:
        return None
    return verdict.rule, counted[0]


def verdict_action(verdict):
    """(action, list) a verdict counts as, or None for one that decides nothing yet."""
    if verdict.dry_run:
        return 'would_' + verdict.dry_run, ''
    if verdict.action == outcomes.REJECT:
        return REFUSE, ''
    if verdict.action == outcomes.TEMPFAIL:
        return TEMPFAIL, ''
    if verdict.skipped_by:
        return SKIPPED, verdict.skipped_by
    return None


def delivery_action(edits):
    """What end of message did to a message the milter let through."""
    operations = set((edit.operation, edit.name) for edit in edits)
    if (outcomes.ADD_RCPT, None) in operations:
        return QUARANTINE
    if (outcomes.CHG_HEADER, 'Subject') in operations or \
            (outcomes.ADD_HEADER, 'Subject') in operations:
        return TAG
    return ACCEPT


class NoMetrics(object):
    """MetricsListen off: every report is a no-op."""

    def connection_opened(self):
        pass

    def connection_closed(self):
        pass

    def decided(self, verdict):
        pass

    def delivered(self, edits):
        pass

    def spf_checked(self, result, identity, cached, seconds, cache_in_use):
        pass

    def reloaded(self, ok):
        pass

    def cache_replaced(self, old_cache):
        pass


NO_METRICS = NoMetrics()


def import_client():
    """Load prometheus_client and what it serves with (before the switch to User)."""
    import prometheus_client
    import prometheus_client.core
    import prometheus_client.exposition
    import wsgiref.simple_server
    import socketserver
    return prometheus_client


class PrometheusMetrics(NoMetrics):
    """The smf_spf_* metrics in their own registry; current_cache() gives the result
    cache in use (or None) when /metrics is scraped."""

    def __init__(self, current_cache):
        client = import_client()
        self.registry = registry = client.CollectorRegistry(auto_describe=True)
        self.current_cache = current_cache
        self._retired_evictions = 0
        info = client.Gauge('smf_spf_build_info', 'Version and whether the compiled '
                            'extensions are in use; always 1',
                            ['version', 'extensions'], registry=registry)
        info.labels(__version__, 'on' if EXTENSIONS else 'off').set(1)
        self.results = client.Counter('smf_spf_results', 'SPF results, fresh and cached, '
                                      'by identity (mailfrom; helo: an empty sender\'s, or '
                                      'CheckHelo\'s beside MAIL FROM)',
                                      ['result', 'identity'], registry=registry)
        # children bound once: labels() takes a lock and hashes its values on every call
        self._result_children = dict(((result, identity), self.results.labels(result, identity))
                                     for result in SPF_RESULTS for identity in IDENTITIES)
        self.actions = client.Counter(
            'smf_spf_actions', 'What the milter did: accept, refuse, tempfail, tag, '
            'quarantine, or skipped (list names the whitelist or skip rule); with DryRun '
            'would_refuse and would_tempfail',
            ['action', 'list'], registry=registry)
        self._action_children = dict(
            [((action, ''), self.actions.labels(action, ''))
             for action in (ACCEPT, REFUSE, TEMPFAIL, TAG, QUARANTINE, WOULD_REFUSE,
                            WOULD_TEMPFAIL)]
            + [((SKIPPED, reason), self.actions.labels(SKIPPED, reason))
               for reason in SKIP_REASONS])
        self.refusals = client.Counter(
            'smf_spf_refusals', 'Refusals by the rule that made them (RefuseFail, '
            'RefuseNotPass, ...); action refuse or tempfail, with DryRun would_refuse and '
            'would_tempfail', ['rule', 'action'], registry=registry)
        self.cache_hits = client.Counter('smf_spf_cache_hits', 'SPF results from the cache',
                                         registry=registry)
        self.cache_misses = client.Counter('smf_spf_cache_misses', 'SPF results not in the '
                                           'cache (checked through DNS)', registry=registry)
        self.duration = client.Histogram('smf_spf_check_duration_seconds',
                                         'Time of SPF checks through DNS (not cache hits)',
                                         buckets=DURATION_BUCKETS, registry=registry)
        self.dns_errors = client.Counter('smf_spf_dns_errors', 'SPF checks that ended in '
                                         'temperror (DNS failure or timeout)', registry=registry)
        self.in_flight = client.Gauge('smf_spf_connections_in_flight',
                                      'SMTP connections the MTA has open with the milter',
                                      registry=registry)
        self.reloads = client.Counter('smf_spf_config_reloads', 'Config reloads (SIGHUP)',
                                      ['outcome'], registry=registry)
        self.reloads.labels('ok')
        self.reloads.labels('failed')
        self.last_reload = client.Gauge('smf_spf_config_last_reload_success_timestamp_seconds',
                                        'When the config in use was loaded (Unix time)',
                                        registry=registry)
        self.last_reload.set_to_current_time()
        registry.register(_CacheCollector(self))

    def connection_opened(self):
        self.in_flight.inc()

    def connection_closed(self):
        self.in_flight.dec()

    def decided(self, verdict):
        counted = verdict_action(verdict)
        if counted is not None:
            self._action(counted).inc()
            refusal = refusal_action(verdict)
            if refusal is not None:
                self.refusals.labels(*refusal).inc()

    def delivered(self, edits):
        self._action((delivery_action(edits), '')).inc()

    def _action(self, labels):
        child = self._action_children.get(labels)
        return child if child is not None else self.actions.labels(*labels)

    def spf_checked(self, result, identity, cached, seconds, cache_in_use):
        """One SPF result; `seconds` None: none was asked (no time was left for it)."""
        child = self._result_children.get((result, identity))
        (child if child is not None else self.results.labels(result, identity)).inc()
        if seconds is None:
            return
        if cached:
            self.cache_hits.inc()
            return
        if cache_in_use:
            self.cache_misses.inc()
        self.duration.observe(seconds)
        if result == outcomes.TEMPERROR:
            self.dns_errors.inc()

    def reloaded(self, ok):
        self.reloads.labels('ok' if ok else 'failed').inc()
        if ok:
            self.last_reload.set_to_current_time()

    def cache_replaced(self, old_cache):
        if old_cache is not None:
            self._retired_evictions += old_cache.evictions

    def evictions(self):
        cache = self.current_cache()
        return self._retired_evictions + (cache.evictions if cache is not None else 0)


class _CacheCollector(object):
    """Cache size and evictions, read from the cache in use at scrape time."""

    def __init__(self, metrics):
        self.metrics = metrics

    def describe(self):
        return self._families(False)

    def collect(self):
        return self._families(True)

    def _families(self, with_values):
        """The families, with their values read now (or without, to describe them)."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
        entries = GaugeMetricFamily('smf_spf_cache_entries', 'SPF results in the cache')
        capacity = GaugeMetricFamily('smf_spf_cache_capacity', 'CacheSize in use (0: no cache)')
        evictions = CounterMetricFamily('smf_spf_cache_evictions',
                                        'Entries dropped from a full cache')
        if with_values:
            cache = self.metrics.current_cache()
            entries.add_metric([], len(cache) if cache is not None else 0)
            capacity.add_metric([], cache.maxsize if cache is not None else 0)
            evictions.add_metric([], self.metrics.evictions())
        return [entries, capacity, evictions]


class MetricsServer(object):
    """/metrics over HTTP: bound at once (before the switch to User), served from a
    thread started by start() (after daemonizing)."""

    def __init__(self, spec, registry):
        client = import_client()
        from socketserver import ThreadingMixIn
        from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

        class Quiet(WSGIRequestHandler):
            def log_message(self, *args):
                pass

        class Server(ThreadingMixIn, WSGIServer):
            daemon_threads = True
            address_family = socket.AF_INET6 if ':' in spec.host else socket.AF_INET

        self.server = make_server(spec.host, spec.port, client.make_wsgi_app(registry),
                                  Server, handler_class=Quiet)

    def start(self):
        import threading
        thread = threading.Thread(target=self.server.serve_forever, name='metrics')
        thread.daemon = True
        thread.start()
