"""Test data: unit file directives and the systemd release that first knew each.

The units we ship must parse on the systemd of the branch that installs them:
219 (el7), 239 (el8), 252 (el9). A directive a release does not know is logged
("Unknown key name ... ignoring") and silently dropped, so a hardening line
would do nothing there.

Sources, in this order of preference:
  NEWS v<N>: systemd's NEWS announces the setting under "CHANGES WITH <N>";
  man v<N>:  the man page's "Added in version <N>" note (systemd 254 and later
             annotate every setting, including those older than NEWS tracks);
  <=219:     neither dates it; it is in systemd 219's own parser table
             (src/core/load-fragment-gperf.gperf.m4 at tag v219), which is all
             these tests need from it.
Each entry was also checked against the parser tables of v239 and v252.
"""

import re

# (section, directive): (release that first knew it, source)
INTRODUCED = {
    ('Unit', 'Description'): (201, 'man v201'),
    ('Unit', 'Documentation'): (183, 'NEWS v183'),
    ('Unit', 'After'): (201, 'man v201'),
    ('Unit', 'Before'): (201, 'man v201'),
    ('Unit', 'Wants'): (201, 'man v201'),
    ('Unit', 'Requires'): (201, 'man v201'),
    ('Unit', 'Conflicts'): (201, 'man v201'),
    ('Service', 'Type'): (219, '<=219'),
    ('Service', 'ExecStart'): (219, '<=219'),
    ('Service', 'ExecStartPre'): (219, '<=219'),
    ('Service', 'ExecReload'): (219, '<=219'),
    ('Service', 'ExecStop'): (219, '<=219'),
    ('Service', 'Restart'): (219, '<=219'),
    ('Service', 'RestartSec'): (219, '<=219'),
    ('Service', 'User'): (219, '<=219'),
    ('Service', 'Group'): (219, '<=219'),
    ('Service', 'UMask'): (219, '<=219'),
    ('Service', 'Environment'): (219, '<=219'),
    ('Service', 'LimitNOFILE'): (219, '<=219'),
    ('Service', 'TimeoutStopSec'): (188, 'man v188'),
    ('Service', 'KillMode'): (187, 'man v187'),
    ('Service', 'PrivateTmp'): (219, '<=219'),
    ('Service', 'PrivateNetwork'): (219, '<=219'),
    ('Service', 'CapabilityBoundingSet'): (219, '<=219'),
    ('Service', 'NoNewPrivileges'): (187, 'man v187'),
    ('Service', 'SystemCallFilter'): (187, 'man v187'),
    ('Service', 'PrivateDevices'): (209, 'NEWS v209'),
    ('Service', 'SystemCallArchitectures'): (209, 'NEWS v209'),
    ('Service', 'SystemCallErrorNumber'): (209, 'man v209'),
    ('Service', 'RestrictAddressFamilies'): (211, 'NEWS v211'),
    ('Service', 'ProtectSystem'): (214, 'NEWS v214'),
    ('Service', 'ProtectHome'): (214, 'NEWS v214'),
    ('Service', 'AmbientCapabilities'): (229, 'man v229'),
    ('Service', 'ReadWritePaths'): (231, 'NEWS v231'),
    ('Service', 'MemoryDenyWriteExecute'): (231, 'NEWS v231'),
    ('Service', 'RestrictRealtime'): (231, 'NEWS v231'),
    ('Service', 'ProtectKernelTunables'): (232, 'NEWS v232'),
    ('Service', 'ProtectKernelModules'): (232, 'NEWS v232'),
    ('Service', 'ProtectControlGroups'): (232, 'NEWS v232'),
    ('Service', 'PrivateUsers'): (232, 'man v232'),
    ('Service', 'DynamicUser'): (232, 'man v232'),
    ('Service', 'RemoveIPC'): (232, 'man v232'),
    ('Service', 'RestrictNamespaces'): (233, 'NEWS v233'),
    ('Service', 'LockPersonality'): (235, 'NEWS v235'),
    ('Service', 'PrivateMounts'): (239, 'man v239'),
    ('Service', 'RestrictSUIDSGID'): (242, 'NEWS v242'),
    ('Service', 'ProtectHostname'): (242, 'NEWS v242'),
    ('Service', 'ProtectKernelLogs'): (244, 'NEWS v244'),
    ('Service', 'ProtectClock'): (245, 'NEWS v245'),
    ('Service', 'ProtectProc'): (247, 'man v247'),
    ('Service', 'ProcSubset'): (247, 'man v247'),
    ('Install', 'WantedBy'): (201, 'man v201'),
    ('Install', 'Alias'): (201, 'man v201'),
}

# the systemd each branch of rpm/smf-spf-py.spec installs its unit on
SYSTEMD_OF = {'el7': 219, 'el8': 239, 'el9': 252}


def parse_unit(text):
    """{section: {key: value}} of a unit file's text (no repeated keys in ours)."""
    sections = {}
    current = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(('#', ';')):
            continue
        if line.startswith('['):
            current = sections.setdefault(line.strip('[]'), {})
            continue
        key, value = line.split('=', 1)
        assert key not in current, 'repeated %s' % key
        current[key] = value
    return sections


def unknown_to(sections, release):
    """Directives of the unit that systemd `release` does not know (or the table lacks)."""
    missing = []
    for section, keys in sections.items():
        for key in keys:
            since = INTRODUCED.get((section, key))
            if since is None or since[0] > release:
                missing.append('[%s] %s (%s)' % (section, key,
                                                 since[1] if since else 'not in the table'))
    return missing


def systemd_version(text):
    """The release number in `systemctl --version` / `systemd-analyze --version` output."""
    match = re.match(r'systemd (\d+)', text)
    return int(match.group(1)) if match else None
