"""The smf-spf process: command line, config, logging, privileges, socket, serving.

    smf-spf [-f] [-c FILE] [-n] [-h] [-t] [-V]
    smf-spf [-c FILE] [-n] [--mta NAME] [--fqdn NAME] --explain CLIENT_IP SENDER [HELO] [RCPT...]
"""

import errno
import getopt
import grp
import marshal
import os
import pwd
import socket
import stat
import sys

# Everything the process will use is imported here, at the top, before it switches to
# User: that user may not be able to read this tree or the interpreter's (a checkout in
# root's home), and an import after the switch fails there (tests/test_privileges.py).
from smf_spf import interpose
# The C layer between libmilter and pymilter (the macro guard, TCP_QUICKACK) goes in
# before pymilter's milter.so is loaded, or milter.so never calls it: see
# smf_spf/interpose.py. None for each in effect, else why not (logged by
# build_services and serve).
GUARD_PROBLEM, QUICKACK_PROBLEM = interpose.install()
from smf_spf.milter import (EXCEPTION_POLICY, EXCEPTION_POLICY_NAME, FLAGS,
                            HEADERS_READ, UNDECODED, Services, SpfMilter,
                            adopt_sessionless_context, guard_protocol_mask)
import Milter

from smf_spf import (__version__, c_rules, config as configuration, dnscache, signals, symguard,
                     tcpack)
from smf_spf.cache import ResultCache
from smf_spf.listener import nodelay_once_listening
from smf_spf.logsetup import (NOTICE, STANDARD_STREAMS, open_log_to, setup as setup_logging,
                              switch_log_to, switch_syslog_facility)
from smf_spf.metrics import MetricsServer, PrometheusMetrics
from smf_spf.reload import Live, Reloader, changed_fields, shown
from smf_spf.spfcheck import CachedChecker, SpfChecker, preload_dns_modules, use_nameservers

USAGE = ('Usage: smf-spf [-f] [-c <config file>] [-n] [-t] [-V] [-h]\n'
         '       smf-spf [-c <config file>] [-n] [--mta NAME] [--fqdn NAME] --explain '
         'CLIENT_IP SENDER [HELO] [RCPT...]\n')
HELP = USAGE + '''  -f        stay in the foreground (also: Daemonize off)
  -n        dry run (also: DryRun on): decide and log, refuse nothing
  -c FILE   config file (default %s)
  -t        check the config file and exit: 0 when valid, 1 with FILE:LINE: reason
  -V        print the version and exit
  -h        print this help and exit
  --explain CLIENT_IP SENDER [HELO] [RCPT...]
            what the daemon would do with this message and why, with this config and
            live DNS, step by step; no mail is sent. SENDER <> (or '') for a bounce.
            Exit status: 0 accepted, 2 refused, 3 tempfailed, 1 could not run
  --mta NAME   with --explain: the MTA's name ({j}; default this host's name)
  --fqdn NAME  with --explain: the client's host name as the MTA names it (default:
            its PTR name when forward-confirmed, else [CLIENT_IP])
''' % configuration.DEFAULT_PATH


class Fatal(Exception):
    """A problem that stops start-up: printed to stderr, exit status 1."""


def parse_args(argv):
    """The options as a dict; --explain's arguments under '--explain'."""
    try:
        options, rest = getopt.getopt(argv, 'fhntVc:', ['explain', 'mta=', 'fqdn='])
    except getopt.GetoptError as exc:
        raise Fatal('%s\n%s' % (exc, USAGE.rstrip()))
    options = dict(options)
    if '--explain' in options:
        options['--explain'] = rest
    elif rest:
        raise Fatal('unexpected argument %r\n%s' % (rest[0], USAGE.rstrip()))
    elif '--mta' in options or '--fqdn' in options:
        raise Fatal('--mta and --fqdn go with --explain\n%s' % USAGE.rstrip())
    return options


def explain(path, explicit, options):
    """--explain: the config's problems on stderr, the explanation on stdout."""
    from smf_spf import explain as explaining
    loaded = read_config(path, explicit)
    for problem in loaded.problems:
        sys.stderr.write('%s\n' % problem)
    try:
        return explaining.main(with_options(loaded.config, options), path,
                               options['--explain'], options.get('--mta'),
                               options.get('--fqdn'))
    except explaining.UsageError as exc:
        raise Fatal('%s\n%s' % (exc, USAGE.rstrip()))


