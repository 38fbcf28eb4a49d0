"""The SELinux policy module (selinux/smf_spf.*): it builds against the host's
policy headers (here Debian's refpolicy, selinux-policy-dev; in the RPM's %check on
an el build host its selinux-policy-devel), and its file contexts give each of the
milter's paths the type the module means for it. Its checks against el7's, el8's
and el9's own policies need their sources: make selinux-check (docs/selinux.md)."""

import os
import re
import shutil
import subprocess

import pytest

import selinux_paths

DEVEL_MAKEFILE = '/usr/share/selinux/devel/Makefile'
MODULE_SOURCES = [os.path.join(selinux_paths.ROOT, 'selinux', 'smf_spf.' + suffix)
                  for suffix in ('te', 'if', 'fc')]


def source(path):
    with open(path) as text:
        return text.read()


@pytest.fixture(scope='module')
def refpolicy_cil(tmp_path_factory):
    """The module built with the policy development Makefile, as the RPM's %build
    does, and read back as CIL."""
    build = str(tmp_path_factory.mktemp('selinux'))
    for path in MODULE_SOURCES:
        shutil.copy(path, build)
    done = subprocess.run(['make', '-f', DEVEL_MAKEFILE, 'smf_spf.pp'], cwd=build,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True)
    assert done.returncode == 0 and 'ERROR' not in done.stdout, done.stdout
    with open(os.path.join(build, 'smf_spf.pp'), 'rb') as package:
        return subprocess.run(['/usr/libexec/selinux/hll/pp'], stdin=package, check=True,
                              stdout=subprocess.PIPE, universal_newlines=True).stdout


def declared_types(te_text):
    return set(re.findall(r'^type (\w+);', te_text, re.M)) | set(
        '%s_milter_%s' % (name, suffix)
        for name in re.findall(r'^milter_template\((\w+)\)', te_text, re.M)
        for suffix in ('t', 'exec_t', 'data_t'))


def attribute_members(cil, attribute):
    return set(' '.join(re.findall(r'^\(typeattributeset %s \(([^)]*)\)\)$' % attribute,
                                   cil, re.M)).split())


def test_module_builds_against_refpolicy_headers(refpolicy_cil):
    for type_ in declared_types(source(MODULE_SOURCES[0])):
        assert '(type %s)' % type_ in refpolicy_cil, type_
    # the template's milter attributes, which Postfix's domains are allowed to reach
    assert 'smf_spf_milter_t' in attribute_members(refpolicy_cil, 'milter_domains')
    assert 'smf_spf_milter_data_t' in attribute_members(refpolicy_cil, 'milter_data_type')
    assert re.search(r'^\(allow smf_spf_milter_t self \(capability \(.*\bsetuid\b.*\)\)\)$',
                     refpolicy_cil, re.M)
    assert re.search(r'^\(allow smf_spf_milter_t smf_spf_milter_metrics_port_t '
                     r'\(tcp_socket \(name_bind\)\)\)$', refpolicy_cil, re.M)
    # the stop nudge (smf_spf/signals.py): tgkill to its own thread is checked so
    assert re.search(r'^\(allow smf_spf_milter_t self \(process \(.*\bsignal\b.*\)\)\)$',
                     refpolicy_cil, re.M)


def test_module_gives_no_unconfined_attribute(refpolicy_cil):
    memberships = re.findall(r'^\(typeattributeset (\S+) \(([^)]*)\)\)$', refpolicy_cil, re.M)
    ours = [attribute for attribute, members in memberships if 'smf_spf_milter_t' in members.split()]
    assert 'milter_domains' in ours
    assert not [a for a in ours if 'unconfined' in a], ours
    assert '(typepermissive smf_spf_milter_t)' not in refpolicy_cil


def test_file_contexts_name_declared_types():
    declared = declared_types(source(MODULE_SOURCES[0]))
    assert set(e.type for e in selinux_paths.read_fc()) <= declared


@pytest.mark.parametrize('path, kind, type_', selinux_paths.expected_paths())
def test_each_path_gets_the_type_meant_for_it(path, kind, type_):
    assert selinux_paths.fc_type(selinux_paths.read_fc(), path, kind) == type_


@pytest.mark.parametrize('path, kind', [
    ('/etc/mail', 'dir'), ('/etc/mail/sendmail.cf', 'file'), ('/usr/sbin/smf-spf', 'dir'),
    ('/usr/sbin/smf-spf.orig', 'file'), ('/run', 'dir'), ('/run/smfs-old', 'dir'),
    ('/var/log', 'dir'), ('/var/log/messages', 'file'), ('/var/log/smf-spf.log', 'dir'),
    ('/var/log/smf-spf-log', 'file')])
def test_other_paths_are_left_to_the_distribution(path, kind):
    assert selinux_paths.fc_type(selinux_paths.read_fc(), path, kind) is None


def test_the_matcher_follows_libselinux():
    entries = [selinux_paths.FcEntry('/a(/.*)?', None, 'a_t'),
               selinux_paths.FcEntry('/a/b(/.*)?', None, 'b_t'),
               selinux_paths.FcEntry('/a/b/c', 'file', 'c_t')]
    assert selinux_paths.fc_type(entries, '/a/x', 'file') == 'a_t'
    assert selinux_paths.fc_type(entries, '/a/b/x', 'file') == 'b_t'
    # an exact path wins, for the kind of inode its entry names
    assert selinux_paths.fc_type(entries, '/a/b/c', 'file') == 'c_t'
    assert selinux_paths.fc_type(entries, '/a/b/c', 'dir') == 'b_t'
    # an alias (/run for /var/run on el7-el9) is looked up as its original
    assert selinux_paths.alias_resolved('/run/smfs/s') == '/var/run/smfs/s'
    assert selinux_paths.alias_resolved('/run/lock/x') == '/var/lock/x'
    assert selinux_paths.alias_resolved('/runner') == '/runner'
    with pytest.raises(ValueError):
        selinux_paths.read_fc(MODULE_SOURCES[0])
