"""End-to-end benchmark (not a test): what a mail admin compares milters by.

    make bench-e2e
    .venv/bin/python bench/e2e.py [--messages 1000] [--reps 3] [--sessions 20] [--quick]

A real Postfix on loopback with four smtpd listeners (no milter, a null pymilter milter,
smf-spf-py, and the peer: spf-engine's pyspf-milter, `pip install spf-engine`, run by
bench/pyspf_milter.py), SPF records from a real nsd (a generated zone: 100,000 sender
domains, one in ten through a 3-deep include chain shared with other domains), and a
bounded SMTP load (--sessions parallel clients, one message per connection).  Scenarios,
interleaved over --reps repetitions, medians reported:

  postfix alone    no milter at all: the latency and throughput floor
  null milter      the callbacks and flags of smf-spf-py, each answering CONTINUE, every
                   step with a reply (pymilter's defaults): what any pymilter milter pays
  smf-spf hit      a few sender domains, warmed: answered from the result cache
  smf-spf miss     every sender domain new
  smf-spf wl       the client is in WhitelistIP (connects from 127.0.0.2)
  pyspf-milter ... the same three loads through pyspf-milter, set up for the same one
                   evaluation: MAIL FROM only (HELO_reject = No_Check), an
                   Authentication-Results header, no skip_addresses, 127.0.0.2 in
                   InternalHosts (not checked).  It has no cache: its hit is a fresh check.

For each: messages/s, p50/p99 session latency, the milter's CPU time (utime+stime of its
process, from /proc) per 1,000 messages and the user part of it (Python's, mostly: what runs
under the interpreter lock, which one process cannot spread over more cores), and the DNS
queries nsd answered per message; then the ratios against the null milter and the peer
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

    def __init__(self, directory):
        services.Nsd.__init__(self, directory)
        # nsd-control on a unix socket (no TLS keys): how many queries each load made
        self.REMOTE_CONTROL = ('  control-enable: yes\n  control-interface: %s\n'
                               % os.path.join(directory, 'nsd-control.sock'))

    def queries(self):
        """How many queries nsd has answered since it started."""
        done = subprocess.run([services.need('nsd-control'), '-c',
                               os.path.join(self.directory, 'nsd.conf'), 'stats_noreset'],
                              stdout=subprocess.PIPE, universal_newlines=True, check=True)
        for line in done.stdout.splitlines():
            if line.startswith('num.queries='):
                return int(line.split('=', 1)[1])
        raise RuntimeError('nsd-control stats_noreset has no num.queries: %s' % done.stdout)


class BenchPostfix(services.Postfix):
    """Postfix with more smtpd listeners: one without a milter, and one per milter in
    `milter_ports` (name: port)."""

    def __init__(self, directory, milter_port, milter_ports, sink_port):
        services.Postfix.__init__(self, directory, milter_port, sink_port)
        self.milter_ports = milter_ports
        self.ports = {'spf': self.port, 'none': services.free_port()}
        for name in milter_ports:
            self.ports[name] = services.free_port()

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
            for name, milter_port in sorted(self.milter_ports.items()):
                out.write('127.0.0.1:%d inet n - n - - smtpd '
                          '-o smtpd_milters=inet:127.0.0.1:%d\n'
                          % (self.ports[name], milter_port))
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


def account():
    """user:group pyspf-milter may run as: it changes to them when started as root."""
    import grp
    import pwd
    user = pwd.getpwnam('nobody') if os.getuid() == 0 else pwd.getpwuid(os.getuid())
    return '%s:%s' % (user.pw_name, grp.getgrgid(user.pw_gid).gr_name)


class PyspfMilter(NullMilter):
    """spf-engine's pyspf-milter, doing what smf-spf-py does in this benchmark: one MAIL
    FROM evaluation per message (no HELO check), an Authentication-Results header, every
    client checked but the whitelisted one, no more than SPFTimeout (5 s) per lookup, and
    its default log level (a syslog line per message; the bench has no syslog daemon)."""

    def __init__(self, directory):
        NullMilter.__init__(self)
        self.config = os.path.join(directory, 'pyspf-milter.conf')
        lines = ['debugLevel = 1', 'TestOnly = 1', 'HELO_reject = No_Check',
                 'Mail_From_reject = Fail', 'PermError_reject = False',
                 'TempError_Defer = False',
                 # its default without 127.0.0.0/8, where the load comes from
                 'skip_addresses = ::ffff:127.0.0.0/104,::1', 'Header_Type = AR',
                 'Authserv_Id = mx.receiver.test', 'Lookup_Time = 5',
                 'Socket = inet:%d@127.0.0.1' % self.port,
                 'PidFile = %s' % os.path.join(directory, 'pyspf-milter.pid'),
                 'UserID = %s' % account(), 'InternalHosts = %s' % WHITELISTED_CLIENT]
        with open(self.config, 'w') as out:
            out.write('\n'.join(lines) + '\n')

    def start(self):
        self.process = subprocess.Popen([sys.executable, os.path.join(HERE, 'pyspf_milter.py'),
                                         services.DNS_ADDRESS, self.config])
        services.wait_for_port('127.0.0.1', self.port, self.process, what='pyspf-milter')
        return self


def cpu_times(pid):
    """(utime, stime) of a whole process (all its threads), in seconds."""
    with open('/proc/%d/stat' % pid) as handle:
        fields = handle.read().rsplit(')', 1)[1].split()
    return int(fields[11]) / float(CLOCK_TICKS), int(fields[12]) / float(CLOCK_TICKS)


def cpu_seconds(pid):
    """utime + stime of a whole process (all its threads), in seconds."""
    return sum(cpu_times(pid))


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
    if not ordered:
        return float('nan')
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
        peer = PyspfMilter(workdir).start()
        started.append(peer)
        milter = services.Milter(workdir, 'WhitelistIP %s/32' % WHITELISTED_CLIENT).start()
        started.append(milter)
        postfix = BenchPostfix(workdir, milter.port, {'null': null.port, 'peer': peer.port},
                               sink.port).start()
        started.append(postfix)
        pids = {'null': null.process.pid, 'spf': milter.process.pid, 'peer': peer.process.pid}
        print('smf-spf-py end-to-end benchmark: %d messages x %d repetitions, %d sessions; '
              'zone of %d sender domains' % (args.messages, args.reps, args.sessions,
                                             SENDER_DOMAINS))

        # warm-up: Postfix processes, the milters' threads, the hit domains in the cache
        for listener in ('none', 'null', 'spf', 'peer'):
            run_load(postfix.ports[listener], hit_senders(100), args.sessions)

        fresh = Fresh()
        scenarios = [
            ('postfix alone', 'none', None, hit_senders, '127.0.0.1'),
            ('null milter', 'null', 'null', hit_senders, '127.0.0.1'),
            ('smf-spf hit', 'spf', 'spf', hit_senders, '127.0.0.1'),
            ('smf-spf miss', 'spf', 'spf', fresh.take, '127.0.0.1'),
            ('smf-spf wl', 'spf', 'spf', hit_senders, WHITELISTED_CLIENT),
            ('pyspf-milter hit', 'peer', 'peer', hit_senders, '127.0.0.1'),
            ('pyspf-milter miss', 'peer', 'peer', fresh.take, '127.0.0.1'),
            ('pyspf-milter wl', 'peer', 'peer', hit_senders, WHITELISTED_CLIENT),
        ]
        results = {name: {'rate': [], 'p50': [], 'p99': [], 'cpu': [], 'user': [], 'dns': []}
                   for name, _, _, _, _ in scenarios}
        failures = 0
        for rep in range(args.reps):
            # rotate the order so that drift on a shared machine spreads over all scenarios
            order = scenarios[rep % len(scenarios):] + scenarios[:rep % len(scenarios)]
            for name, listener, milter_name, senders, source in order:
                batch = senders(args.messages)
                queries = dns.queries()
                before = cpu_times(pids[milter_name]) if milter_name else (0.0, 0.0)
                seconds, latencies, errors = run_load(postfix.ports[listener], batch,
                                                      args.sessions, source)
                after = cpu_times(pids[milter_name]) if milter_name else (0.0, 0.0)
                queries = dns.queries() - queries
                failures += len(errors)
                for error in errors[:3]:
                    print('  error in %s: %s' % (name, error))
                row = results[name]
                sent = max(1, len(latencies))
                row['rate'].append(len(latencies) / seconds)
                row['p50'].append(percentile(latencies, 0.5) * 1000)
                row['p99'].append(percentile(latencies, 0.99) * 1000)
                row['cpu'].append((sum(after) - sum(before)) * 1e6 / sent)
                row['user'].append((after[0] - before[0]) * 1e6 / sent)
                row['dns'].append(queries / float(sent))

        print('\n%-18s %7s %7s %7s %18s %7s %9s' % ('scenario', 'msgs/s', 'p50 ms', 'p99 ms',
                                                    'milter CPU ms/1k', 'user', 'DNS q/msg'))
        summary = {}
        for name, _, milter_name, _, _ in scenarios:
            row = results[name]
            summary[name] = {key: median(values) for key, values in row.items()}
            cpu = results[name]['cpu']
            cpu, user = (('%6.0f [%4.0f-%4.0f]' % (summary[name]['cpu'], min(cpu), max(cpu)),
                          '%7.0f' % summary[name]['user']) if milter_name else ('-', '-'))
            print('%-18s %7.0f %7.1f %7.1f %18s %7s %9.2f'
                  % (name, summary[name]['rate'], summary[name]['p50'], summary[name]['p99'],
                     cpu, user, summary[name]['dns']))

        def compare(name, against, how):
            """`how`(CPU of `name`, CPU of `against`): the median of this run and the
            lowest and highest of one value per repetition (both from the same one)."""
            each = [how(cpu, base) for cpu, base in zip(results[name]['cpu'],
                                                         results[against]['cpu'])]
            return (how(summary[name]['cpu'], summary[against]['cpu']), min(each), max(each))

        def times(cpu, base):
            return cpu / base

        def extra_ms(cpu, base):
            return (cpu - base) / 1000.0

        print('\nmilter CPU per message (medians of this run; in brackets the lowest and '
              'highest repetition):')
        print('  cache hit     %.2fx null     [%.2f-%.2f]  (target <= 1.15x)'
              % compare('smf-spf hit', 'null milter', times))
        print('  cache miss    %+.2f ms null  [%+.2f %+.2f] (target <= +0.80 ms)'
              % compare('smf-spf miss', 'null milter', extra_ms))
        print('  cache miss    %.2fx pyspf-milter miss [%.2f-%.2f] (target <= 1.00x)'
              % compare('smf-spf miss', 'pyspf-milter miss', times))
        print('  whitelisted   %.2fx null     [%.2f-%.2f]  (target <= 0.40x)'
              % compare('smf-spf wl', 'null milter', times))
        print('  pyspf-milter  hit %.2fx null, miss %+.2f ms null, whitelisted %.2fx null'
              % (compare('pyspf-milter hit', 'null milter', times)[0],
                 compare('pyspf-milter miss', 'null milter', extra_ms)[0],
                 compare('pyspf-milter wl', 'null milter', times)[0]))

        print('\none session at a time, %d messages, ms per message (median):' % args.single)
        for listener in ('none', 'null', 'spf', 'peer'):
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
