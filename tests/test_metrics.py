"""Metrics: what the adapter reports, as prometheus_client exposes it."""

import Milter

from smf_spf import c_rules, EXTENSIONS, __version__
from smf_spf.cache import ResultCache
from smf_spf.metrics import (NO_METRICS, PrometheusMetrics, delivery_action,
                             verdict_action)
from smf_spf.milter import Services
from miltertools import Harness


def with_metrics(harness):
    cache = harness.services.spf.cache
    harness.services.metrics = PrometheusMetrics(lambda: cache)
    return harness.services.metrics


def value(metrics, name, **labels):
    return metrics.registry.get_sample_value(name, labels) or 0.0


def test_services_default_to_no_metrics():
    assert Services(None, None).metrics is NO_METRICS


def test_verdict_actions():
    assert verdict_action(c_rules.Verdict(c_rules.REJECT)) == ('refuse', '')
    assert verdict_action(c_rules.Verdict(c_rules.TEMPFAIL)) == ('tempfail', '')
    assert verdict_action(c_rules.Verdict(c_rules.ACCEPT, skipped_by='WhitelistIP')) == (
        'skipped', 'WhitelistIP')
    assert verdict_action(c_rules.Verdict(c_rules.CONTINUE, skipped_by='WhitelistTo')) == (
        'skipped', 'WhitelistTo')
    assert verdict_action(c_rules.Verdict(c_rules.CONTINUE)) is None


def test_delivery_actions():
    tag = c_rules.Edit('chgheader', 'Subject', '[SPF:fail] x', 1)
    header = c_rules.Edit('insheader', 'Authentication-Results', 'x', 0)
    box = c_rules.Edit('addrcpt', value='postmaster')
    assert delivery_action([header]) == 'accept'
    assert delivery_action([]) == 'accept'
    assert delivery_action([tag, header]) == 'tag'
    assert delivery_action([c_rules.Edit('addheader', 'Subject', '[SPF:fail]')]) == 'tag'
    assert delivery_action([tag, header, box]) == 'quarantine'


def test_build_info_and_zeroes_before_any_mail():
    metrics = PrometheusMetrics(lambda: None)
    assert value(metrics, 'smf_spf_build_info', version=__version__,
                 extensions='on' if EXTENSIONS else 'off') == 1
    text = _exposition(metrics)
    assert 'smf_spf_results_total{identity="mailfrom",result="pass"} 0.0' in text
    assert 'smf_spf_actions_total{action="skipped",list="WhitelistIP"} 0.0' in text
    assert 'smf_spf_config_reloads_total{outcome="failed"} 0.0' in text
    assert value(metrics, 'smf_spf_config_last_reload_success_timestamp_seconds') > 0
    assert value(metrics, 'smf_spf_cache_capacity') == 0


def _exposition(metrics):
    from prometheus_client import generate_latest
    return generate_latest(metrics.registry).decode()


def test_whitelisted_connection_counts_skipped_with_its_list():
    h = Harness('WhitelistIP 192.0.2.0/24')
    metrics = with_metrics(h)
    assert h.connect(ip='192.0.2.9') == Milter.ACCEPT
    assert value(metrics, 'smf_spf_actions_total', action='skipped', list='WhitelistIP') == 1
    assert value(metrics, 'smf_spf_connections_in_flight') == 0   # accepted: closed


def test_a_refused_fail_and_a_tagged_softfail():
    h = Harness(bad_example='fail', soft_example='softfail')
    metrics = with_metrics(h)
    h.connect()
    assert value(metrics, 'smf_spf_connections_in_flight') == 1
    assert h.mail('<x@bad.example>') == Milter.REJECT
    assert h.mail('<x@soft.example>') == Milter.CONTINUE
    h.rcpt('<bob@receiver.test>')
    h.header('Subject', 'hi')
    h.eom()
    assert value(metrics, 'smf_spf_results_total', result='fail',
                 identity='mailfrom') == 1
    assert value(metrics, 'smf_spf_results_total', result='softfail',
                 identity='mailfrom') == 1
    assert value(metrics, 'smf_spf_actions_total', action='refuse', list='') == 1
    assert value(metrics, 'smf_spf_actions_total', action='tag', list='') == 1
    assert value(metrics, 'smf_spf_actions_total', action='accept', list='') == 0
    assert value(metrics, 'smf_spf_check_duration_seconds_count') == 2


