"""The systemd units (el7: systemd 219; el8/el9: 239 and 252), the tmpfiles line and
the logrotate snippet shipped in the RPM."""

import grp
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys

import pytest

from rawmilter import free_port, reaped, wait_for

from systemd_directives import INTRODUCED, SYSTEMD_OF, parse_unit, systemd_version, unknown_to

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the unit each branch of rpm/smf-spf-py.spec installs
UNIT_OF = {'el7': 'systemd/el7/smf-spf.service', 'el8': 'systemd/el8/smf-spf.service',
           'el9': 'systemd/el8/smf-spf.service'}


def unit(branch):
    with open(os.path.join(ROOT, UNIT_OF[branch])) as text:
        return parse_unit(text.read())


@pytest.mark.parametrize('branch', sorted(UNIT_OF))
def test_unit_uses_only_directives_the_branchs_systemd_knows(branch):
    assert unknown_to(unit(branch), SYSTEMD_OF[branch]) == []


def test_the_directive_table_tells_releases_apart():
    sections = {'Service': {'ProtectClock': 'yes', 'NoNewPrivileges': 'yes'}}
    assert unknown_to(sections, 252) == []
    assert unknown_to(sections, 239) == ['[Service] ProtectClock (NEWS v245)']
    assert unknown_to({'Service': {'NoSuchThing': '1'}}, 252) == [
        '[Service] NoSuchThing (not in the table)']
    assert all(since <= 252 for since, _ in INTRODUCED.values())


def test_el7_unit_sets_no_no_new_privs():
    """Kernel 3.10 refuses the SELinux transition under no_new_privs. systemd 219 loads
    RestrictAddressFamilies' seccomp filter without it, because the forked child is
    still root with CAP_SYS_ADMIN; with User= it would no longer be, and the load fails."""
    service = unit('el7')['Service']
    assert 'NoNewPrivileges' not in service
    assert 'RestrictAddressFamilies' in service
    assert 'User' not in service and 'DynamicUser' not in service


def test_el8_unit_keeps_the_el7_hardening_and_adds_more():
    el7, el8 = unit('el7')['Service'], unit('el8')['Service']
    for key, value in el7.items():
        assert el8[key] == value, key
    assert el8['NoNewPrivileges'] == 'yes'
    for key in ('ProtectKernelTunables', 'ProtectKernelModules', 'ProtectControlGroups',
                'RestrictNamespaces', 'RestrictRealtime', 'LockPersonality',
                'MemoryDenyWriteExecute'):
        assert el8[key] == 'yes', key


@pytest.mark.parametrize('branch', ['el7', 'el8'])
def test_unit_runs_the_milter_in_the_foreground_reloads_with_hup_and_restarts_it(branch):
    sections = unit(branch)
    service = sections['Service']
    assert service['Type'] == 'simple'
    assert service['ExecStart'].split()[:2] == ['/usr/sbin/smf-spf', '-f']
    assert service['ExecReload'] == '/bin/kill -HUP $MAINPID'
    assert service['Restart'] == 'always'
    assert set(service['CapabilityBoundingSet'].split()) == {
        'CAP_SETUID', 'CAP_SETGID', 'CAP_NET_BIND_SERVICE', 'CAP_DAC_OVERRIDE'}
    # systemctl help smf-spf: the pages the package installs
    pages = sections['Unit']['Documentation'].split()
    assert pages[0] == 'man:smf-spf(8)'
    for page in pages:
        name, section = re.match(r'man:(.+)\((\d)\)\Z', page).groups()
        assert os.path.exists(os.path.join(ROOT, 'man', '%s.%s' % (name, section))), page
    before = sections['Unit']['Before'].split()
    assert 'postfix.service' in before and 'sendmail.service' in before
    assert sections['Install'] == {'WantedBy': 'multi-user.target'}


