"""The paths smf-spf-py runs from, reads, creates and writes, the SELinux type
selinux/smf_spf.te means each to have, and a model of how libselinux picks a
path's type from selinux/smf_spf.fc.

Used by tests/test_selinux.py (the module against the sources), by
tests/packaging/test_rpm.py (against what the RPM installs) and by
tests/selinux_check.py (against a distribution's whole policy).
"""

import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FC = os.path.join(ROOT, 'selinux', 'smf_spf.fc')
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

# the aliases of el7's, el8's and el9's policy (file_contexts.subs_dist of
# fedora-selinux/selinux-policy f19, f20, f28 and c9s, identical in the four): a
# path under the alias is labelled as the same path under the original
EL_SUBS_DIST = (('/run', '/var/run'), ('/run/lock', '/var/lock'), ('/var/run/lock', '/var/lock'))

# .fc file type field -> the kind of inode it restricts an entry to
FC_KINDS = {'--': 'file', '-d': 'dir', '-s': 'socket', '-l': 'symlink', '-p': 'fifo',
            '-c': 'char', '-b': 'block'}

_ENTRY = re.compile(r'^(\S+)\s+(?:(--|-[dslpcb])\s+)?gen_context\(\w+:\w+:(\w+),s0\)\s*$')
_META = re.compile(r'[.^$?*+|\[({\\]')


class FcEntry(object):
    def __init__(self, regex, kind, type_):
        self.regex, self.kind, self.type = regex, kind, type_
        self.pattern = re.compile(regex)
        meta = _META.search(regex)
        # libselinux tries the most specific entry first: an exact path before any
        # regular expression, then the longer fixed stem, then the longer expression
        self.specificity = (meta is None, meta.start() if meta else len(regex), len(regex))

    def __repr__(self):
        return 'FcEntry(%r, %r, %r)' % (self.regex, self.kind, self.type)


def read_fc(path=FC):
    """The entries of an .fc file; any line that is not one is a ValueError."""
    entries = []
    with open(path) as text:
        for number, line in enumerate(text, 1):
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            found = _ENTRY.match(line)
            if not found:
                raise ValueError('%s:%d: not a file context entry: %r' % (path, number, line))
            regex, kind, type_ = found.groups()
            entries.append(FcEntry(regex, FC_KINDS[kind] if kind else None, type_))
    return entries


def alias_resolved(path, subs=EL_SUBS_DIST):
    """path as libselinux looks it up: the longest alias prefix swapped for its original."""
    best = None
    for alias, original in subs:
        if path == alias or path.startswith(alias + '/'):
            if best is None or len(alias) > len(best[0]):
                best = (alias, original)
    return best[1] + path[len(best[0]):] if best else path


def fc_type(entries, path, kind, subs=EL_SUBS_DIST):
    """The type the entries give path (an inode of kind), or None when none matches."""
    looked_up = alias_resolved(path, subs)
    matches = [e for e in entries
               if (e.kind is None or e.kind == kind) and e.pattern.fullmatch(looked_up)]
    if not matches:
        return None
    return max(matches, key=lambda e: e.specificity).type


def unit_exec_start(branch):
    """(program, config path) of the unit's ExecStart: the file systemd executes."""
    from systemd_directives import parse_unit
    with open(os.path.join(ROOT, 'systemd', branch, 'smf-spf.service')) as unit:
        words = parse_unit(unit.read())['Service']['ExecStart'].split()
    return words[0], words[words.index('-c') + 1]


def tmpfiles_entries():
    """(path, kind) of what tmpfiles/smf-spf.conf makes."""
    kinds = {'d': 'dir', 'f': 'file'}
    with open(os.path.join(ROOT, 'tmpfiles', 'smf-spf.conf')) as conf:
        return [(line.split()[1], kinds[line.split()[0]]) for line in conf
                if line.strip() and not line.startswith('#')]


def logrotate_paths():
    """The files logrotate/smf-spf rotates: where LogTo is meant to point."""
    with open(os.path.join(ROOT, 'logrotate', 'smf-spf')) as conf:
        return [line.split()[0] for line in conf if line.startswith('/')]


def documented_log_to():
    """The LogTo value the shipped smf-spf.conf suggests (commented out: syslog is
    the default)."""
    with open(os.path.join(ROOT, 'conf', 'smf-spf.conf')) as conf:
        return [line.split()[1] for line in conf if re.match(r'#\s*LogTo\s+/', line)]


def expected_paths():
    """(path, kind, type) of every path the milter's own files live at, each from the
    source that decides it."""
    from smf_spf import config
    program, config_path = unit_exec_start('el7')
    assert (program, config_path) == unit_exec_start('el8')
    assert config_path == config.DEFAULT_PATH
    socket = config.Config().socket
    assert socket.family == 'unix'
    paths = [(program, 'file', 'smf_spf_milter_exec_t'),
             (os.path.dirname(config_path), 'dir', 'smf_spf_milter_conf_t'),
             (config_path, 'file', 'smf_spf_milter_conf_t'),
             (os.path.dirname(socket.address), 'dir', 'smf_spf_milter_data_t'),
             (socket.address, 'socket', 'smf_spf_milter_data_t')]
    logs = set(logrotate_paths() + documented_log_to())
    for path, kind in tmpfiles_entries():
        # the socket's directory, and the LogTo file made for smfs before the milter runs
        assert kind == 'dir' or path in logs, path
        paths.append((path, kind, 'smf_spf_milter_data_t' if kind == 'dir'
                      else 'smf_spf_milter_log_t'))
    # the same socket through /run, where it is (/var/run is a link to it on el7-el9)
    paths.append((alias_resolved(socket.address, [('/var/run', '/run')]), 'socket',
                  'smf_spf_milter_data_t'))
    for log in sorted(logs):
        paths += [(log, 'file', 'smf_spf_milter_log_t'),
                  (log + '.1', 'file', 'smf_spf_milter_log_t'),
                  (log + '.2.gz', 'file', 'smf_spf_milter_log_t')]
    return paths
