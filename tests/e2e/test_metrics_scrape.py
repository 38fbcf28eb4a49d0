"""/metrics of a milter behind a real Postfix: the counters move by exactly the
messages sent, one per message, with the SPF results nsd's records give."""

import os
import signal
import smtplib
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from smf_spf import EXTENSIONS, __version__
from services import free_port, mail_path_with
from test_postfix import send


@pytest.fixture(scope='module')
def metered_path(workdir, dns_server):
    """smtp-sink <- Postfix <- smf-spf with MetricsListen, in a directory of its own."""
    port = free_port()
    with mail_path_with(workdir, 'metrics', 'MetricsListen 127.0.0.1:%d' % port, 'RefuseFail on',
                        'WhitelistFrom skip.e2e.test') as path:
        yield path + (port,)


def scrape(port):
    with urllib.request.urlopen('http://127.0.0.1:%d/metrics' % port, timeout=10) as answer:
        assert answer.status == 200
        assert answer.headers['Content-Type'].startswith('text/plain; version=0.0.4')
        text = answer.read().decode('utf-8')
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def moved(before, after, name, **labels):
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_counters_move_by_exactly_the_messages_sent(metered_path):
    postfix, milter, sink, port = metered_path
    before = scrape(port)
    extensions = 'on' if EXTENSIONS else 'off'
    assert before[('smf_spf_build_info', (('extensions', extensions),
                                          ('version', __version__)))] == 1
    delivered = [send(postfix, 'a@pass.e2e.test'), send(postfix, 'b@nospf.e2e.test'),
                 send(postfix, 'c@softfail.e2e.test', subject='hello'),
                 send(postfix, 'd@skip.e2e.test')]
    with pytest.raises(smtplib.SMTPSenderRefused):
        send(postfix, 'e@fail.e2e.test')
    for marker in delivered:
        sink.wait_for(marker)
    after = scrape(port)
    for result, count in (('pass', 1), ('none', 1), ('softfail', 1), ('fail', 1),
                          ('neutral', 0), ('temperror', 0), ('permerror', 0)):
        assert moved(before, after, 'smf_spf_results_total', result=result,
                     identity='mailfrom') == count, result
        assert moved(before, after, 'smf_spf_results_total', result=result,
                     identity='helo') == 0, result      # CheckHelo off
    actions = {('accept', ''): 2, ('tag', ''): 1, ('refuse', ''): 1,
               ('skipped', 'WhitelistFrom'): 1, ('tempfail', ''): 0, ('quarantine', ''): 0}
    for (action, listed), count in actions.items():
        assert moved(before, after, 'smf_spf_actions_total', action=action,
                     list=listed) == count, (action, listed)
    total = sum(moved(before, after, name, **dict(labels))
                for name, labels in after if name == 'smf_spf_actions_total')
    assert total == 5                   # one action per message sent
    assert moved(before, after, 'smf_spf_refusals_total', rule='RefuseFail',
                 action='refuse') == 1
    assert moved(before, after, 'smf_spf_cache_misses_total') == 4
    assert moved(before, after, 'smf_spf_cache_hits_total') == 0
    assert moved(before, after, 'smf_spf_check_duration_seconds_count') == 4
    assert moved(before, after, 'smf_spf_cache_entries') == 4
    assert moved(before, after, 'smf_spf_dns_errors_total') == 0

    again = send(postfix, 'f@pass.e2e.test')   # same client and domain: from the cache
    sink.wait_for(again)
    cached = scrape(port)
    assert moved(after, cached, 'smf_spf_cache_hits_total') == 1
    assert moved(after, cached, 'smf_spf_results_total', result='pass',
                 identity='mailfrom') == 1
    assert moved(after, cached, 'smf_spf_check_duration_seconds_count') == 0


def test_reloads_are_counted_and_the_endpoint_survives_them(metered_path):
    postfix, milter, sink, port = metered_path
    before = scrape(port)
    milter.process.send_signal(signal.SIGHUP)
    milter.wait_for_log('reloaded %s: no changes' % milter.conf)
    after = scrape(port)
    assert moved(before, after, 'smf_spf_config_reloads_total', outcome='ok') == 1
    assert moved(before, after, 'smf_spf_config_reloads_total', outcome='failed') == 0
    assert (after[('smf_spf_config_last_reload_success_timestamp_seconds', ())]
            > before[('smf_spf_config_last_reload_success_timestamp_seconds', ())])
    sink.wait_for(send(postfix, 'g@pass.e2e.test'))   # mail still flows


def test_a_config_the_user_cannot_read_fails_the_reload_and_mail_flows(metered_path):
    """A reload runs after the switch to User (nobody here): a config file made
    unreadable for it keeps the running config, logged and counted."""
    postfix, milter, sink, port = metered_path
    before = scrape(port)
    os.chmod(milter.conf, 0o600)
    try:
        milter.process.send_signal(signal.SIGHUP)
        milter.wait_for_log('cannot reload: %s: cannot read config file: Permission denied'
                            % milter.conf)
        milter.wait_for_log('[CONFIG] reload of %s failed' % milter.conf)
    finally:
        os.chmod(milter.conf, 0o644)
    after = scrape(port)
    assert moved(before, after, 'smf_spf_config_reloads_total', outcome='failed') == 1
    assert milter.process.poll() is None
    sink.wait_for(send(postfix, 'h@pass.e2e.test'))
