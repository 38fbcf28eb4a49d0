"""Real services on loopback for the end-to-end tests: nsd, smtp-sink, smf-spf, Postfix."""

import contextlib
import os
import re
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
# a slow DNS server (tests/slowdns.py) answers here, port 53, for the timeout tests: the
# second octet of DNS_ADDRESS raised by one unless SMF_SPF_E2E_SLOW_DNS says
SLOW_DNS_ADDRESS = os.environ.get('SMF_SPF_E2E_SLOW_DNS', '.'.join(
    part if index != 1 else str(int(part) + 1)
    for index, part in enumerate(DNS_ADDRESS.split('.'))))


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


def wait_for_text(read, text, timeout, what):
    """Until read() holds text; AssertionError with all it holds after timeout seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if text in read():
            return
        time.sleep(0.1)
    raise AssertionError('%r not in %s:\n%s' % (text, what, read()))


def wait_for_unix_socket(path, process, timeout=20.0, what='service'):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError('%s exited with %s before listening' % (what, process.returncode))
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
            return
        except (OSError, socket.error):
            time.sleep(0.1)
        finally:
            probe.close()
    raise RuntimeError('%s did not listen on %s within %ss' % (what, path, timeout))


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
    # nsd.conf's remote-control: section
    REMOTE_CONTROL = '  control-enable: no\n'

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
                      'remote-control:\n%s'
                      % (DNS_ADDRESS, self.directory, self.directory, self.directory,
                         self.directory, self.directory, self.SERVER_OPTIONS,
                         self.REMOTE_CONTROL))
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
    """smf-spf itself, in the foreground, on a loopback inet socket (or, with
    unix_socket=PATH, that one); `args` are more command-line options, `env` more
    environment variables."""

    def __init__(self, directory, *extra_lines, **options):
        self.directory = directory
        self.args = list(options.get('args', ()))
        self.env = dict(options.get('env', {}))
        self.unix_socket = options.get('unix_socket')
        self.port = None if self.unix_socket else free_port()
        self.socket = ('unix:%s' % self.unix_socket if self.unix_socket
                       else 'inet:%d@127.0.0.1' % self.port)
        self.log_path = os.path.join(directory, 'smf-spf.log')
        self.conf = os.path.join(directory, 'smf-spf.conf')
        lines = ['Socket %s' % self.socket, 'Nameservers %s' % DNS_ADDRESS,
                 'LogTo %s' % self.log_path, 'Syslog none', 'SPFTimeout 5',
                 'User %s' % ('nobody' if os.getuid() == 0 else 'root')]
        # a key in extra_lines replaces the default line for it (no repeated-key warning)
        given = set(line.split(None, 1)[0].lower() for line in extra_lines if line.strip())
        lines = [line for line in lines if line.split(None, 1)[0].lower() not in given]
        lines += list(extra_lines)
        with open(self.conf, 'w') as out:
            out.write('\n'.join(lines) + '\n')
        self.process = None

    def start(self):
        env = dict(os.environ)
        env.update(self.env)
        command = [sys.executable, '-m', 'smf_spf', '-f', '-c', self.conf] + self.args
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE)
        try:
            if self.unix_socket:
                wait_for_unix_socket(self.unix_socket, self.process, what='smf-spf')
            else:
                wait_for_port('127.0.0.1', self.port, self.process, what='smf-spf')
        except RuntimeError:
            out, err = self.stop()
            raise RuntimeError('smf-spf did not start: %s' % err.decode('utf-8', 'replace'))
        return self

    def log(self):
        with open(self.log_path) as handle:
            return handle.read()

    def wait_for_log(self, text, timeout=15.0):
        wait_for_text(self.log, text, timeout, 'smf-spf log')

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
        os.chown(self.data_dir, *ids('postfix'))
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
        for attempt in range(3):
            with open(os.path.join(self.config_dir, 'master.cf'), 'w') as out:
                out.write(MASTER_CF.format(smtpd_port=self.port))
            self.postfix('check')
            try:
                self.postfix('start')
                break
            except RuntimeError as exc:
                # free_port's port was taken before master bound it (another connection's
                # ephemeral port, on IPv4 or ::1): another port, not a failed test
                if 'Address already in use' not in str(exc) or attempt == 2:
                    raise
                self.port = free_port()
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


@contextlib.contextmanager
def mail_path_with(workdir, name, *config_lines, **options):
    """smtp-sink <- Postfix <- smf-spf with these config lines, in workdir/name."""
    directory = os.path.join(workdir, name)
    os.makedirs(directory)
    os.chmod(directory, 0o755)
    sink = SmtpSink(directory).start()
    milter = postfix = None
    try:
        milter = Milter(directory, *config_lines, **options).start()
        postfix = Postfix(directory, milter.port, sink.port).start()
        yield postfix, milter, sink
    finally:
        if postfix is not None:
            postfix.stop()
        if milter is not None:
            milter.stop()
        sink.stop()


def ids(user):
    import pwd
    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


# -- Sendmail --------------------------------------------------------------------
# Debian's sendmail-bin conflicts with postfix as a package, so the tests run it unpacked
# (dpkg -x, never installed) from here: `make sendmail` or the first Sendmail fixture
# fills it.
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SENDMAIL_ROOT = os.environ.get('SMF_SPF_SENDMAIL_ROOT', os.path.join(REPO, 'build', 'sendmail'))
# the binary and the m4 files its config is generated from; nothing of sendmail-base is used
SENDMAIL_PACKAGES = ('sendmail-bin', 'sendmail-cf')
SENDMAIL_BINARY = 'usr/libexec/sendmail/sendmail'
SENDMAIL_CF_DIR = 'usr/share/sendmail/cf/'


SENDMAIL_DOC = os.path.join(REPO, 'docs', 'sendmail.md')
_FILTER_LINE = re.compile(r"^INPUT_MAIL_FILTER\(`smf-spf', `S=[^,']+, ([^']+)'\)dnl$", re.M)


def recommended_filter_options():
    """INPUT_MAIL_FILTER's options after S= (F=, T=) as docs/sendmail.md recommends them:
    the tests wire Sendmail as the documentation says."""
    with open(SENDMAIL_DOC) as handle:
        found = _FILTER_LINE.search(handle.read())
    if found is None:
        raise RuntimeError('no INPUT_MAIL_FILTER line in %s' % SENDMAIL_DOC)
    return found.group(1)


def unpack_sendmail(directory=SENDMAIL_ROOT):
    """Download SENDMAIL_PACKAGES with apt-get, unpack them into directory/root and
    install the libraries the binary needs; the root (already there: at once). apt-get
    update runs first when the package lists do not know them (a fresh machine)."""
    root = os.path.join(directory, 'root')
    if all(os.path.exists(os.path.join(root, name))
           for name in (SENDMAIL_BINARY, SENDMAIL_CF_DIR + 'm4/cf.m4', 'VERSION')):
        return root
    debs = os.path.join(directory, 'debs')
    for path in (debs, root + '.new'):
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path)
    download = [need('apt-get'), '-q', 'download'] + list(SENDMAIL_PACKAGES)
    done = subprocess.run(download, cwd=debs, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True)
    if done.returncode:
        subprocess.run([need('apt-get'), '-q', 'update'], check=True)
        done = subprocess.run(download, cwd=debs, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, universal_newlines=True)
    if done.returncode:
        raise RuntimeError('apt-get download %s failed: %s'
                           % (' '.join(SENDMAIL_PACKAGES), done.stdout))
    for name in sorted(os.listdir(debs)):
        if name.endswith('.deb'):
            subprocess.run([need('dpkg-deb'), '-x', os.path.join(debs, name), root + '.new'],
                           check=True)
        if name.startswith(SENDMAIL_PACKAGES[0] + '_'):
            fields = dict((field, _deb_field(os.path.join(debs, name), field))
                          for field in ('Version', 'Depends'))
    _install_libraries(fields['Depends'])
    with open(os.path.join(root + '.new', 'VERSION'), 'w') as out:
        out.write(fields['Version'] + '\n')
    shutil.rmtree(root, ignore_errors=True)
    os.rename(root + '.new', root)
    return root


def _deb_field(deb, field):
    return subprocess.run([need('dpkg-deb'), '-f', deb, field], check=True,
                          stdout=subprocess.PIPE, universal_newlines=True).stdout.strip()


def _install_libraries(depends):
    """Install the shared libraries sendmail-bin depends on (its Depends field's lib*
    packages) that are missing: they do not conflict with Postfix."""
    wanted = [re.split(r'[\s(:]', group.split('|')[0].strip(), 1)[0]
              for group in depends.split(',')]
    missing = [name for name in wanted if name.startswith('lib') and subprocess.run(
        [need('dpkg-query'), '-W', '-f', '${Status}', name], stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, universal_newlines=True).stdout != 'install ok installed']
    if missing:
        subprocess.run([need('apt-get'), 'install', '-y', '-q', '--no-install-recommends']
                       + missing, check=True, env=dict(os.environ,
                                                       DEBIAN_FRONTEND='noninteractive'))


def sendmail_version():
    """The Debian version of the unpacked sendmail-bin."""
    with open(os.path.join(unpack_sendmail(), 'VERSION')) as handle:
        return handle.read().strip()


def m4_quoted(text):
    """text as one m4 string in sendmail-cf's quotes; refused where it would not stay one
    (a quote character, or a comma that would split a macro argument)."""
    if any(c in text for c in "`',\n#"):
        raise ValueError('%r cannot be quoted for m4 here' % text)
    return '`%s\'' % text


class SyslogSink(object):
    """A /dev/log of our own (a unix datagram socket) that keeps what is logged to it."""

    def __init__(self, path):
        self.path = path
        self.lines = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        os.chmod(path, 0o666)
        import threading
        self.thread = threading.Thread(target=self._serve)
        self.thread.daemon = True
        self.thread.start()

    def _serve(self):
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            self.lines.append(data.decode('utf-8', 'replace').rstrip('\n\0'))

    def text(self):
        return '\n'.join(self.lines)

    def stop(self):
        self.sock.close()


class Sendmail(object):
    """A private Sendmail daemon on a free loopback port, relaying everything to smtp-sink
    and filtering through the milter at `milter_socket` (Sendmail's S= form, as Milter's
    `socket`; None: no milter) with `filter_options` (INPUT_MAIL_FILTER's second argument
    after S=, e.g. 'F=T, T=R:30s').

    It runs in namespaces of its own (unshare): its hostname is mx.receiver.test, so it
    does not wait for a qualified name; /etc/resolv.conf names only the test nsd, so no
    lookup leaves loopback; /dev/log is a SyslogSink, so its log lines can be read."""

    HOSTNAME = 'mx.receiver.test'

    def __init__(self, directory, milter_socket, sink_port, filter_options, name='sendmail'):
        self.directory = os.path.join(directory, name)
        self.port = free_port()
        self.milter_socket = milter_socket
        self.sink_port = sink_port
        self.filter_options = filter_options
        self.process = None
        self.syslog = None

    def path(self, *names):
        return os.path.join(self.directory, *names)

    def mc(self, cf_dir):
        define = lambda name, value: 'define(%s, %s)dnl\n' % (m4_quoted(name), m4_quoted(value))
        mailer_args = 'TCP $h %d' % self.sink_port
        return ''.join([
            'divert(-1)\ndivert(0)dnl\n',
            'include(%s)dnl\n' % m4_quoted(os.path.join(cf_dir, 'm4', 'cf.m4')),
            'VERSIONID(`smf-spf-py end-to-end tests\')dnl\n',
            'OSTYPE(`linux\')dnl\n',
            define('QUEUE_DIR', self.path('queue')),
            define('ALIAS_FILE', self.path('aliases')),
            define('STATUS_FILE', self.path('statistics')),
            define('confPID_FILE', self.path('sendmail.pid')),
            define('confSERVICE_SWITCH_FILE', self.path('service.switch')),
            define('confHOSTS_FILE', self.path('hosts')),
            define('confDONT_PROBE_INTERFACES', 'true'),
            define('confLOG_LEVEL', '14'),
            define('confMILTER_LOG_LEVEL', '14'),
            define('SMART_HOST', '[127.0.0.1]'),
            define('RELAY_MAILER_ARGS', mailer_args),
            define('ESMTP_MAILER_ARGS', mailer_args),
            'FEATURE(`no_default_msa\')dnl\n',      # no port 587 on every address
            'FEATURE(`nocanonify\')dnl\n',
            'FEATURE(`accept_unresolvable_domains\')dnl\n',
            'RELAY_DOMAIN(`receiver.test\')dnl\n',
            'DAEMON_OPTIONS(`Port=%d, Addr=127.0.0.1, Name=MTA\')dnl\n' % self.port,
            # the wiring under test, as docs/sendmail.md writes it; none: no milter
            "INPUT_MAIL_FILTER(`smf-spf', `S=%s, %s')dnl\n" % (self.milter_socket,
                                                               self.filter_options)
            if self.milter_socket else '',
            'MAILER(`local\')dnl\nMAILER(`smtp\')dnl\n',
        ])

    def start(self):
        root = unpack_sendmail()
        cf_dir = os.path.join(root, SENDMAIL_CF_DIR)
        os.makedirs(self.path('queue'))
        os.chmod(self.path('queue'), 0o700)
        os.makedirs(self.path('dev'))
        files = {
            'sendmail.mc': self.mc(cf_dir),
            'aliases': '',
            'statistics': '',
            # hosts from the file below only: no DNS for names, none for its own
            'service.switch': 'hosts files\naliases files\n',
            'hosts': '127.0.0.1 localhost %s\n::1 localhost\n' % self.HOSTNAME,
            'resolv.conf': 'nameserver %s\n' % DNS_ADDRESS,
        }
        for name, text in files.items():
            with open(self.path(name), 'w') as out:
                out.write(text)
        with open(self.path('sendmail.cf'), 'w') as out:
            done = subprocess.run([need('m4'), '-D_CF_DIR_=' + cf_dir,
                                   os.path.join(cf_dir, 'm4', 'cf.m4'), self.path('sendmail.mc')],
                                  stdout=out, stderr=subprocess.PIPE, universal_newlines=True)
        if done.returncode or done.stderr.strip():
            raise RuntimeError('m4 failed on %s: %s' % (self.path('sendmail.mc'), done.stderr))
        # a copy without the setgid bit, its own file
        shutil.copyfile(os.path.join(root, SENDMAIL_BINARY), self.path('sendmail'))
        os.chmod(self.path('sendmail'), 0o755)
        self.syslog = SyslogSink(self.path('dev', 'log'))
        self.process = subprocess.Popen(
            [need('unshare'), '--uts', '--mount', '--propagation', 'private',
             need('sh'), '-ec', self._namespace_script()],
            stdout=open(self.path('sendmail.out'), 'w'), stderr=subprocess.STDOUT)
        try:
            wait_for_port('127.0.0.1', self.port, self.process, what='sendmail')
        except RuntimeError:
            raise RuntimeError('sendmail did not start: %s\n%s' % (
                open(self.path('sendmail.out')).read(), self.syslog.text()))
        return self

    def _namespace_script(self):
        """The shell lines run inside the new namespaces, then sendmail in their place."""
        import shlex
        dev = self.path('dev')
        lines = ['hostname %s' % shlex.quote(self.HOSTNAME),
                 'mount --bind %s /etc/resolv.conf' % shlex.quote(self.path('resolv.conf'))]
        for device in ('null', 'zero', 'random', 'urandom'):
            target = os.path.join(dev, device)
            lines.append(': > %s' % shlex.quote(target))
            lines.append('mount --bind /dev/%s %s' % (device, shlex.quote(target)))
        lines.append('mount --rbind %s /dev' % shlex.quote(dev))
        lines.append('exec %s -bD -C %s' % (shlex.quote(self.path('sendmail')),
                                            shlex.quote(self.path('sendmail.cf'))))
        return '\n'.join(lines)

    def log(self):
        return self.syslog.text() if self.syslog is not None else ''

    def wait_for_log(self, text, timeout=15.0):
        """Sendmail's processes log over a socket: a line may come after the SMTP reply."""
        wait_for_text(self.log, text, timeout, 'Sendmail log')

    def stop(self):
        stop(self.process)
        if self.syslog is not None:
            self.syslog.stop()


if __name__ == '__main__':
    # `python tests/e2e/services.py sendmail [DIRECTORY]`: unpack Sendmail for the tests
    if sys.argv[1:2] != ['sendmail']:
        sys.exit('usage: %s sendmail [DIRECTORY]' % sys.argv[0])
    print(unpack_sendmail(*sys.argv[2:3]))
