"""End-to-end benchmark (not a test): what a mail admin compares milters by.

    make bench-e2e
    .venv/bin/python bench/e2e.py [--messages 1000] [--reps 3] [--sessions 20] [--quick]

A real Postfix on loopback with three smtpd listeners (no milter, a null pymilter milter,
smf-spf-py), SPF records from a real nsd (a generated zone: 100,000 sender domains, one in
ten through a 3-deep include chain shared with other domains), and a bounded SMTP load
(--sessions parallel clients, one message per connection).  Scenarios, interleaved over
--reps repetitions, medians reported:

  postfix alone    no milter at all: the latency and throughput floor
  null milter      the same callbacks and flags as smf-spf-py, each answering CONTINUE
  smf-spf hit      a few sender domains, warmed: answered from the result cache
  smf-spf miss     every sender domain new
  smf-spf wl       the client is in WhitelistIP (connects from 127.0.0.2)

For each: messages/s, p50/p99 session latency, and the milter's CPU time (utime+stime of
its process, from /proc) per 1,000 messages; then the ratios against the null milter
measured in the same run.  Last, one session at a time (--single messages) per listener:
milliseconds per message, which shows a milter socket's per-reply stalls.

Traffic goes only to loopback: nsd on SMF_SPF_E2E_DNS (default 127.53.53.53), Postfix,
the milters and the sink on 127.0.0.1, the whitelisted client from 127.0.0.2.
"""

import argparse
import os
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, 'tests', 'e2e'))

import services  # noqa: E402

SENDER_DOMAINS = 100000
CHAINS = 10                # include chains shared by the domains that use one
HIT_DOMAINS = 10
WHITELISTED_CLIENT = '127.0.0.2'
CLOCK_TICKS = os.sysconf('SC_CLK_TCK')


def zone_records():
    """(name, type, data) under services.ZONE: the sender domains and the include chains."""
    records = []
    zone = services.ZONE
    for chain in range(CHAINS):
        records.append(('_spf%d.chain' % chain, 'TXT',
                        '"v=spf1 ip4:192.0.2.0/24 include:_a%d.chain.%s ~all"' % (chain, zone)))
        records.append(('_a%d.chain' % chain, 'TXT',
                        '"v=spf1 ip4:198.51.100.0/24 include:_b%d.chain.%s ~all"'
                        % (chain, zone)))
        records.append(('_b%d.chain' % chain, 'TXT', '"v=spf1 ip4:127.0.0.0/8 -all"'))
    for index in range(SENDER_DOMAINS):
        if index % 10 == 0:
            record = '"v=spf1 include:_spf%d.chain.%s -all"' % (index // 10 % CHAINS, zone)
        else:
            record = '"v=spf1 ip4:127.0.0.1 -all"'
        records.append(('d%d.bench' % index, 'TXT', record))
    for index in range(HIT_DOMAINS):
        records.append(('hit%d.bench' % index, 'TXT', '"v=spf1 ip4:127.0.0.1 -all"'))
    return records


class BenchNsd(services.Nsd):
    RECORDS = zone_records()
    # answer as the recursive resolver a milter asks does (Unbound, BIND): the records
    # asked for, without the zone's NS and glue, and without rate limiting one client
    SERVER_OPTIONS = '  minimal-responses: yes\n  rrl-ratelimit: 0\n'


class BenchPostfix(services.Postfix):
    """Postfix with two extra smtpd listeners: no milter, and the null milter."""

    def __init__(self, directory, milter_port, null_port, sink_port):
        services.Postfix.__init__(self, directory, milter_port, sink_port)
        self.null_port = null_port
        self.ports = {'spf': self.port, 'none': services.free_port(),
                      'null': services.free_port()}

    def start(self):
        services.Postfix.start(self)
        with open(os.path.join(self.config_dir, 'main.cf'), 'a') as out:
            # the load, not Postfix's defences, is what is measured
            out.write('smtpd_client_connection_count_limit = 0\n'
                      'smtpd_client_connection_rate_limit = 0\n'
                      'default_process_limit = 200\n')
        with open(os.path.join(self.config_dir, 'master.cf'), 'a') as out:
            out.write('127.0.0.1:%d inet n - n - - smtpd -o smtpd_milters=\n'
                      % self.ports['none'])
            out.write('127.0.0.1:%d inet n - n - - smtpd -o smtpd_milters=inet:127.0.0.1:%d\n'
                      % (self.ports['null'], self.null_port))
        self.postfix('reload')
        for port in self.ports.values():
            services.wait_for_port('127.0.0.1', port, None, what='postfix smtpd')
        return self


class NullMilter(object):
    def __init__(self):
        self.port = services.free_port()
        self.process = None

    def start(self):
        self.process = subprocess.Popen([sys.executable, os.path.join(HERE, 'null_milter.py'),
                                         'inet:%d@127.0.0.1' % self.port])
        services.wait_for_port('127.0.0.1', self.port, self.process, what='null milter')
        return self

    def stop(self):
        services.stop(self.process)


def cpu_seconds(pid):
    """utime + stime of a whole process (all its threads), in seconds."""
    with open('/proc/%d/stat' % pid) as handle:
        fields = handle.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / float(CLOCK_TICKS)


def send_one(port, sender, source):
    body = ('From: <%s>\r\nTo: <bob@receiver.test>\r\nSubject: bench\r\n\r\nbench\r\n'
            % sender)
    started = time.perf_counter()
    client = smtplib.SMTP('127.0.0.1', port, local_hostname='client.bench.test', timeout=60,
                          source_address=(source, 0))
    try:
        client.sendmail(sender, ['bob@receiver.test'], body)
    finally:
        client.quit()
    return time.perf_counter() - started


def drain(items, threads, handle):
    """handle(item) for every item, from `threads` parallel threads (1: this thread)."""
    pending = list(reversed(items))
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                if not pending:
                    return
                item = pending.pop()
            handle(item)

    if threads <= 1:
        worker()
        return
    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()


def run_load(port, senders, sessions, source='127.0.0.1'):
    """Send one message per connection from `sessions` parallel clients.
    Returns (seconds, latencies, errors)."""
    latencies = []
    errors = []

    def send(sender):
        try:
            latencies.append(send_one(port, sender, source))
        except (smtplib.SMTPException, OSError) as exc:
            errors.append('%s: %s' % (sender, exc))

    started = time.perf_counter()
    drain(senders, sessions, send)
    return time.perf_counter() - started, latencies, errors


def percentile(values, fraction):
    ordered = sorted(values)
    if not ordered:
        return float('nan')
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2.0


class Fresh(object):
    """Sender domains never used before in this run (cache misses)."""

    def __init__(self):
        self.next = 0

    def take(self, count):
        if self.next + count > SENDER_DOMAINS:
            raise SystemExit('more than %d fresh sender domains asked for: lower the number '
                             'of messages or checks, or of repetitions' % SENDER_DOMAINS)
        senders = ['user%d@d%d.bench.%s' % (i, i, services.ZONE)
                   for i in range(self.next, self.next + count)]
        self.next += count
        return senders


def hit_senders(count):
    return ['user%d@hit%d.bench.%s' % (i, i % HIT_DOMAINS, services.ZONE) for i in range(count)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--messages', type=int, default=1000, help='per scenario and repetition')
    parser.add_argument('--reps', type=int, default=3)
    parser.add_argument('--sessions', type=int, default=20)
    parser.add_argument('--single', type=int, default=100,
                        help='messages sent one session at a time per listener')
    parser.add_argument('--quick', action='store_true', help='200 messages, 1 repetition')
    parser.add_argument('--keep', action='store_true', help='keep the work directory')
    args = parser.parse_args()
    if args.quick:
        args.messages, args.reps, args.single = 200, 1, 30

    workdir = tempfile.mkdtemp(prefix='smf-spf-bench-')
    os.chmod(workdir, 0o755)
    started = []
    try:
        dns = BenchNsd(workdir).start()
        started.append(dns)
        sink = services.SmtpSink(workdir).start()
        started.append(sink)
        null = NullMilter().start()
        started.append(null)
        milter = services.Milter(workdir, 'WhitelistIP %s/32' % WHITELISTED_CLIENT).start()
        started.append(milter)
        postfix = BenchPostfix(workdir, milter.port, null.port, sink.port).start()
        started.append(postfix)
        pids = {'null': null.process.pid, 'spf': milter.process.pid}
        print('smf-spf-py end-to-end benchmark: %d messages x %d repetitions, %d sessions; '
              'zone of %d sender domains' % (args.messages, args.reps, args.sessions,
                                             SENDER_DOMAINS))

        # warm-up: Postfix processes, the milters' threads, the hit domains in the cache
        for listener in ('none', 'null', 'spf'):
            run_load(postfix.ports[listener], hit_senders(100), args.sessions)

        fresh = Fresh()
        scenarios = [
            ('postfix alone', 'none', None, lambda n: hit_senders(n), '127.0.0.1'),
            ('null milter', 'null', 'null', lambda n: hit_senders(n), '127.0.0.1'),
            ('smf-spf hit', 'spf', 'spf', lambda n: hit_senders(n), '127.0.0.1'),
            ('smf-spf miss', 'spf', 'spf', fresh.take, '127.0.0.1'),
            ('smf-spf wl', 'spf', 'spf', lambda n: hit_senders(n), WHITELISTED_CLIENT),
        ]
        results = {name: {'rate': [], 'p50': [], 'p99': [], 'cpu': []}
                   for name, _, _, _, _ in scenarios}
        failures = 0
        for rep in range(args.reps):
            # rotate the order so that drift on a shared machine spreads over all scenarios
            order = scenarios[rep % len(scenarios):] + scenarios[:rep % len(scenarios)]
            for name, listener, milter_name, senders, source in order:
                batch = senders(args.messages)
                before = cpu_seconds(pids[milter_name]) if milter_name else 0.0
                seconds, latencies, errors = run_load(postfix.ports[listener], batch,
                                                      args.sessions, source)
                after = cpu_seconds(pids[milter_name]) if milter_name else 0.0
                failures += len(errors)
                for error in errors[:3]:
                    print('  error in %s: %s' % (name, error))
                row = results[name]
                row['rate'].append(len(latencies) / seconds)
                row['p50'].append(percentile(latencies, 0.5) * 1000)
                row['p99'].append(percentile(latencies, 0.99) * 1000)
                row['cpu'].append((after - before) * 1e6 / max(1, len(latencies)))

        print('\n%-15s %9s %9s %9s %16s' % ('scenario', 'msgs/s', 'p50 ms', 'p99 ms',
                                           'milter CPU ms/1k'))
        summary = {}
        for name, _, milter_name, _, _ in scenarios:
            row = results[name]
            summary[name] = {key: median(values) for key, values in row.items()}
            cpu = '%16.0f' % summary[name]['cpu'] if milter_name else '%16s' % '-'
            print('%-15s %9.0f %9.1f %9.1f %s' % (name, summary[name]['rate'],
                                                  summary[name]['p50'], summary[name]['p99'],
                                                  cpu))
        null_cpu = summary['null milter']['cpu']
        null_each = results['null milter']['cpu']

        def spread(name, against):
            """Lowest and highest of one value per repetition, each against the null
            milter of the same repetition."""
            each = [against(cpu, null) for cpu, null in zip(results[name]['cpu'], null_each)]
            return min(each), max(each)

        def times(cpu, null):
            return cpu / null

        def extra_ms(cpu, null):
            return (cpu - null) / 1000.0

        print('\nagainst the null milter (CPU per message, medians of this run; in brackets '
              'the lowest and highest repetition):')
        print('  cache hit     %.2fx    [%.2f-%.2f]  (target <= 1.10x)'
              % ((summary['smf-spf hit']['cpu'] / null_cpu,) + spread('smf-spf hit', times)))
        print('  cache miss    %+.2f ms [%+.2f %+.2f] (target <= +0.60 ms)'
              % (((summary['smf-spf miss']['cpu'] - null_cpu) / 1000.0,)
                 + spread('smf-spf miss', extra_ms)))
        print('  whitelisted   %.2fx    [%.2f-%.2f]  (target <= 0.50x)'
              % ((summary['smf-spf wl']['cpu'] / null_cpu,) + spread('smf-spf wl', times)))

        print('\none session at a time, %d messages, ms per message (median):' % args.single)
        for listener in ('none', 'null', 'spf'):
            _, latencies, errors = run_load(postfix.ports[listener], hit_senders(args.single), 1)
            failures += len(errors)
            print('  %-6s %7.1f' % (listener, median(latencies) * 1000))
        if failures:
            print('\n%d messages failed (see the errors above)' % failures)
            return 1
        return 0
    finally:
        for service in reversed(started):
            service.stop()
        if args.keep:
            print('work directory kept: %s' % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
