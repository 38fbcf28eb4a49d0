"""Real services on loopback for the end-to-end tests: nsd, smtp-sink, smf-spf, Postfix."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

# nsd answers here, port 53; nothing else on the machine does. Parallel runs (one per
# checkout) each pick their own loopback address with SMF_SPF_E2E_DNS.
DNS_ADDRESS = os.environ.get('SMF_SPF_E2E_DNS', '127.53.53.53')
ZONE = 'e2e.test'


def free_port():
    probe = socket.socket()
    probe.bind(('127.0.0.1', 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def wait_for_port(host, port, process, timeout=20.0, what='service'):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError('%s exited with %s before listening' % (what, process.returncode))
        try:
            socket.create_connection((host, port), 0.5).close()
            return
        except (OSError, socket.error):
            time.sleep(0.1)
    raise RuntimeError('%s did not listen on %s:%d within %ss' % (what, host, port, timeout))


def need(program):
    path = shutil.which(program) or shutil.which(program, path='/usr/sbin:/usr/bin:/sbin')
    if path is None:
        raise RuntimeError('%s is not installed (.ci/run installs it)' % program)
    return path


def stop(process, sig=signal.SIGTERM, timeout=10.0):
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# What the C project's miltertest suite (its facts are the table in c_cases.py) expects of
# the C author's domain, rebuilt from what each case asserts: underspell.com passes the
# addresses its pass cases connect from (or are NATed/fixed to) and fails the rest.
C_SUITE_ZONES = {
    'underspell.com': [
        ('@', 'TXT', '"v=spf1 ip4:54.194.147.141 ip4:54.194.157.134 ip4:54.154.126.152 '
                     'ip4:54.154.127.152 -all"'),
        ('neutral', 'TXT', '"v=spf1 ?all"'),
        ('softfail', 'TXT', '"v=spf1 ~all"'),
        ('nospf', 'A', '192.0.2.80'),
        ('helo', 'TXT', '"v=spf1 ip4:10.11.12.13 -all"'),
        ('badspf', 'TXT', '"v=spf1 redirect:badspf.underspell.com"'),
        ('badspf2', 'TXT', '"v=spf1 "'),
    ],
}


class Nsd(object):
    """nsd serving the test zone on DNS_ADDRESS:53."""

    RECORDS = [
        ('pass', 'TXT', '"v=spf1 ip4:127.0.0.0/8 -all"'),
        ('fail', 'TXT', '"v=spf1 ip4:192.0.2.0/24 -all"'),
        ('softfail', 'TXT', '"v=spf1 ~all"'),
        ('neutral', 'TXT', '"v=spf1 ?all"'),
        ('permerror', 'TXT', '"v=spf1 ip4:not-an-address -all"'),
        ('client', 'TXT', '"v=spf1 ip4:127.0.0.1 -all"'),
        ('pass6', 'TXT', '"v=spf1 ip6:::1 -all"'),
        ('fail6', 'TXT', '"v=spf1 ip6:2001:db8::/32 -all"'),
        ('nospf', 'A', '192.0.2.80'),
        # a fresh victim per test (<anything>.victim): no test finds another's cached result
        ('*.victim', 'TXT', '"v=spf1 -all"'),
        # --explain (test_explain_postfix): three includes deep to 192.0.2.0/24, three void
        # lookups before a match, and an include of a name nsd refuses (temperror)
        ('chain', 'TXT', '"v=spf1 include:chain2.e2e.test -all"'),
        ('chain2', 'TXT', '"v=spf1 include:chain3.e2e.test ~all"'),
        ('chain3', 'TXT', '"v=spf1 include:chain4.e2e.test ?all"'),
        ('chain4', 'TXT', '"v=spf1 ip4:192.0.2.0/24 -all"'),
        ('voidlimit', 'TXT', '"v=spf1 a:v1.voidlimit.e2e.test a:v2.voidlimit.e2e.test '
                             'a:v3.voidlimit.e2e.test ip4:127.0.0.0/8 -all"'),
        ('tempfail', 'TXT', '"v=spf1 include:unserved.example -all"'),
    ]
    # extra nsd.conf server: lines
    SERVER_OPTIONS = ''

    def __init__(self, directory):
        self.directory = directory
        self.process = None

    def start(self):
        nsd = need('nsd')
        zones = [(ZONE, self.RECORDS)] + sorted(C_SUITE_ZONES.items())
        for origin, records in zones:
            with open(os.path.join(self.directory, origin + '.zone'), 'w') as out:
                out.write('$ORIGIN %s.\n$TTL 60\n' % origin)
                out.write('@ IN SOA ns.%s. hostmaster.%s. 1 3600 600 86400 60\n'
                          % (origin, origin))
                out.write('@ IN NS ns.%s.\nns IN A %s\n' % (origin, DNS_ADDRESS))
                for name, rtype, data in records:
                    out.write('%s IN %s %s\n' % (name, rtype, data))
        conf = os.path.join(self.directory, 'nsd.conf')
        with open(conf, 'w') as out:
            out.write('server:\n'
                      '  ip-address: %s\n  port: 53\n  username: ""\n  chroot: ""\n'
                      '  zonesdir: "%s"\n  pidfile: "%s/nsd.pid"\n  database: ""\n'
                      '  zonelistfile: "%s/zone.list"\n  xfrdfile: "%s/xfrd.state"\n'
                      '  logfile: "%s/nsd.log"\n  server-count: 1\n  verbosity: 2\n'
                      '%s'
                      'remote-control:\n  control-enable: no\n'
                      % (DNS_ADDRESS, self.directory, self.directory, self.directory,
                         self.directory, self.directory, self.SERVER_OPTIONS))
            for origin, _ in zones:
                out.write('zone:\n  name: %s\n  zonefile: %s.zone\n' % (origin, origin))
        self.process = subprocess.Popen([nsd, '-d', '-c', conf])
        self._wait_ready()
        return self

    def _wait_ready(self, timeout=20.0):
        import dns.message
        import dns.query
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError('nsd exited with %s; see %s/nsd.log'
                                   % (self.process.returncode, self.directory))
            try:
                query = dns.message.make_query('pass.%s' % ZONE, 'TXT')
                dns.query.udp(query, DNS_ADDRESS, timeout=0.5)
                return
            except Exception:
                time.sleep(0.2)
        raise RuntimeError('nsd did not answer on %s' % DNS_ADDRESS)

    def stop(self):
        stop(self.process)


class SmtpSink(object):
    """Postfix's smtp-sink: accepts everything and dumps each message to a file."""

    def __init__(self, directory):
        self.directory = os.path.join(directory, 'sink')
        os.makedirs(self.directory)
        os.chmod(self.directory, 0o777)
        self.port = free_port()
        self.process = None

    def start(self):
        sink = need('smtp-sink')
        command = [sink, '-u', 'postfix', '-d', self.directory + '/%M.', '-h', 'sink.test',
                   '127.0.0.1:%d' % self.port, '10']
        self.process = subprocess.Popen(command)
        wait_for_port('127.0.0.1', self.port, self.process, what='smtp-sink')
        return self

    def messages(self):
        found = []
        for name in sorted(os.listdir(self.directory)):
            with open(os.path.join(self.directory, name), 'rb') as handle:
                found.append(handle.read().decode('utf-8', 'replace'))
        return found

    def wait_for(self, marker, timeout=30.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for message in self.messages():
                if marker in message:
                    return message
            time.sleep(0.2)
        raise AssertionError('no message with %r reached the sink in %ss' % (marker, timeout))

    def stop(self):
        stop(self.process)


class Milter(object):
    """smf-spf itself, in the foreground, on a loopback inet socket; `args` are more
    command-line options."""

    def __init__(self, directory, *extra_lines, **options):
        self.directory = directory
        self.args = list(options.get('args', ()))
        self.port = free_port()
        self.log_path = os.path.join(directory, 'smf-spf.log')
        self.conf = os.path.join(directory, 'smf-spf.conf')
        lines = ['Socket inet:%d@127.0.0.1' % self.port, 'Nameservers %s' % DNS_ADDRESS,
                 'LogTo %s' % self.log_path, 'Syslog none', 'SPFTimeout 5',
                 'User %s' % ('nobody' if os.getuid() == 0 else 'root')] + list(extra_lines)
        with open(self.conf, 'w') as out:
            out.write('\n'.join(lines) + '\n')
        self.process = None

    def start(self):
        env = dict(os.environ)
        command = [sys.executable, '-m', 'smf_spf', '-f', '-c', self.conf] + self.args
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE)
        try:
            wait_for_port('127.0.0.1', self.port, self.process, what='smf-spf')
        except RuntimeError:
            out, err = self.stop()
            raise RuntimeError('smf-spf did not start: %s' % err.decode('utf-8', 'replace'))
        return self

    def log(self):
        with open(self.log_path) as handle:
            return handle.read()

    def wait_for_log(self, text, timeout=15.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if text in self.log():
                return
            time.sleep(0.1)
        raise AssertionError('%r not in smf-spf log:\n%s' % (text, self.log()))

    def stop(self):
        stop(self.process)
        if self.process is not None:
            return self.process.communicate()
        return b'', b''


MASTER_CF = '''\
127.0.0.1:{smtpd_port} inet n - n - - smtpd
[::1]:{smtpd_port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
'''


class Postfix(object):
    """A private Postfix instance: own config and queue directories, loopback only."""

    def __init__(self, directory, milter_port, sink_port):
        self.directory = directory
        self.config_dir = os.path.join(directory, 'postfix-etc')
        self.queue_dir = os.path.join(directory, 'postfix-queue')
        self.data_dir = os.path.join(directory, 'postfix-data')
        self.maillog = os.path.join(directory, 'postfix.log')
        self.port = free_port()
        self.milter_port = milter_port
        self.sink_port = sink_port

    def postfix(self, *args):
        done = subprocess.run([need('postfix'), '-c', self.config_dir] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True, timeout=60)
        if done.returncode:
            raise RuntimeError('postfix %s failed (%d): %s\n%s' % (
                ' '.join(args), done.returncode, done.stdout, self.log()))
        return done

    def start(self):
        for path in (self.config_dir, self.queue_dir, self.data_dir):
            os.makedirs(path)
        os.chown(self.data_dir, *_ids('postfix'))
        main_cf = {
            'compatibility_level': '3.6',
            'queue_directory': self.queue_dir,
            'data_directory': self.data_dir,
            'mail_owner': 'postfix',
            'setgid_group': 'postdrop',
            'myhostname': 'mx.receiver.test',
            'mydomain': 'receiver.test',
            'mydestination': '',
            'inet_interfaces': '127.0.0.1, [::1]',
            'inet_protocols': 'all',
            'mynetworks': '127.0.0.0/8, [::1]/128',
            'relay_domains': 'receiver.test',
            'relay_transport': 'relay:[127.0.0.1]:%d' % self.sink_port,
            'default_transport': 'error:no outside delivery in tests',
            'smtpd_milters': 'inet:127.0.0.1:%d' % self.milter_port,
            'milter_default_action': 'tempfail',
            'smtpd_peername_lookup': 'no',
            'smtp_dns_support_level': 'disabled',
            'maillog_file': self.maillog,
            'maillog_file_prefixes': self.directory,
            'alias_maps': '',
            'alias_database': '',
            'biff': 'no',
            'smtputf8_enable': 'no',
        }
        with open(os.path.join(self.config_dir, 'main.cf'), 'w') as out:
            for key, value in main_cf.items():
                out.write('%s = %s\n' % (key, value))
        with open(os.path.join(self.config_dir, 'master.cf'), 'w') as out:
            out.write(MASTER_CF.format(smtpd_port=self.port))
        self.postfix('check')
        self.postfix('start')
        wait_for_port('127.0.0.1', self.port, None, what='postfix smtpd')
        return self

    def log(self):
        try:
            with open(self.maillog) as handle:
                return handle.read()
        except IOError:
            return ''

    def stop(self):
        try:
            self.postfix('stop')
        except Exception:
            pass


def _ids(user):
    import pwd
    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid
