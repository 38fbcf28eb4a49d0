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
    from slowdns import SlowDns, point_resolver

    records = {
        ('xn--bcher-kva.example', 'TXT'): ['v=spf1 ip4:192.0.2.0/24 -all'],
        ('plain.example', 'TXT'): ['v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all'],
        ('nothing.example', 'A'): ['192.0.2.1'],
    }
    with SlowDns(records) as server:
        %(preload)s
        point_resolver([server], 5)
        checker = spfcheck.SpfChecker(5, best_guess=True)

        class NoImports(object):
            def find_spec(self, name, path=None, target=None):
                raise ImportError('import of %%s after the switch to User' %% name)

            def find_module(self, name, path=None):   # Python 3.6
                raise ImportError('import of %%s after the switch to User' %% name)
        sys.meta_path[:] = [NoImports()]
        sys.path_importer_cache.clear()
        for ip, sender in %(checks)r:
            print(sender, checker.check(ip, sender, 'h.example').result)
''')


def run_child(preload, checks):
    script = CHILD % {'root': ROOT, 'tests': os.path.join(ROOT, 'tests'),
                      'preload': preload, 'checks': checks}
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
    ('2001:db8::25', 'a@nothing.example', 'none'),    # and the best guess: a, mx, ptr
])
def test_check_after_preload_imports_nothing(ip, sender, result):
    lines, stderr = run_child('spfcheck.preload_dns_modules()', [(ip, sender)])
    assert lines[0] == '%s %s' % (sender, result), stderr
    assert 'SPF check failed' not in stderr


def test_the_audit_catches_a_missing_preload():
    """Without the preload the same check fails: the audit can see the problem."""
    lines, stderr = run_child('pass', [('192.0.2.9', 'a@b\u00fccher.example')])
    assert lines[0] == 'a@b\u00fccher.example temperror'
    assert 'unknown encoding: punycode' in stderr
