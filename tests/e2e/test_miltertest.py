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


# SkipAuth, verified TLS and SkipNDR skips: C accepted the message at MAIL FROM; with
# RemoveForgedAuthResults on (our default, no C key) we follow it to the end of the message to
# remove forged Authentication-Results, so MAIL FROM answers CONTINUE (README, "differs
# from C"). The suite runs with the key off, which C's behaviour is; these cases run again
# with the default to show the difference.
FOLLOWED_TO_EOM = {case: "MAIL sent on fd 3, reply 'c'" for case in (
    '04-fixed-client-auth-pass.lua', '04-fixed-client-verify-pass.lua',
    '04-helo-skipndr-pass.lua')}


# SPF refusals: C refused the MAIL FROM, and so do we by default; with AcceptPostmaster on (no
# C key) they are made at RCPT TO so that mail to postmaster gets through (README, "Policy
# beyond the C milter"). These cases run again with it on to show the difference.
REFUSED_AT_RCPT = {case: "MAIL sent on fd 3, reply 'c'" for case in (
    '03-invalid-sender-soft.lua', '04-fixed-client-fail.lua', '04-fulltest-refusefail.lua',
    '04-fulltest-refusenone.lua', '04-fulltest-refusenonehelo.lua')}


def lay_out(rundir, case, removal=False, accept_postmaster=False):
    socket = 'inet:%d@127.0.0.1' % free_port()
    os.makedirs(os.path.join(rundir, 'tests', 'conf'))
    for conf in glob.glob(os.path.join(SUITE, 'conf', '*.conf')):
        with open(conf) as handle:
            text = handle.read().replace(C_SOCKET, socket)
        with open(os.path.join(rundir, 'tests', 'conf', os.path.basename(conf)), 'w') as out:
            out.write(text.rstrip('\n') + '\n# test run: our nsd\nNameservers %s\n'
                      % DNS_ADDRESS)
            if not removal:
                out.write('# C had no removal of forged Authentication-Results\n'
                          'RemoveForgedAuthResults off\n')
            if accept_postmaster:
                out.write('AcceptPostmaster on\n')
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


def run_case(tmp_path, case, removal=False, accept_postmaster=False):
    """miltertest's exit status and output for one case."""
    rundir = str(tmp_path / 'run')
    lay_out(rundir, case, removal, accept_postmaster)
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
        return done.returncode, handle.read()


@pytest.mark.parametrize('case', CASES)
def test_c_miltertest_case(dns_server, tmp_path, case):
    returncode, output = run_case(tmp_path, case)
    if case in DIFFERS_ON_PURPOSE:
        assert returncode != 0 and DIFFERS_ON_PURPOSE[case] in output, output
    else:
        assert returncode == 0, output


@pytest.mark.parametrize('case', sorted(FOLLOWED_TO_EOM))
def test_skipped_senders_are_followed_to_eom_with_removal_on(dns_server, tmp_path, case):
    returncode, output = run_case(tmp_path, case, removal=True)
    assert returncode != 0 and FOLLOWED_TO_EOM[case] in output, output


@pytest.mark.parametrize('case', sorted(REFUSED_AT_RCPT))
def test_spf_refusals_wait_for_rcpt_with_accept_postmaster_on(dns_server, tmp_path, case):
    returncode, output = run_case(tmp_path, case, accept_postmaster=True)
    assert returncode != 0 and REFUSED_AT_RCPT[case] in output, output
