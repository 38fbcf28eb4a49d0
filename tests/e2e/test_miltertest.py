"""The C smf-spf project's own miltertest suite, run against our daemon.

tests/miltertest/ holds the C project's lua cases and configs unchanged (source and
licence in tests/miltertest/SOURCE).  Each case runs in a directory laid out as the
C repository is (./smf-spf, tests/conf/...), where ./smf-spf starts our daemon.
Two things are adapted on the fly, never the assertions: the milter socket (a free
loopback port instead of 2424, so parallel runs do not collide) and one line
appended to each config that points the daemon at our nsd, which serves the
underspell.com records the cases expect (services.C_SUITE_ZONES).
"""

import glob
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from services import DNS_ADDRESS, free_port, need

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUITE = os.path.join(ROOT, 'tests', 'miltertest')
CASES = sorted(os.path.basename(path) for path in glob.glob(os.path.join(SUITE, '*.lua')))
C_SOCKET = 'inet:2424@127.0.0.1'
# WhitelistTo: C accepts the whole message for a whitelisted recipient (SMFIR_ACCEPT at
# RCPT); we only skip that recipient (README, "differs from C")
# (the case fails on its RCPT reply: CONTINUE where it wants ACCEPT)
DIFFERS_ON_PURPOSE = {'02-to-whitelisted.lua': "RCPT sent on fd 3, reply 'c'"}


# natip.conf says `RefuseFail off` then `RefuseFail on`: in C only the non-default value
# has effect, so it does not refuse; this case depends on that reading (issue 7)
NEEDS_C_BOOLEANS = {'04-fixed-client-auth-fail.lua': 'by RefuseFail'}


def c_booleans():
    """Whether our config reads repeated booleans as C did (non-default value wins)."""
    from smf_spf import config
    return not config.parse_lines(['RefuseFail off', 'RefuseFail on'], 'x').config.refuse_fail


def lay_out(rundir, case):
    socket = 'inet:%d@127.0.0.1' % free_port()
    os.makedirs(os.path.join(rundir, 'tests', 'conf'))
    for conf in glob.glob(os.path.join(SUITE, 'conf', '*.conf')):
        with open(conf) as handle:
            text = handle.read().replace(C_SOCKET, socket)
        with open(os.path.join(rundir, 'tests', 'conf', os.path.basename(conf)), 'w') as out:
            out.write(text.rstrip('\n') + '\n# test run: our nsd\nNameservers %s\n'
                      % DNS_ADDRESS)
    with open(os.path.join(SUITE, case)) as handle:
        script = handle.read()
    assert C_SOCKET in script
    with open(os.path.join(rundir, case), 'w') as out:
        out.write(script.replace(C_SOCKET, socket))
    launcher = os.path.join(rundir, 'smf-spf')
    with open(launcher, 'w') as out:
        out.write('#!/bin/sh\necho $$ > smf-spf.pid\nPYTHONPATH=%s exec %s -m smf_spf "$@"\n'
                  % (ROOT, sys.executable))
    os.chmod(launcher, 0o755)


def stop_daemon(rundir):
    """miltertest -w leaves the daemon it started running (libmilter takes seconds to
    wind down on SIGTERM, 37 times over): end it here, by its own pid."""
    try:
        with open(os.path.join(rundir, 'smf-spf.pid')) as handle:
            pid = int(handle.read())
    except (IOError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        return
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            return
        time.sleep(0.05)


def test_suite_is_there():
    assert len(CASES) == 37


@pytest.mark.parametrize('case', CASES)
def test_c_miltertest_case(dns_server, tmp_path, case):
    rundir = str(tmp_path / 'run')
    lay_out(rundir, case)
    # a file, not a pipe: the daemon (LogTo /dev/stdout) holds its output open
    output_path = str(tmp_path / 'miltertest.out')
    try:
        with open(output_path, 'w') as output:
            done = subprocess.run([need('miltertest'), '-v', '-w', '-s', case], cwd=rundir,
                                  stdout=output, stderr=subprocess.STDOUT, timeout=120)
    finally:
        stop_daemon(rundir)
        shutil.rmtree(rundir, ignore_errors=True)
    with open(output_path) as handle:
        output = handle.read()
    if case in DIFFERS_ON_PURPOSE:
        assert done.returncode != 0 and DIFFERS_ON_PURPOSE[case] in output, output
    elif case in NEEDS_C_BOOLEANS and not c_booleans():
        assert done.returncode != 0 and NEEDS_C_BOOLEANS[case] in output, output
    else:
        assert done.returncode == 0, output
