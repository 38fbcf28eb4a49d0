"""CPU per fresh SPF check (a result-cache miss), without Postfix or the milter: what the
DNS lookup path and pyspf cost per check.

    .venv/bin/python bench/spf_miss.py [--checks 2000] [--threads 10] [--reps 3]
                                       [--pyspf-hook] [--profile FILE]

Starts the end-to-end benchmark's nsd (bench/e2e.py's zone of sender domains, on
SMF_SPF_E2E_DNS), sets DNS up as the daemon does (use_nameservers, dnscache.enable,
preload_dns_modules) and checks --checks never-seen sender domains with SpfChecker, once
one after another and once from --threads threads.  Reports the process's CPU time
(utime + stime, all threads) per check in microseconds, the median over --reps.
--pyspf-hook adds, interleaved in the same process, runs through pyspf's own DNS hook
(spf.DNSLookup_dnspython) in place of the daemon's, for a comparison on a busy machine.
The nsd answers with minimal responses, as a recursive resolver does (see BenchNsd).
"""

import argparse
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import e2e  # noqa: E402  (puts the project root and tests/e2e on sys.path)
import services  # noqa: E402
import spf  # noqa: E402
from smf_spf.mailbox import split_path
from smf_spf import dnscache  # noqa: E402
from smf_spf.spfcheck import SpfChecker, preload_dns_modules, use_nameservers  # noqa: E402

CLIENT_IP = '127.0.0.1'          # passes every sender domain of the zone
HELO = 'client.bench.test'
TIMEOUT = 20.0


def check_all(checker, senders, threads):
    """Check every sender from `threads` threads (1: this one, where --profile sees it);
    returns CPU seconds of the process."""
    unexpected = []

    def check(sender):
        result = checker.check(CLIENT_IP, split_path(sender), HELO).result
        if result != 'pass':
            unexpected.append((sender, result))

    started = e2e.cpu_seconds(os.getpid())
    e2e.drain(senders, threads, check)
    spent = e2e.cpu_seconds(os.getpid()) - started
    if unexpected:
        raise SystemExit('not pass: %s' % unexpected[:5])
    return spent


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--checks', type=int, default=2000)
    parser.add_argument('--threads', type=int, default=10)
    parser.add_argument('--reps', type=int, default=3)
    parser.add_argument('--pyspf-hook', action='store_true',
                        help="also measure pyspf's own DNS hook, interleaved")
    parser.add_argument('--profile', help='write a cProfile of the sequential runs here')
    args = parser.parse_args()

    directory = tempfile.mkdtemp(prefix='spf-miss-')
    nsd = e2e.BenchNsd(directory)
    try:
        nsd.start()
        preload_dns_modules()
        use_nameservers([services.DNS_ADDRESS], TIMEOUT)
        dnscache.enable()
        checker = SpfChecker(TIMEOUT, receiver='bench.test')
        hooks = [('daemon', spf.DNSLookup)]
        if args.pyspf_hook:
            hooks.append(('pyspf', spf.DNSLookup_dnspython))
        fresh = e2e.Fresh()
        check_all(checker, fresh.take(200), 1)          # warm-up: imports, include chains
        profiler = None
        if args.profile:
            import cProfile
            profiler = cProfile.Profile()
        timings = dict(((hook, mode), []) for hook, _ in hooks for mode in ('seq', 'threads'))
        for _ in range(args.reps):
            for hook, lookup in hooks:
                spf.DNSLookup = lookup
                if profiler and hook == 'daemon':
                    profiler.enable()
                timings[hook, 'seq'].append(check_all(checker, fresh.take(args.checks), 1))
                if profiler:
                    profiler.disable()
                timings[hook, 'threads'].append(check_all(checker, fresh.take(args.checks),
                                                          args.threads))
        if profiler:
            profiler.dump_stats(args.profile)
        print('Python %s, %d fresh sender domains per run, median of %d runs:'
              % (sys.version.split()[0], args.checks, args.reps))
        for hook, _ in hooks:
            for mode, label in (('seq', 'one after another'),
                                ('threads', '%d threads' % args.threads)):
                per_check = [seconds / args.checks * 1e6 for seconds in timings[hook, mode]]
                print('  %-6s hook, %-18s %6.0f us CPU per check  (runs: %s)'
                      % (hook, label, e2e.median(per_check),
                         ', '.join('%.0f' % v for v in per_check)))
    finally:
        nsd.stop()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == '__main__':
    main()
