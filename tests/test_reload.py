"""Reload: what changed, what waits for a restart, whether the cache survives (pure),
and the Reloader swapping Services whole (with stub checks and builders)."""

import logging

import Milter
import pytest

from smf_spf import config as configuration
from smf_spf.metrics import NoMetrics
from smf_spf.milter import Services, SpfMilter
from smf_spf.reload import Live, Reloader, changed_fields, plan
from miltertools import ListHandler


def conf(*lines):
    return configuration.parse_lines(list(lines), 'smf-spf.conf').config


def test_identical_configs_have_no_changes():
    old = conf('WhitelistIP 10.0.0.0/8', 'RejectReason no %s', 'Nameservers 127.0.0.1')
    new = conf('WhitelistIP 10.0.0.0/8', 'RejectReason no %s', 'Nameservers 127.0.0.1')
    assert changed_fields(old, new) == []
    step = plan(old, new)
    assert step.changes == () and step.kept == () and not step.rebuild_cache
    assert step.config == new


def test_list_changes_name_counts_and_entries():
    old = conf(*['WhitelistIP 10.0.%d.0/24' % i for i in range(12)])
    new = conf(*['WhitelistIP 10.0.%d.0/24' % i for i in range(13)])
    assert plan(old, new).changes == ('WhitelistIP 12 -> 13 entries (added 10.0.12.0/24)',)


def test_list_changes_name_at_most_five_entries_each_way():
    old = conf('WhitelistFrom a.test', 'WhitelistFrom b.test')
    new = conf(*['WhitelistFrom n%d.test' % i for i in range(7)])
    assert plan(old, new).changes == (
        'WhitelistFrom 2 -> 7 entries (added n0.test, n1.test, n2.test, n3.test, n4.test '
        'and 2 more; removed a.test, b.test)',)


def test_authserv_id_aliases_change_as_words_not_entries():
    # KEY_TABLE marks it WORDS, so smf-spf.conf(5) does not promise entries for it
    old = conf('AuthservIDAlias a.test b.test')
    new = conf('AuthservIDAlias a.test', 'AuthservIDAlias c.test')
    assert plan(old, new).changes == ('AuthservIDAlias a.test b.test -> a.test c.test',)


def test_a_list_change_in_order_only_is_named():
    old = conf('WhitelistPTR .a.test', 'WhitelistPTR .b.test')
    new = conf('WhitelistPTR .b.test', 'WhitelistPTR .a.test')
    assert plan(old, new).changes == ('WhitelistPTR 2 -> 2 entries (reordered)',)


def test_rejected_list_lines_do_not_count_as_entries():
    old = conf('WhitelistIP 10.0.0.0/8')
    new = conf('WhitelistIP 10.0.0.0/8', 'WhitelistIP 300.1.1.1', 'ClientIPNAT nonsense')
    assert changed_fields(old, new) == []


def test_scalar_changes_show_both_values():
    old = conf()
    new = conf('RefuseFail off', 'TTL 10m', 'Nameservers 127.0.0.1 ::1', 'Tag [SPF]')
    assert plan(old, new).changes == ('RefuseFail on -> off', 'Tag [SPF:fail] -> [SPF]',
                                      'TTL 3600 -> 600', 'Nameservers (none) -> 127.0.0.1 ::1')


def test_restart_only_keys_keep_their_running_value():
    old = conf('Socket unix:/run/a.sock', 'User smfs', 'MetricsListen 127.0.0.1:9101')
    new = conf('Socket inet:8890@127.0.0.1', 'User nobody', 'MetricsListen 127.0.0.1:9102',
               'Daemonize off', 'WhitelistIP 10.0.0.0/8')
    step = plan(old, new)
    assert step.kept == ('user', 'socket', 'daemonize', 'metrics_listen')
    assert step.config.socket == old.socket and step.config.user == 'smfs'
    assert step.config.daemonize and step.config.metrics_listen == old.metrics_listen
    assert len(step.config.whitelist_ip) == 1             # the rest is taken
    assert ('Socket unix:/run/a.sock -> inet:8890@127.0.0.1 needs a restart; keeping '
            'unix:/run/a.sock') in step.changes