def test_the_docs_state_the_restart_policy_the_units_have():
    """Every Restart= the docs, man pages and test docstrings name is the units' own."""
    import glob
    policies = {unit(branch)['Service']['Restart'] for branch in UNIT_OF}
    assert len(policies) == 1
    named = []
    paths = [path for pattern in ('*.md', 'docs/*.md', 'man/*.[58]', 'tests/*.py')
             for path in glob.glob(os.path.join(ROOT, pattern))]
    for path in paths:
        with open(path, encoding='utf-8') as text:
            named += [(os.path.relpath(path, ROOT), policy) for policy in
                      re.findall(r'Restart=([a-z-]+)', text.read())]
    assert any(path.startswith('docs') for path, _ in named)
    assert [(path, policy) for path, policy in named if policy not in policies] == []


def _analyze_version():
    if not shutil.which('systemd-analyze'):
        return None
    done = subprocess.run(['systemd-analyze', '--version'], stdout=subprocess.PIPE,
                          universal_newlines=True)
    return systemd_version(done.stdout)


@pytest.mark.parametrize('branch', ['el7', 'el8'])
def test_systemd_analyze_verify_accepts_the_unit(branch, tmp_path):
    """Unit syntax and values as the installed systemd reads them (verify --root: 250+)."""
    installed = _analyze_version()
    if installed is None or installed < 250:
        pytest.skip('needs systemd-analyze 250 or later (--root), found %s' % installed)
    root = tmp_path / 'root'
    units = root / 'usr' / 'lib' / 'systemd' / 'system'
    shutil.copytree('/usr/lib/systemd/system', str(units), symlinks=True)
    shutil.copy(os.path.join(ROOT, UNIT_OF[branch]), str(units / 'smf-spf.service'))
    for program in ('usr/sbin/smf-spf', 'bin/kill'):
        path = root / program
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text('#!/bin/sh\n')
        path.chmod(0o755)
    done = subprocess.run(['systemd-analyze', 'verify', '--man=no', '--root=%s' % root,
                           'smf-spf.service'], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True)
    assert done.returncode == 0 and done.stdout == '', done.stdout


def test_tmpfiles_creates_the_socket_directory_and_the_rotated_log_for_smfs():
    with open(os.path.join(ROOT, 'tmpfiles', 'smf-spf.conf')) as conf:
        lines = [l.split() for l in conf if l.strip() and not l.startswith('#')]
    rotated = _logrotate_text().split('{')[0].split('\n')[-1].strip()
    assert lines == [['d', '/run/smfs', '0755', 'smfs', 'smfs', '-'],
                     ['f', rotated, '0640', 'smfs', 'smfs', '-']]


# -- the service's start as the unit runs it: root with the unit's bounding set --------

def _setpriv_arguments(service):
    caps = [c.lower().replace('cap_', '+', 1) for c in service['CapabilityBoundingSet'].split()]
    arguments = ['setpriv', '--bounding-set', ','.join(['-all'] + caps)]
    if service.get('NoNewPrivileges') == 'yes':
        arguments.append('--no-new-privs')
    return arguments + ['--']


def _accepts(port):
    try:
        socket.create_connection(('127.0.0.1', port), timeout=0.5).close()
        return True
    except OSError:
        return False


needs_root_and_setpriv = pytest.mark.skipif(
    os.getuid() != 0 or not shutil.which('setpriv'),
    reason='starts the milter as root under setpriv, as systemd starts the unit')


def _log_owned_by(tmp_path, user):
    """A LogTo file owned by `user`, mode 0640, as the RPM and logrotate create it."""
    entry = pwd.getpwnam(user)
    log = tmp_path / 'smf-spf.log'
    log.write_text('')
    os.chown(str(log), entry.pw_uid, entry.pw_gid)
    log.chmod(0o640)
    return log


def _config(tmp_path, port, user, log):
    conf = tmp_path / 'smf-spf.conf'
    conf.write_text('Socket inet:%d@127.0.0.1\nUser %s\nSyslog none\nLogTo %s\n'
                    % (port, user, log))
    return str(conf)


UNPRIVILEGED = 'nobody'