def read_config(path, explicit):
    try:
        return configuration.load(path)
    except configuration.ConfigFileError as exc:
        if explicit:
            raise Fatal(str(exc))
        loaded = configuration.parse_lines([], path)
        notice = configuration.Problem(path, 0, configuration.WARNING,
                                       '%s; running with the built-in defaults' % exc)
        return configuration.LoadResult(loaded.config, (notice,))


def user_problem(name):
    try:
        return None, pwd.getpwnam(name)
    except KeyError:
        return 'User %r does not exist' % name, None


def socket_problem(spec):
    """Why the milter socket cannot be opened, or None (checked before daemonizing)."""
    if spec.family == 'unix':
        directory = os.path.dirname(os.path.abspath(spec.address)) or '/'
        if not os.path.isdir(directory):
            return 'socket directory %s does not exist' % directory
        return None
    # a host name is resolved as libmilter does: inet6 may find an IPv4 address
    family = socket.AF_UNSPEC if spec.family == 'inet6' else socket.AF_INET
    try:
        found = socket.getaddrinfo(spec.address, spec.port, family, socket.SOCK_STREAM)
    except (OSError, socket.error) as exc:
        return 'cannot bind %s: host %s: %s' % (spec.text, spec.address, exc)
    found.sort(key=lambda info: info[0] != socket.AF_INET6)
    family, _, _, _, address = found[0]
    probe = socket.socket(family, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(address)
    except (OSError, socket.error) as exc:
        return 'cannot bind %s: %s' % (spec.text, exc)
    finally:
        probe.close()
    return None


def exposure_warnings(path):
    """What lets someone other than root change the config: warned about by -t and at
    start, never fatal (the Socket's reach is config.socket_warnings)."""
    warnings = []
    try:
        info = os.stat(path)
    except OSError:
        return warnings
    if info.st_mode & 0o022:
        warnings.append('%s is writable by %s: only root should be able to change it'
                        % (path, 'everyone' if info.st_mode & 0o002 else 'its group'))
    if info.st_uid != 0:
        try:
            owner = pwd.getpwuid(info.st_uid).pw_name
        except KeyError:
            owner = 'uid %d' % info.st_uid
        warnings.append('%s is owned by %s, not root: that user can change it' % (path, owner))
    return warnings


def config_report(path, explicit, open_log_to_too=True):
    """-t's check, also run by a reload: (LoadResult, problem lines, failed). A reload
    opens LogTo itself (open_log_to_too False): the file it has open may still serve."""
    loaded = read_config(path, explicit)
    problems = [str(p) for p in loaded.problems]
    failed = bool(loaded.errors)
    missing_user, entry = user_problem(loaded.config.user)
    if loaded.config.log_to and open_log_to_too:
        try:
            if loaded.config.log_to not in STANDARD_STREAMS:
                open_log_to(loaded.config.log_to, log_owner(entry)).close()
        except (IOError, OSError) as exc:
            problems.append('%s: fatal: LogTo %s cannot be opened: %s'
                            % (path, loaded.config.log_to, exc))
            failed = True
    problems.extend('%s: warning: %s' % (path, text)
                    for text in exposure_warnings(path))
    if missing_user:
        problems.append('%s: %s: %s' % (path, 'fatal' if os.getuid() == 0 else 'warning',
                                        missing_user))
        failed = failed or os.getuid() == 0
    elif open_log_to_too:
        problems.extend('%s: warning: %s' % (path, text)
                        for text in reach_warnings(entry, path, loaded.config.log_to))
    return loaded, problems, failed


def switches_to(entry):
    """Whether the daemon, started now, would switch to the user of pwd `entry`."""
    return entry is not None and os.getuid() == 0 and entry.pw_uid != 0


def log_owner(entry):
    """(uid, gid) for a LogTo file root creates: User's, who opens it again at a reload."""
    return (entry.pw_uid, entry.pw_gid) if switches_to(entry) else None


def reach_warnings(entry, path, log_to):
    """One line for each file the daemon opens again after its switch to User, at a
    reload (the config, read; LogTo, reopened), that this user cannot open: the path,
    the user and what to do. None without a switch (not root, or User root)."""
    if not switches_to(entry):
        return []
    user = entry.pw_name
    wanted = [(path, os.O_RDONLY)]
    if log_to and log_to not in STANDARD_STREAMS:
        wanted.append((log_to, os.O_WRONLY | os.O_APPEND))
    found = as_user(entry, lambda: [out_of_reach(target, flags) for target, flags in wanted])
    if found is None:
        return ['cannot check which files User %s can open: the check could not switch to it'
                % user]
    warnings = []
    for (target, _), why in zip(wanted, found):
        if why is None:
            continue
        blocker, reason = why
        if target == path:
            what, then = 'read this file', 'a reload (SIGHUP) fails'
            remedy = 'make it readable by %s (chgrp %s %s; chmod g+r %s)' % (
                user, group_name(entry.pw_gid), path, path)
        else:
            what = 'write LogTo %s' % target
            then = ('a reload (SIGHUP, logrotate) cannot reopen it and logs on to the file '
                    'opened at start')
            remedy = 'chown %s %s' % (user, target)
        if blocker:
            warnings.append('User %s cannot enter %s, so it cannot %s: %s; let %s search '
                            '%s, or move the file where %s can reach it'
                            % (user, blocker, what, then, user, blocker, user))
        else:
            warnings.append('User %s cannot %s (%s): %s; %s' % (user, what, reason, then,
                                                                remedy))
    return warnings


def group_name(gid):
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def out_of_reach(path, flags):
    """Why this process cannot open path with flags: (the first directory on the way
    it may not enter, or '', and the error), or None when it can, or when the file or a
    directory on the way does not exist (a missing file is reported elsewhere)."""
    try:
        os.close(os.open(path, flags))
        return None
    except OSError as exc:
        failure = exc
    # the directories the lookup of path enters, in order: from / or from the current one
    directory, ancestors = os.path.dirname(path) or '.', []
    while directory and directory not in ancestors:
        ancestors.insert(0, directory)
        directory = os.path.dirname(directory)
    if not os.path.isabs(path) and ancestors[0] != '.':
        ancestors.insert(0, '.')
    for directory in ancestors:
        if not os.path.isdir(directory):
            return None
        if not os.access(directory, os.X_OK):
            return directory, os.strerror(errno.EACCES)
    if failure.errno == errno.ENOENT:
        return None
    return '', failure.strerror or str(failure)


def as_user(entry, probe):
    """probe() run in a child process switched to the user of pwd `entry` (only root
    can): what it returns (marshal's types only), or None when the child failed. Call it
    while the process has no other thread (it forks)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            os.close(read)
            drop_privileges(entry)
            answer = marshal.dumps(probe())
            while answer:
                answer = answer[os.write(write, answer):]
            status = 0
        finally:
            os._exit(status)
    os.close(write)
    with os.fdopen(read, 'rb') as reader:
        answer = reader.read()
    _, status = os.waitpid(pid, 0)
    return marshal.loads(answer) if status == 0 else None


def check_config(path, explicit):
    """-t: every problem on stderr; 0 when there is no error."""
    loaded, problems, failed = config_report(path, explicit)
    for line in problems:
        sys.stderr.write(line + '\n')
    if loaded.compat:
        sys.stderr.write('compatibility: these lines do not act as in smf-spf 2.x:\n')
        for problem in loaded.compat:
            sys.stderr.write(str(problem) + '\n')
    for line in settings_lines(loaded.config):
        sys.stdout.write(line + '\n')
    sys.stdout.write(configuration.mta_timeout_rule(loaded.config.spf_timeout) + '\n')
    sys.stdout.write('%s: %s\n' % (path, 'invalid' if failed else 'OK'))
    return 1 if failed else 0


# -t's settings column: wide enough for most `Key value`, not for a long RejectReason
SETTING_WIDTH = 32


def settings_lines(config):
    """-t's account of the settings other than the built-in defaults: a heading, then one
    line per key in the key table's order, `  Key value  # what the key does`; a list key
    gives its number of entries for a value (a reload logs the entries themselves)."""
    settings = []
    for field in changed_fields(configuration.Config(), config):
        key = configuration.FIELD_KEYS[field]
        if field in configuration.LIST_FIELDS:
            count = len(config.list_entries[key])
            value = '(%d %s)' % (count, 'entry' if count == 1 else 'entries')
        else:
            value = shown(getattr(config, field))
        settings.append(('%s %s' % (key, value), configuration.ABOUT[field]))
    if not settings:
        return ['settings other than the defaults: none']
    return ['settings other than the defaults:'] + [
        '  %-*s  # %s' % (SETTING_WIDTH, setting, about) for setting, about in settings]


def with_options(conf, options):
    """The config with what the command line overrides: -n is DryRun on."""
    if '-n' in options:
        return conf._replace(dry_run=True)
    return conf


def drop_privileges(entry):
    os.setgroups([])
    os.initgroups(entry.pw_name, entry.pw_gid)
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)


def daemonize():
    if os.fork():
        os._exit(0)
    os.setsid()
    if os.fork():
        os._exit(0)
    os.chdir('/')
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    if null > 2:
        os.close(null)


def remove_stale_socket(spec):
    if spec.family != 'unix':
        return
    try:
        if stat.S_ISSOCK(os.lstat(spec.address).st_mode):
            os.unlink(spec.address)
    except OSError:
        pass


def answers_on(spec):
    """A milter (or anything) accepts connections on the unix socket spec names."""
    if spec.family != 'unix' or not os.path.exists(spec.address):
        return False
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(2)
    try:
        probe.connect(spec.address)
        return True
    except (OSError, socket.error):
        return False
    finally:
        probe.close()


def claim_socket(spec):
    """Remove a unix socket left by a crashed run; refuse one a live process answers on."""
    if answers_on(spec):
        raise Fatal('another process answers on %s: is smf-spf already running? '
                    'not starting' % spec.text)
    remove_stale_socket(spec)


def why_no_socket(spec):
    """Why libmilter could not open spec (it says only "cannot opensocket"): the
    error a bind of our own gets there, or ''."""
    if spec.family == 'unix':
        if answers_on(spec):
            return 'another process answers on %s' % spec.address
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.bind(spec.address)
        except (OSError, socket.error) as exc:
            return '%s: %s' % (spec.address, exc.strerror or exc)
        finally:
            probe.close()
        remove_stale_socket(spec)
        return ''
    problem = socket_problem(spec)
    return problem or ''


# compatibility notes logged at start (`-t` prints every one): 100,000 narrowed
# WhitelistFrom lines must not make 100,000 log lines at every start
MAX_LOGGED_COMPAT = 20


def _untrapped_to_log(log):
    """pymilter prints an exception raised outside our callbacks (e.g. in its own
    strict decoding) with sys.excepthook and answers the MTA with its exception policy:
    into the log with it. A command before CONNECT (no milter object for pymilter to
    call) is one short line for its session, without a traceback."""
    def report(kind, value, trace):
        if isinstance(value, AttributeError) and adopt_sessionless_context(trace):
            log.log(NOTICE, 'milter command before CONNECT (or after its session closed) '
                    'answered %s; so is the rest of that session', EXCEPTION_POLICY_NAME)
            return
        log.error('[ERROR] untrapped exception (the MTA is told %s: the message goes on, '
                  'that step unchecked): %s: %s',
                  EXCEPTION_POLICY_NAME, kind.__name__, c_rules.shown(str(value)),
                  exc_info=(kind, value, trace))
    return report

def new_cache(conf):
    return ResultCache(conf.ttl, conf.cache_size) if conf.ttl and conf.cache_size else None


def build_spf(conf, cache):
    """The SPF checker for conf, answering from cache (None: no cache)."""
    checker = SpfChecker(conf.spf_timeout, receiver=socket.gethostname(),
                         void_limit=conf.spf_void_limit,
                         fetch_exp=configuration.fetches_exp(conf))
    return CachedChecker(checker, cache, c_rules.is_cacheable)


def use_resolver(conf):
    """DNS through conf's Nameservers, or the system's (/etc/resolv.conf) when there are
    none, with SPFTimeout's tries and a fresh shared answer cache."""
    use_nameservers(conf.nameservers, conf.spf_timeout)
    dnscache.enable()


WORKER_POOL_WARNING = (
    '[WARNING] libmilter runs a worker pool: MAIL FROMs that arrive together are shared '
    'among the workers idle at that moment, the others wait for whole SPF checks, past '
    'SPFTimeout and possibly past the MTA\'s milter timeout (docs/libmilter.md)')


def build_services(conf, log, metrics=None):
    """Everything a connection needs; run before the switch to User, while the
    interpreter's files are readable: what dnspython and the codecs load lazily."""
    sys.excepthook = _untrapped_to_log(log)
    if GUARD_PROBLEM:
        log.warning('[WARNING] no guard for libmilter\'s macro lookup (%s): a malformed macro '
                    'frame can crash the milter; keep its socket reachable by the MTA only',
                    GUARD_PROBLEM)
    if symguard.libmilter_has_worker_pool():
        log.warning(WORKER_POOL_WARNING)
    preload_dns_modules()
    use_resolver(conf)
    dnscache.collect_rarely()
    return Services(conf, build_spf(conf, new_cache(conf)), log, metrics)


def serve(live, ident, foreground, reloader, signal_pipe, metrics_server=None):
    conf, log = live.services.config, live.services.log
    if not foreground:
        daemonize()
    # the MTA's group may use the socket (usermod -aG smfs postfix); others may not
    os.umask(0o007)
    # each connection gets the Services in use when it starts (a reload replaces them)
    Milter.factory = lambda: SpfMilter(live.services)
    Milter.set_flags(FLAGS)
    # a value pymilter cannot decode (not UTF-8) skips that one callback instead of
    # deferring the whole message with 451 4.3.0; see milter.UNDECODED
    Milter.set_exception_policy(EXCEPTION_POLICY)
    UNDECODED.install(log, per_thread=symguard.libmilter_has_worker_pool() is False)
    quickack_problem = None
    if conf.socket.family != 'unix':
        nodelay_once_listening(conf.socket.port, log=log)
        quickack_problem = tcpack.enable(QUICKACK_PROBLEM, guard_protocol_mask(True))
        if quickack_problem:
            log.warning('[WARNING] unanswered milter packets are not acknowledged at once (%s): '
                        'over TCP, Sendmail may wait about 40 ms for each stage; a unix socket '
                        'does not', quickack_problem)
    symguard.pass_on(headers=HEADERS_READ, data=False,   # see SpfMilter.data
                     negotiate_mask=guard_protocol_mask(quickack_problem is None))
    milter = signals.MilterThread(ident, conf.socket.text)
    try:
        stopped_by = signals.serve(
            signal_pipe, milter, log, reloader.reload,
            lambda: log.info('%s', live.status(milter.in_flight())),
            [metrics_server] if metrics_server is not None else [])
    finally:
        if milter.error is None:
            # ours only when libmilter served it: one it could not open may be another
            # instance's, taken between claim_socket and the open
            remove_stale_socket(conf.socket)
    if milter.error is not None:
        why = why_no_socket(conf.socket)
        reason = '%s (%s)' % (milter.error, why) if why else str(milter.error)
        log.error('[ERROR] terminated: cannot serve on %s: %s', conf.socket.text, reason)
        raise Fatal('cannot serve on %s: %s' % (conf.socket.text, reason))
    if stopped_by is None:
        # libmilter's own signal thread took a HUP, TERM or INT meant for us (see signals)
        log.error('[ERROR] terminated: libmilter stopped serving on %s though no TERM or INT '
                  'reached smf-spf', conf.socket.text)
        raise Fatal('libmilter stopped serving unasked')
    log.log(NOTICE, 'stopping %s %s listening on %s', ident, __version__, conf.socket.text)


def run(argv, ident):
    options = parse_args(argv)
    if '-h' in options:
        sys.stderr.write(HELP)
        return 0
    if '-V' in options:
        sys.stdout.write('smf-spf %s (smf-spf-py)\n' % __version__)
        return 0
    path = options.get('-c', configuration.DEFAULT_PATH)
    explicit = '-c' in options
    if '-t' in options:
        return check_config(path, explicit)
    if '--explain' in options:
        return explain(path, explicit, options)
    # from here on a HUP (say, systemctl reload right after start) waits to be acted on
    signal_pipe = signals.SignalPipe().install()
    loaded = read_config(path, explicit)
    conf = with_options(loaded.config, options)
    for problem in loaded.fatal:
        raise Fatal(str(problem))
    entry = None
    if os.getuid() == 0:
        missing, entry = user_problem(conf.user)
        if missing:
            raise Fatal('getpwnam %s: %s' % (conf.user, missing))
    log_stream = None
    if conf.log_to:
        try:
            log_stream = open_log_to(conf.log_to, log_owner(entry))
        except (IOError, OSError) as exc:
            raise Fatal('LogTo %s cannot be opened: %s' % (conf.log_to, exc))
    log = setup_logging(ident, conf.syslog, log_stream)
    for problem in loaded.problems:
        log.log(40 if problem.severity != configuration.WARNING else 30, '[CONFIG] %s', problem)
    for problem in loaded.compat[:MAX_LOGGED_COMPAT]:
        log.warning('[CONFIG] %s', problem)
    if len(loaded.compat) > MAX_LOGGED_COMPAT:
        log.warning('[CONFIG] %s: %d more lines do not act as in smf-spf 2.x: '
                    'smf-spf -t lists them all', path, len(loaded.compat) - MAX_LOGGED_COMPAT)
    for text in exposure_warnings(path) + reach_warnings(entry, path, conf.log_to):
        log.warning('[CONFIG] %s: warning: %s', path, text)
    foreground = '-f' in options or not conf.daemonize
    if not foreground:
        problem = socket_problem(conf.socket)
        if problem:
            raise Fatal(problem)
    log.info('starting %s %s listening on %s', ident, __version__, conf.socket.text)
    log.info('%s', configuration.mta_timeout_rule(conf.spf_timeout))
    if conf.dry_run:
        log.log(NOTICE, 'DryRun: every decision is logged, no message is refused')
    live = Live(None, path)
    metrics, metrics_server = start_metrics(conf, log, lambda: live.services.spf.cache)
    live.services = build_services(conf, log, metrics)
    reloader = reloader_for(live, log, options)
    claim_socket(conf.socket)
    become_user(entry, log)
    serve(live, ident, foreground, reloader, signal_pipe, metrics_server)
    return 0


def become_user(entry, log):
    """Run as the user of pwd `entry` from here on (None: not started as root). Nothing
    is imported after this point: that user may not be able to read the tree the
    modules come from (tests/test_privileges.py holds the daemon to it)."""
    if entry is not None:
        drop_privileges(entry)
        log.info('running as uid: %d, gid: %d', entry.pw_uid, entry.pw_gid)


def start_metrics(conf, log, current_cache):
    """(metrics, bound /metrics server) for MetricsListen, or (None, None). Metrics are
    not worth a stopped mail flow: a problem is logged and the milter runs without."""
    if conf.metrics_listen is None:
        return None, None
    try:
        metrics = PrometheusMetrics(current_cache)
        server = MetricsServer(conf.metrics_listen, metrics.registry)
    except ImportError as exc:
        log.error('[ERROR] MetricsListen %s: no metrics: %s (install prometheus_client)',
                  conf.metrics_listen.text, exc)
        return None, None
    except (OSError, IOError) as exc:
        log.error('[ERROR] MetricsListen %s: no metrics: cannot listen: %s',
                  conf.metrics_listen.text, exc)
        return None, None
    log.info('metrics on http://%s/metrics', conf.metrics_listen.text)
    return metrics, server


def reloader_for(live, log, options):
    def check(path):
        """-t's check of the new config, with the command line's overrides (-n) kept."""
        loaded, problems, failed = config_report(path, True, False)
        return loaded._replace(config=with_options(loaded.config, options)), problems, failed
    return Reloader(live, check=check,
                    build_spf=build_spf, new_cache=new_cache, use_resolver=use_resolver,
                    open_log_to=open_log_to,
                    switch_log_to=lambda stream: switch_log_to(log, stream),
                    switch_syslog=lambda facility: switch_syslog_facility(log, facility))


def main(argv=None):
    argv = sys.argv if argv is None else argv
    ident = os.path.basename(argv[0].rstrip('/')) or 'smf-spf'
    if ident in ('__main__.py', 'python', 'python3') or ident.startswith('python'):
        ident = 'smf-spf'
    try:
        return run(argv[1:], ident)
    except Fatal as exc:
        sys.stderr.write('smf-spf: %s\n' % exc)
        return 1


if __name__ == '__main__':
    sys.exit(main())
