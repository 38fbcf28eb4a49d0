"""After preload_dns_modules(), an SPF check needs no further import.

The daemon switches to User before the first mail; where the interpreter's tree
is not readable by that user, any module loaded lazily after the switch fails (a
non-ASCII domain needs the idna and punycode codecs).  The child process below
preloads, then forbids every import, then checks SPF through a real dnspython
resolver against a DNS server on loopback.
"""

import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = textwrap.dedent('''
    import sys
    sys.path[:0] = [%(root)r, %(tests)r]
    from smf_spf import spfcheck
    from smf_spf.mailbox import split_path
    from slowdns import SlowDns, point_resolver

    records = {
        ('xn--bcher-kva.example', 'TXT'): ['v=spf1 ip4:192.0.2.0/24 -all'],
        ('plain.example', 'TXT'): ['v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all'],
        ('mech.example', 'TXT'): ['v=spf1 mx ptr -all'],
        ('mech.example', 'MX'): ['10 mx.mech.example.'],
        ('mx.mech.example', 'A'): ['198.51.100.1'],
        ('7.2.0.192.in-addr.arpa', 'PTR'): ['host.mech.example'],
        ('host.mech.example', 'A'): ['192.0.2.7'],
    }
    with SlowDns(records) as server:
        %(preload)s
        point_resolver([server], 5)
        checker = spfcheck.SpfChecker(5)

        class NoImports(object):
            def find_spec(self, name, path=None, target=None):
                raise ImportError('import of %%s after the switch to User' %% name)

            def find_module(self, name, path=None):   # Python 3.6
                raise ImportError('import of %%s after the switch to User' %% name)
        sys.meta_path[:] = [NoImports()]
        sys.path_importer_cache.clear()
        for ip, sender in %(checks)s:
            print(ascii(sender), checker.check(ip, split_path(sender), 'h.example').result)
''')


def run_child(preload, checks):
    script = CHILD % {'root': ROOT, 'tests': os.path.join(ROOT, 'tests'),
                      'preload': preload, 'checks': ascii(checks)}   # ASCII for a C locale
    done = subprocess.run([sys.executable, '-c', script], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.split('\n'), done.stderr


@pytest.mark.parametrize('ip,sender,result', [
    ('192.0.2.9', 'a@b\u00fccher.example', 'pass'),
    ('192.0.2.9', 'a@B\u00dcCHER.example', 'pass'),
    ('192.0.2.9', 'a@plain.example', 'pass'),
    ('2001:db8::25', 'a@plain.example', 'pass'),
    ('198.51.100.7', 'a@plain.example', 'fail'),
    ('2001:db8::25', 'a@nothing.example', 'none'),
    ('192.0.2.7', 'a@mech.example', 'pass'),          # MX, A and PTR answers
])
def test_check_after_preload_imports_nothing(ip, sender, result):
    lines, stderr = run_child('spfcheck.preload_dns_modules()', [(ip, sender)])
    assert lines[0] == '%s %s' % (ascii(sender), result), stderr
    assert 'SPF check failed' not in stderr


def test_the_audit_catches_a_missing_preload():
    """Without the preload the same check fails: the audit can see the problem."""
    lines, stderr = run_child('pass', [('192.0.2.9', 'a@b\u00fccher.example')])
    assert lines[0] == '%s temperror' % ascii('a@b\u00fccher.example')
    assert 'unknown encoding: punycode' in stderr
