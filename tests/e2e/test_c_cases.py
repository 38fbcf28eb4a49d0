"""The C smf-spf suite's facts (c_cases.py) checked against our running daemon.

For each case and configuration we write a config and a miltertest script from the record:
miltertest (Debian's, the libmilter-protocol client) starts our daemon through a launcher,
sends what the case says and stops at the first reply or header edit that is not what the
case wants, with a message naming the case and the step. nsd answers for underspell.com
(services.C_SUITE_ZONES).
"""

import os
import signal
import subprocess
import sys
import time

import pytest

import c_cases
from c_cases import ANY, CASES, Differs
from services import DNS_ADDRESS, free_port, need

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

LUA_HELPERS = r'''
local reply_names = {[SMFIR_CONTINUE] = "continue", [SMFIR_ACCEPT] = "accept",
    [SMFIR_REPLYCODE] = "replycode", [SMFIR_REJECT] = "reject",
    [SMFIR_TEMPFAIL] = "tempfail", [SMFIR_DISCARD] = "discard"}
local edit_checks = {insert = MT_HDRINSERT, add = MT_HDRADD, change = MT_HDRCHANGE}

-- miltertest does not print a script's error: say it first
local function wrong(step, what)
    local message = "CASE FAILED " .. case .. ", " .. step .. ": " .. what
    mt.echo(message)
    error(message, 0)
end

local function sent(step, problem)
    if problem ~= nil then wrong(step, "could not be sent: " .. problem) end
end

local function answered(step, wanted)
    local got = mt.getreply(conn)
    local name = reply_names[got] or ("reply code " .. tostring(got))
    local good = name == wanted
    if wanted == "not accept" then good = got ~= SMFIR_ACCEPT end
    if not good then wrong(step, "wanted " .. wanted .. ", got " .. name) end
    mt.echo(case .. ", " .. step .. ": " .. name)
end

local function edited(step, field, ways, contains, lacks)
    local done = false
    for _, way in ipairs(ways) do
        done = done or mt.eom_check(conn, edit_checks[way], field)
    end
    if not done then wrong(step, field .. " was not written (" .. table.concat(ways, ", ") .. ")") end
    local value = mt.getheader(conn, field, 0)
    if value == nil then wrong(step, field .. " has no value") end
    if contains ~= "" and string.find(value, contains, 1, true) == nil then
        wrong(step, field .. " lacks " .. contains .. ": " .. value)
    end
    if lacks ~= "" and string.find(value, lacks, 1, true) ~= nil then
        wrong(step, field .. " has " .. lacks .. ": " .. value)
    end
    mt.echo(case .. ", " .. step .. ": " .. field .. ": " .. value)
end

local function open(socket)
    conn = mt.connect(socket, 40, 0.25)
    if conn == nil then wrong("start", "the daemon does not listen on " .. socket) end
end
'''

# how each command is sent, and how the step is named in messages
SEND = {
    'connect': ('mt.conninfo(conn, %s, %s)', 'connect from %s [%s]'),
    'helo': ('mt.helo(conn, %s)', 'HELO %s'),
    'mail': ('mt.mailfrom(conn, %s)', 'MAIL FROM %s'),
    'rcpt': ('mt.rcptto(conn, %s)', 'RCPT TO %s'),
    'header': ('mt.header(conn, %s, %s)', 'header %s: %s'),
    'eom': ('mt.eom(conn)', 'end of message'),
}
MACRO_STAGE = {'connect': 'SMFIC_CONNECT', 'helo': 'SMFIC_HELO', 'mail': 'SMFIC_MAIL',
               'rcpt': 'SMFIC_RCPT'}


def lua_string(text):
    assert all(32 <= ord(char) < 127 or char == '\t' for char in text), text
    return '"%s"' % text.replace('\\', '\\\\').replace('"', '\\"').replace('\t', '\\t')


def lua_script(case, mode, socket, launcher, conf):
    """Our miltertest script for one case under one configuration."""
    out = ['case = %s' % lua_string('%s [%s]' % (case.name, mode)), LUA_HELPERS,
           'mt.startfilter(%s)' % ', '.join(map(lua_string, (launcher, '-f', '-c', conf))),
           'open(%s)' % lua_string(socket)]
    introduced = False
    for number, step in enumerate(case.steps, 1):
        if step.command == 'wait':
            out.append('mt.sleep(%s)' % step.args[0])
            continue
        if step.command == 'connect':
            if introduced:
                out += ['mt.disconnect(conn)', 'open(%s)' % lua_string(socket)]
            introduced = True
        call, label = SEND[step.command]
        name = lua_string('step %d, %s' % (number, label % step.args))
        for macro, value in step.macros:
            out.append('mt.macro(conn, %s, %s, %s)' % (MACRO_STAGE[step.command],
                                                        lua_string(macro), lua_string(value)))
        out.append('sent(%s, %s)' % (name, call % tuple(map(lua_string, step.args))))
        wanted = c_cases.expected_reply(step, mode)
        if wanted != ANY:
            out.append('answered(%s, %s)' % (name, lua_string(wanted)))
        for edit in step.edits:
            out.append('edited(%s, %s, {%s}, %s, %s)' % (
                name, lua_string(edit.field), ', '.join(map(lua_string, edit.ways)),
                lua_string(edit.contains), lua_string(edit.lacks)))
    if introduced:
        out.append('mt.disconnect(conn)')
    out.append('mt.echo(case .. ": all steps as expected")')
    return '\n'.join(out) + '\n'