def test_cache_hits_misses_entries_and_dns_errors():
    h = Harness(sender_example='pass', broken_example='temperror')
    metrics = with_metrics(h)
    h.connect()
    for _ in range(3):
        h.mail('<a@sender.example>')
    h.mail('<a@broken.example>')
    assert value(metrics, 'smf_spf_cache_hits_total') == 2
    assert value(metrics, 'smf_spf_cache_misses_total') == 2
    assert value(metrics, 'smf_spf_cache_entries') == 1           # temperror is not cached
    assert value(metrics, 'smf_spf_dns_errors_total') == 1
    assert value(metrics, 'smf_spf_results_total', result='pass',
                 identity='mailfrom') == 3
    assert value(metrics, 'smf_spf_check_duration_seconds_count') == 2   # hits not timed


def test_evictions_survive_a_cache_replaced_by_a_reload():
    caches = [ResultCache(60, 1)]
    metrics = PrometheusMetrics(lambda: caches[-1])
    caches[0].put('a', 1)
    caches[0].put('b', 2)
    assert value(metrics, 'smf_spf_cache_evictions_total') == 1
    metrics.cache_replaced(caches[0])
    caches.append(ResultCache(60, 1))
    caches[1].put('c', 3)
    caches[1].put('d', 4)
    assert value(metrics, 'smf_spf_cache_evictions_total') == 2
    assert value(metrics, 'smf_spf_cache_capacity') == 1


def test_reloads_are_counted():
    metrics = PrometheusMetrics(lambda: None)
    metrics.reloaded(True)
    metrics.reloaded(False)
    metrics.reloaded(False)
    assert value(metrics, 'smf_spf_config_reloads_total', outcome='ok') == 1
    assert value(metrics, 'smf_spf_config_reloads_total', outcome='failed') == 2


def test_the_cache_is_only_read_at_scrape_time():
    """serve() builds the metrics before the Services they read the cache from."""
    holder = []
    metrics = PrometheusMetrics(lambda: holder[0].spf.cache)
    holder.append(Services(None, type('Spf', (), {'cache': ResultCache(60, 7)})()))
    assert value(metrics, 'smf_spf_cache_capacity') == 7


def test_refusals_are_counted_by_the_rule_that_made_them():
    assert verdict_action(c_rules.Verdict(c_rules.REJECT, rule='RefuseFail')) == ('refuse', '')
    h = Harness('RefuseSoftFail on', 'AcceptTempError off', bad_example='fail',
                soft_example='softfail', broken_example='temperror')
    metrics = with_metrics(h)
    h.connect()
    assert h.mail('<x@bad.example>') == Milter.REJECT
    assert h.mail('<x@soft.example>') == Milter.REJECT
    assert h.mail('<x@broken.example>') == Milter.TEMPFAIL
    assert h.mail('<nobody>') == Milter.REJECT
    for rule, action in (('RefuseFail', 'refuse'), ('RefuseSoftFail', 'refuse'),
                         ('AcceptTempError off', 'tempfail'), ('Syntax', 'refuse')):
        assert value(metrics, 'smf_spf_refusals_total', rule=rule, action=action) == 1, rule
    assert value(metrics, 'smf_spf_actions_total', action='refuse', list='') == 3


def test_dry_run_counts_the_rule_that_would_have_refused():
    h = Harness('DryRun on', bad_example='fail')
    metrics = with_metrics(h)
    h.connect()
    assert h.mail('<x@bad.example>') == Milter.CONTINUE
    assert value(metrics, 'smf_spf_refusals_total', rule='RefuseFail',
                 action='would_refuse') == 1
    assert value(metrics, 'smf_spf_refusals_total', rule='RefuseFail', action='refuse') == 0


def test_helo_results_are_counted_with_their_identity():
    h = Harness('CheckHelo on', sender_example='pass', helo_example='fail')
    metrics = with_metrics(h)
    h.connect(helo='helo.example')
    for _ in range(2):
        h.mail('<a@sender.example>')
    h.connect(helo='helo.example')
    h.mail('<>')                         # an empty sender: its one check is HELO's
    assert value(metrics, 'smf_spf_results_total', result='pass', identity='mailfrom') == 2
    assert value(metrics, 'smf_spf_results_total', result='fail', identity='helo') == 3
    assert value(metrics, 'smf_spf_results_total', result='fail', identity='mailfrom') == 0
    assert value(metrics, 'smf_spf_cache_misses_total') == 2
    assert value(metrics, 'smf_spf_cache_hits_total') == 3


def test_a_helo_check_left_no_time_is_a_temperror_result_not_a_check():
    h = Harness('CheckHelo on', 'SPFTimeout 1.5', sender_example='pass', helo_example='pass')
    h.slow_checks(0.6)
    metrics = with_metrics(h)
    h.connect(helo='helo.example')
    h.mail('<a@sender.example>')
    assert value(metrics, 'smf_spf_results_total', result='temperror', identity='helo') == 1
    assert value(metrics, 'smf_spf_check_duration_seconds_count') == 1
    assert value(metrics, 'smf_spf_dns_errors_total') == 0
