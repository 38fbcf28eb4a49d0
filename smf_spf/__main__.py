"""The smf-spf process: command line, config, logging, privileges, socket, serving.

    smf-spf [-f] [-c FILE] [-h] [-t] [-V]
"""

import getopt
import os
import pwd
import socket
import sys

from smf_spf import __version__, config as configuration
from smf_spf.logsetup import NOTICE, STANDARD_STREAMS, open_log_to, setup as setup_logging

USAGE = 'Usage: smf-spf [-f] [-c <config file>] [-t] [-V] [-h]\n'
HELP = USAGE + '''  -f        stay in the foreground (also: Daemonize off)
  -c FILE   config file (default %s)
  -t        check the config file and exit: 0 when valid, 1 with FILE:LINE: reason
  -V        print the version and exit
  -h        print this help and exit
''' % configuration.DEFAULT_PATH


class Fatal(Exception):
    """A problem that stops start-up: printed to stderr, exit status 1."""


def parse_args(argv):
    try:
        options, rest = getopt.getopt(argv, 'fhtVc:')
    except getopt.GetoptError as exc:
        raise Fatal('%s\n%s' % (exc, USAGE.rstrip()))
    if rest:
        raise Fatal('unexpected argument %r\n%s' % (rest[0], USAGE.rstrip()))
    return dict(options)


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


def exposure_warnings(path, conf):
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


def check_config(path, explicit):
    """-t: every problem on stderr; 0 when there is no error."""
    loaded = read_config(path, explicit)
    problems = [str(p) for p in loaded.problems]
    failed = bool(loaded.errors)
    if loaded.config.log_to:
        try:
            if loaded.config.log_to not in STANDARD_STREAMS:
                open_log_to(loaded.config.log_to).close()
        except (IOError, OSError) as exc:
            problems.append('%s: fatal: LogTo %s cannot be opened: %s'
                            % (path, loaded.config.log_to, exc))
            failed = True
    problems.extend('%s: warning: %s' % (path, text)
                    for text in exposure_warnings(path, loaded.config))
    missing_user, _ = user_problem(loaded.config.user)
    if missing_user:
        problems.append('%s: %s: %s' % (path, 'fatal' if os.getuid() == 0 else 'warning',
                                        missing_user))
        failed = failed or os.getuid() == 0
    for line in problems:
        sys.stderr.write(line + '\n')
    if loaded.compat:
        sys.stderr.write('compatibility: these lines do not act as in smf-spf 2.x:\n')
        for problem in loaded.compat:
            sys.stderr.write(str(problem) + '\n')
    sys.stdout.write('%s: %s\n' % (path, 'invalid' if failed else 'OK'))
    return 1 if failed else 0


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
    import stat
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


def _untrapped_to_log(log):
    """pymilter prints an exception raised outside our callbacks (e.g. in its own
    strict decoding) with sys.excepthook and tells the MTA 451: into the log with it."""
    def report(kind, value, trace):
        log.error('[ERROR] untrapped exception (pymilter answers 451 4.3.0): %s: %s',
                  kind.__name__, value, exc_info=(kind, value, trace))
    return report


def build_services(conf, log):
    """Everything a connection needs; run before the switch to User, while the
    interpreter's files are readable (smf_spf.milter loads pymilter)."""
    from smf_spf import dnscache, policy
    from smf_spf.cache import ResultCache
    from smf_spf.milter import GUARD_PROBLEM, Services
    sys.excepthook = _untrapped_to_log(log)
    if GUARD_PROBLEM:
        log.warning('[WARNING] no guard for libmilter\'s macro lookup (%s): a malformed macro '
                    'frame can crash the milter; keep its socket reachable by the MTA only',
                    GUARD_PROBLEM)
    from smf_spf.spfcheck import (CachedChecker, SpfChecker, preload_dns_modules,
                                   use_nameservers)
    preload_dns_modules()
    use_nameservers(conf.nameservers, conf.spf_timeout)
    dnscache.enable()
    checker = SpfChecker(conf.spf_timeout, receiver=socket.gethostname(),
                         best_guess=conf.spf_best_guess)
    cache = ResultCache(conf.ttl, conf.cache_size) if conf.ttl and conf.cache_size else None
    return Services(conf, CachedChecker(checker, cache, policy.is_cacheable), log)


def serve(services, ident, foreground):
    import Milter
    from smf_spf.listener import nodelay_once_listening
    from smf_spf.milter import FLAGS, UNDECODED, SpfMilter
    conf, log = services.config, services.log
    if not foreground:
        daemonize()
    # the MTA's group may use the socket (usermod -aG smfs postfix); others may not
    os.umask(0o007)
    Milter.factory = lambda: SpfMilter(services)
    Milter.set_flags(FLAGS)
    # a value pymilter cannot decode (not UTF-8) skips that one callback instead of
    # deferring the whole message with 451 4.3.0; see milter.UNDECODED
    Milter.set_exception_policy(Milter.CONTINUE)
    UNDECODED.install(log)
    if conf.socket.family != 'unix':
        nodelay_once_listening(conf.socket.port, log=log)
    try:
        # claim_socket removed a stale socket; a live one must make this fail, not vanish
        Milter.runmilter(ident, conf.socket.text, 0, rmsock=False)
    except Milter.error as exc:
        why = why_no_socket(conf.socket)
        reason = '%s (%s)' % (exc, why) if why else str(exc)
        log.error('[ERROR] terminated: cannot serve on %s: %s', conf.socket.text, reason)
        raise Fatal('cannot serve on %s: %s' % (conf.socket.text, reason))
    finally:
        remove_stale_socket(conf.socket)
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
    loaded = read_config(path, explicit)
    conf = loaded.config
    for problem in loaded.fatal:
        raise Fatal(str(problem))
    log_stream = None
    if conf.log_to:
        try:
            log_stream = open_log_to(conf.log_to)
        except (IOError, OSError) as exc:
            raise Fatal('LogTo %s cannot be opened: %s' % (conf.log_to, exc))
    log = setup_logging(ident, conf.syslog, log_stream)
    for problem in loaded.problems:
        log.log(40 if problem.severity != configuration.WARNING else 30, '[CONFIG] %s', problem)
    for problem in loaded.compat:
        log.warning('[CONFIG] %s', problem)
    for text in exposure_warnings(path, conf):
        log.warning('[CONFIG] %s: warning: %s', path, text)
    entry = None
    if os.getuid() == 0:
        missing, entry = user_problem(conf.user)
        if missing:
            raise Fatal('getpwnam %s: %s' % (conf.user, missing))
    foreground = '-f' in options or not conf.daemonize
    if not foreground:
        problem = socket_problem(conf.socket)
        if problem:
            raise Fatal(problem)
    log.info('starting %s %s listening on %s', ident, __version__, conf.socket.text)
    # everything is imported before the switch: the new user may not read the interpreter's tree
    services = build_services(conf, log)
    claim_socket(conf.socket)
    if entry is not None:
        drop_privileges(entry)
        log.info('running as uid: %d, gid: %d', entry.pw_uid, entry.pw_gid)
    serve(services, ident, foreground)
    return 0


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