@needs_root_and_setpriv
@pytest.mark.parametrize('branch', ['el7', 'el8'])
def test_milter_started_as_the_unit_opens_a_log_owned_by_its_user(branch, tmp_path):
    """Root under the unit's bounding set opens a LogTo file owned by User, switches
    to User, serves, and maps no memory both writable and executable
    (MemoryDenyWriteExecute would refuse it) and no ctypes (its closures need that)."""
    tmp_path.chmod(0o755)
    log = _log_owned_by(tmp_path, UNPRIVILEGED)
    port = free_port()
    command = _setpriv_arguments(unit(branch)['Service']) + [
        sys.executable, '-m', 'smf_spf', '-f', '-c', _config(tmp_path, port, UNPRIVILEGED, log)]
    with reaped(subprocess.Popen(command, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)) as process:
        assert wait_for(lambda: process.poll() is None and _accepts(port)), \
            process.communicate(timeout=5) if process.poll() is not None else 'not serving'
        with open('/proc/%d/status' % process.pid) as status:
            fields = dict(line.split(':', 1) for line in status)
        assert fields['Uid'].split()[0] == str(pwd.getpwnam(UNPRIVILEGED).pw_uid)
        assert int(fields['CapEff'], 16) == 0 and int(fields['CapPrm'], 16) == 0
        with open('/proc/%d/maps' % process.pid) as maps:
            mappings = [line.split() for line in maps]
        assert not [m for m in mappings if 'w' in m[1] and 'x' in m[1]]
        assert not [m for m in mappings if len(m) > 5 and '_ctypes' in m[5]]
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
    assert 'starting smf-spf' in log.read_text(encoding='utf-8')


@needs_root_and_setpriv
def test_without_cap_dac_override_root_cannot_open_that_log(tmp_path):
    """Why the units keep CAP_DAC_OVERRIDE: without it root is just another user to a
    file owned by smfs with mode 0640, and the start fails."""
    tmp_path.chmod(0o755)
    log = _log_owned_by(tmp_path, UNPRIVILEGED)
    service = dict(unit('el8')['Service'])
    service['CapabilityBoundingSet'] = service['CapabilityBoundingSet'].replace(
        'CAP_DAC_OVERRIDE', '')
    done = subprocess.run(_setpriv_arguments(service) + [
        sys.executable, '-m', 'smf_spf', '-f', '-c',
        _config(tmp_path, free_port(), UNPRIVILEGED, log)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    assert done.returncode == 1
    assert 'LogTo %s cannot be opened' % log in done.stderr


# -- logrotate ------------------------------------------------------------------------

def _logrotate_text():
    with open(os.path.join(ROOT, 'logrotate', 'smf-spf')) as snippet:
        return snippet.read()


def test_logrotate_reopens_through_a_reload_and_never_truncates():
    text = _logrotate_text()
    lines = [l.split('#')[0].strip() for l in text.splitlines()]
    lines = [l for l in lines if l]
    assert lines[0] == '/var/log/smf-spf.log {' and lines[-1] == '}'
    for directive in ('missingok', 'notifempty', 'sharedscripts', 'create 0640 smfs smfs'):
        assert directive in lines, directive
    assert 'copytruncate' not in text
    script = lines[lines.index('postrotate') + 1:lines.index('endscript')]
    assert script == ['/usr/bin/systemctl reload smf-spf.service >/dev/null 2>&1 || true']


def test_logrotate_reads_the_snippet_without_errors(tmp_path):
    if not shutil.which('logrotate'):
        pytest.skip('logrotate is not installed')
    # logrotate checks that the create owner exists: smfs where the RPM made it
    owner = 'smfs'
    try:
        pwd.getpwnam(owner)
        grp.getgrnam(owner)
        text = _logrotate_text()
    except KeyError:
        user = pwd.getpwuid(os.getuid())
        text = _logrotate_text().replace('create 0640 smfs smfs', 'create 0640 %s %s' % (
            user.pw_name, grp.getgrgid(user.pw_gid).gr_name))
    snippet = tmp_path / 'smf-spf'
    snippet.write_text(text)
    snippet.chmod(0o644)
    done = subprocess.run(['logrotate', '--debug', '--state', str(tmp_path / 'state'),
                           str(snippet)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True)
    assert done.returncode == 0, done.stdout
    assert 'error' not in done.stdout.lower(), done.stdout
    assert 'rotating pattern: /var/log/smf-spf.log' in done.stdout