def config_text(case, mode, socket):
    """The run's own lines, then the mode's and the case's. No newline after the last line:
    C's configs ended so (01-loadconfig-q)."""
    lines = ['Socket %s' % socket, 'Nameservers %s' % DNS_ADDRESS, 'LogTo /dev/stdout',
             'Syslog none', 'User %s' % ('nobody' if os.getuid() == 0 else 'root')]
    return '\n'.join(lines + list(c_cases.MODE_CONFIG[mode]) + list(case.config))


def stop_daemon(pid_file):
    """miltertest -w leaves the daemon it started running (libmilter takes seconds to
    wind down on SIGTERM, for every case): end it here, by its own pid."""
    try:
        with open(pid_file) as handle:
            pid = int(handle.read())
        os.kill(pid, signal.SIGKILL)
    except (IOError, OSError, ValueError):
        return
    deadline = time.time() + 10
    while time.time() < deadline and not _ended(pid):
        time.sleep(0.05)


def _ended(pid):
    """Whether `pid` has exited.  miltertest -w leaves the daemon to init, and a zombie
    still answers kill(pid, 0) until init reaps it (about 2 s on some sandboxes' init)."""
    try:
        with open('/proc/%d/stat' % pid) as handle:
            return handle.read().rsplit(')', 1)[1].split()[0] in ('Z', 'X')
    except (IOError, OSError, IndexError):
        return True


def run_case(rundir, case, mode):
    """miltertest's exit status and output (the daemon's log lines among them)."""
    socket = 'inet:%d@127.0.0.1' % free_port()
    conf = os.path.join(rundir, 'smf-spf.conf')
    launcher = os.path.join(rundir, 'smf-spf')
    pid_file = os.path.join(rundir, 'smf-spf.pid')
    script = os.path.join(rundir, 'case.lua')
    with open(conf, 'w') as out:
        out.write(config_text(case, mode, socket))
    with open(launcher, 'w') as out:
        out.write('#!/bin/sh\necho $$ > %s\nPYTHONPATH=%s exec %s -m smf_spf "$@"\n'
                  % (pid_file, ROOT, sys.executable))
    os.chmod(launcher, 0o755)
    with open(script, 'w') as out:
        out.write(lua_script(case, mode, socket, launcher, conf))
    # a file, not a pipe: the daemon (LogTo /dev/stdout) holds its output open
    output_path = os.path.join(rundir, 'miltertest.out')
    try:
        with open(output_path, 'w') as output:
            done = subprocess.run([need('miltertest'), '-v', '-w', '-s', script], cwd=rundir,
                                  stdout=output, stderr=subprocess.STDOUT, timeout=120)
    finally:
        stop_daemon(pid_file)
    with open(output_path) as handle:
        return done.returncode, handle.read()


RUNS = [pytest.param(case, mode, id=case.name if mode == c_cases.AS_C else
                     '%s, %s' % (case.name, mode))
        for case in CASES for mode in c_cases.modes_of(case)]


@pytest.mark.parametrize('case, mode', RUNS)
def test_c_case(dns_server, tmp_path, case, mode):
    returncode, output = run_case(str(tmp_path), case, mode)
    if returncode != 0:
        reason = [line for line in output.splitlines() if 'CASE FAILED' in line]
        pytest.fail('%s\n(%s)\n--- miltertest and daemon output ---\n%s' % (
            reason[0] if reason else 'miltertest exited with %d' % returncode,
            case.shows, output), pytrace=False)


def test_the_table_covers_the_c_suite_and_each_difference_is_one():
    names = [case.name for case in CASES]
    assert len(set(names)) == len(names)
    assert set(c_cases.SAME_FACTS.values()) <= set(names)
    assert len(names) + len(c_cases.SAME_FACTS) == c_cases.C_SUITE_SIZE
    differences = [step.reply for case in CASES for step in case.steps
                   if isinstance(step.reply, Differs)]
    assert len(set(differences)) == 3
    for difference in differences:
        assert c_cases.AS_C in dict(difference.ours)
        assert any(reply != difference.c_wants for _, reply in difference.ours), difference
