"""The systemd unit and tmpfiles line shipped for el7 (systemd 219)."""

import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# [section] directives that systemd 219 (el7) documents; newer ones (ProtectKernelTunables,
# PrivateUsers, ...) would make el7's systemd warn and ignore them
SYSTEMD_219 = {
    'Unit': {'Description', 'Documentation', 'After', 'Before', 'Wants', 'Requires',
             'Conflicts', 'ConditionPathExists'},
    'Service': {'Type', 'ExecStart', 'ExecStartPre', 'ExecReload', 'ExecStop', 'Restart',
                'RestartSec', 'User', 'Group', 'PIDFile', 'UMask', 'PrivateTmp',
                'PrivateDevices', 'PrivateNetwork', 'ProtectSystem', 'ProtectHome',
                'NoNewPrivileges', 'CapabilityBoundingSet', 'RestrictAddressFamilies',
                'ReadOnlyDirectories', 'ReadWriteDirectories', 'InaccessibleDirectories',
                'LimitNOFILE', 'TimeoutStopSec', 'KillMode', 'Environment'},
    'Install': {'WantedBy', 'Alias'},
}


def parse_unit(path):
    sections = {}
    current = None
    with open(path) as unit:
        for line in unit:
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            if line.startswith('['):
                current = line.strip('[]')
                sections[current] = {}
                continue
            key, value = line.split('=', 1)
            sections[current][key] = value
    return sections


def test_unit_uses_only_systemd_219_directives():
    unit = parse_unit(os.path.join(ROOT, 'systemd', 'smf-spf.service'))
    for section, keys in unit.items():
        assert set(keys) <= SYSTEMD_219[section], (section, set(keys) - SYSTEMD_219[section])


def test_unit_runs_the_milter_in_the_foreground_and_restarts_it():
    service = parse_unit(os.path.join(ROOT, 'systemd', 'smf-spf.service'))['Service']
    assert service['Type'] == 'simple'
    assert service['ExecStart'].split()[:2] == ['/usr/sbin/smf-spf', '-f']
    assert service['Restart'] == 'on-failure'
    assert 'CAP_SETUID' in service['CapabilityBoundingSet']
    before = parse_unit(os.path.join(ROOT, 'systemd', 'smf-spf.service'))['Unit']['Before']
    assert 'postfix.service' in before.split() and 'sendmail.service' in before.split()


def test_tmpfiles_creates_the_socket_directory_for_smfs():
    with open(os.path.join(ROOT, 'tmpfiles', 'smf-spf.conf')) as conf:
        lines = [l.split() for l in conf if l.strip() and not l.startswith('#')]
    assert lines == [['d', '/run/smfs', '0755', 'smfs', 'smfs', '-']]