def test_syslog_facility_changes_but_syslog_on_or_off_waits():
    assert plan(conf('Syslog mail'), conf('Syslog local3')).kept == ()
    assert plan(conf('Syslog mail'), conf('Syslog none')).kept == ('syslog',)
    assert plan(conf('Syslog none'), conf('Syslog daemon')).kept == ('syslog',)


def test_log_to_file_is_reopened_and_may_move_but_not_appear_or_vanish():
    step = plan(conf('LogTo /var/log/a.log'), conf('LogTo /var/log/b.log'))
    assert step.kept == () and step.reopen_log_to
    assert plan(conf('LogTo /var/log/a.log'), conf('LogTo /var/log/a.log')).reopen_log_to
    assert plan(conf(), conf('LogTo /var/log/a.log')).kept == ('log_to',)
    assert plan(conf('LogTo /var/log/a.log'), conf()).kept == ('log_to',)
    step = plan(conf('LogTo /dev/stdout'), conf('LogTo /dev/stdout'))
    assert not step.reopen_log_to                          # never close stdout


@pytest.mark.parametrize('line', ['TTL 60', 'CacheSize 10', 'Nameservers 127.0.0.1',
                                  'SPFVoidLimit 3'])
def test_what_cached_results_depend_on_rebuilds_the_cache(line):
    assert plan(conf(), conf(line)).rebuild_cache


@pytest.mark.parametrize('line', ['RefuseFail off', 'WhitelistIP 10.0.0.0/8', 'SoftFail on',
                                  'ClientIPNAT 10.0.0.1:192.0.2.1', 'SPFTimeout 5',
                                  'FixedClientIP 192.0.2.1', 'Tag [x]', 'SPFBestGuess off'])
def test_policy_changes_keep_the_cache(line):
    assert not plan(conf(), conf(line)).rebuild_cache


# -- the Reloader ---------------------------------------------------------------------

class FakeCache(object):
    def __init__(self, config):
        self.config = config
        self.evictions = 0


class Recorder(NoMetrics):
    def __init__(self):
        self.reloads = []
        self.replaced = []

    def reloaded(self, ok):
        self.reloads.append(ok)

    def cache_replaced(self, old_cache):
        self.replaced.append(old_cache)


class Spf(object):
    def __init__(self, config, cache):
        self.config = config
        self.cache = cache


def reloader_for(old, new_lines, problems=(), failed=False, raises=None):
    handler = ListHandler()
    log = logging.getLogger('smf-spf-reload-test-%d' % id(handler))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    metrics = Recorder()
    live = Live(Services(old, Spf(old, FakeCache(old)), log, metrics), 'smf-spf.conf')
    calls = []

    def check(path):
        if raises is not None:
            raise raises
        return (configuration.parse_lines(list(new_lines), path), list(problems), failed)

    reloader = Reloader(live, check, Spf, FakeCache,
                        use_resolver=lambda now: calls.append(('resolver', now)),
                        open_log_to=lambda path: calls.append(('open', path)) or 'stream',
                        switch_log_to=lambda stream: calls.append(('switch', stream)),
                        switch_syslog=lambda facility: calls.append(('syslog', facility)))
    return reloader, live, metrics, calls, handler


def test_a_failed_check_keeps_everything_and_logs_file_and_line():
    old = conf()
    reloader, live, metrics, calls, handler = reloader_for(
        old, ['WhitelistIP 10.0.0.0/8', 'TTL soon'],
        problems=['smf-spf.conf:2: error: TTL ...'], failed=True)
    services = live.services
    assert reloader.reload() is False
    assert live.services is services and calls == [] and metrics.reloads == [False]
    messages = [m for _, m in handler.lines]
    assert '[CONFIG] smf-spf.conf:2: error: TTL ...' in messages
    assert messages[-1] == ('[CONFIG] reload of smf-spf.conf failed (the config has errors): '
                            'keeping the running config')
    assert live.reloads_failed == 1


def test_an_unreadable_file_keeps_everything():
    reloader, live, metrics, calls, handler = reloader_for(
        conf(), [], raises=OSError('Permission denied'))
    services = live.services
    assert reloader.reload() is False and live.services is services
    assert '[CONFIG] smf-spf.conf: cannot reload: Permission denied' in [
        m for _, m in handler.lines]


def test_success_swaps_services_whole_and_keeps_the_cache():
    old = conf()
    reloader, live, metrics, calls, handler = reloader_for(old, ['WhitelistIP 10.0.0.0/8'])
    services = live.services
    assert reloader.reload() is True
    assert live.services is not services
    assert len(live.services.config.whitelist_ip) == 1
    assert live.services.spf.config is live.services.config
    assert live.services.spf.cache is services.spf.cache            # kept
    assert live.services.log is services.log and live.services.metrics is metrics
    assert services.config is old                                   # the old one untouched
    assert metrics.reloads == [True] and metrics.replaced == [] and calls == []
    assert [m for _, m in handler.lines][-2:] == [
        'reloaded smf-spf.conf: 1 change',
        'reload: WhitelistIP 0 -> 1 entries (added 10.0.0.0/8)']


def test_a_new_ttl_rebuilds_the_cache_and_new_nameservers_reach_the_resolver():
    reloader, live, metrics, calls, handler = reloader_for(
        conf(), ['TTL 60', 'Nameservers 127.0.0.1'])
    old_cache = live.services.spf.cache
    assert reloader.reload() is True
    assert live.services.spf.cache is not old_cache
    assert live.services.spf.cache.config.ttl == 60
    assert metrics.replaced == [old_cache]
    assert calls == [('resolver', live.services.config)]
    assert 'reload: SPF result cache emptied and rebuilt' in [m for _, m in handler.lines]


def test_log_to_is_reopened_after_the_swap_and_syslog_facility_switched():
    reloader, live, metrics, calls, handler = reloader_for(
        conf('LogTo /var/log/smf-spf.log'), ['LogTo /var/log/smf-spf.log', 'Syslog local2'])
    assert reloader.reload() is True
    assert calls == [('open', '/var/log/smf-spf.log'), ('switch', 'stream'),
                     ('syslog', 'local2')]


def refuse(path):
    raise OSError('Permission denied')


def test_a_new_log_to_that_cannot_be_opened_fails_the_reload():
    reloader, live, metrics, calls, handler = reloader_for(
        conf('LogTo /var/log/smf-spf.log'), ['LogTo /var/log/other.log'])
    services = live.services
    reloader.open_log_to = refuse
    assert reloader.reload() is False and live.services is services
    assert metrics.reloads == [False]


def test_the_same_log_to_that_cannot_be_reopened_keeps_the_open_file():
    """A root-owned file from the start, or logrotate creating one the User cannot
    write: the rest of the config still reloads, the old stream stays."""
    reloader, live, metrics, calls, handler = reloader_for(
        conf('LogTo /var/log/smf-spf.log'), ['LogTo /var/log/smf-spf.log', 'TTL 60'])
    reloader.open_log_to = refuse
    assert reloader.reload() is True and live.services.config.ttl == 60
    assert ('switch', 'stream') not in calls
    assert ('[CONFIG] smf-spf.conf: LogTo /var/log/smf-spf.log cannot be reopened: '
            'Permission denied; still writing to the file opened before') in [
                m for _, m in handler.lines]


def test_a_connection_keeps_the_services_it_started_with():
    """What serve() does: Milter.factory reads live.services per new connection."""
    old = conf('WhitelistIP 192.0.2.0/24')
    reloader, live, metrics, calls, handler = reloader_for(old, [])
    Milter.factory = lambda: SpfMilter(live.services)
    in_flight = Milter.factory()
    assert reloader.reload() is True
    after = Milter.factory()
    assert in_flight.services.config is old
    assert after.services.config is live.services.config
    assert len(after.services.config.whitelist_ip) == 0


def test_status_line_names_reloads_connections_and_cache():
    from smf_spf.cache import ResultCache
    cache = ResultCache(60, 2)
    for key in 'abc':
        cache.put(key, key)
    live = Live(Services(conf(), Spf(None, cache)), '/etc/mail/smfs/smf-spf.conf')
    live.reloads_ok, live.reloads_failed = 2, 1
    line = live.status(3)
    assert line.startswith('status: config /etc/mail/smfs/smf-spf.conf loaded 20')
    assert line.endswith('(reloads: 2 ok, 1 failed), 3 connections in flight, '
                         'cache 2/2 entries, 1 evicted')
    live.services = Services(conf(), Spf(None, None))
    assert live.status(0).endswith('0 connections in flight, cache off')
