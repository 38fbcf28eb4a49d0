"""The el7 packages `make rpm` builds: contents, dependencies, scriptlets, lint,
el7 loadability, and an install/erase cycle in a scratch root."""

import gzip
import os
import re
import subprocess
import sys

import pytest

import scratchroot

SITEARCH = '/usr/lib64/python3.6/site-packages'
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
from systemd_directives import SYSTEMD_OF, parse_unit, unknown_to  # noqa: E402 (tests/)
import selinux_paths  # noqa: E402 (tests/)


def query(rpm, *options):
    return subprocess.run(['rpm', '-qp'] + list(options) + [rpm], check=True,
                          stdout=subprocess.PIPE, universal_newlines=True).stdout


def member(rpm, path):
    """The text of one file of a binary RPM."""
    return subprocess.run('rpm2cpio %s | cpio -i --quiet --to-stdout .%s' % (rpm, path),
                          shell=True, check=True, stdout=subprocess.PIPE,
                          universal_newlines=True).stdout


def member_bytes(rpm, path):
    return subprocess.run('rpm2cpio %s | cpio -i --quiet --to-stdout .%s' % (rpm, path),
                          shell=True, check=True, stdout=subprocess.PIPE).stdout


def source(path):
    with open(os.path.join(ROOT, path)) as text:
        return text.read()


MAN_PAGES = ('/usr/share/man/man8/smf-spf.8', '/usr/share/man/man5/smf-spf.conf.5')


def test_files(milter_rpm):
    files = query(milter_rpm, '-l').split()
    for path in ['/usr/sbin/smf-spf', '/etc/mail/smfs/smf-spf.conf',
                 '/usr/lib/systemd/system/smf-spf.service', '/usr/lib/tmpfiles.d/smf-spf.conf',
                 '/etc/logrotate.d/smf-spf-py', '/run/smfs', '/var/log/smf-spf.log',
                 SITEARCH + '/smf_spf/__main__.py',
                 SITEARCH + '/smf_spf_py-1.0.0-py3.6.egg-info/PKG-INFO',
                 '/usr/share/doc/smf-spf-py-1.0.0/README.md',
                 '/usr/share/doc/smf-spf-py-1.0.0/docs/migrating.md']:
        assert path in files
    for module in ('_cidr_c', '_match_c', '_cache_c'):
        assert SITEARCH + '/smf_spf/%s.cpython-36m-x86_64-linux-gnu.so' % module in files
    assert any(f.endswith('.cpython-36.pyc') for f in files)
    # brp-compress gzips them on a real el7 build
    for page in MAN_PAGES:
        assert [f for f in files if f in (page, page + '.gz')], page
    config = query(milter_rpm, '-c').split()
    assert config == ['/etc/logrotate.d/smf-spf-py', '/etc/mail/smfs/smf-spf.conf',
                      '/var/log/smf-spf.log']
    flags = dict(reversed(line.split(' ', 1)) for line in
                 query(milter_rpm, '--qf', '[%{FILEFLAGS:fflags} %{FILENAMES}\n]').splitlines())
    assert flags['/etc/mail/smfs/smf-spf.conf'] == 'cn'    # %config(noreplace)
    assert flags['/etc/logrotate.d/smf-spf-py'] == 'cn'
    # made by tmpfiles and %post, owned by the package all the same
    assert flags['/run/smfs'] == 'g'
    assert flags['/var/log/smf-spf.log'] == 'cng'
    owners = dict(reversed(line.split(' ', 1)) for line in query(
        milter_rpm, '--qf', '[%{FILEMODES:perms}:%{FILEUSERNAME}:%{FILEGROUPNAME} '
                            '%{FILENAMES}\n]').splitlines())
    assert owners['/run/smfs'] == 'drwxr-xr-x:smfs:smfs'
    assert owners['/var/log/smf-spf.log'] == '-rw-r-----:smfs:smfs'


def test_every_program_has_its_man_page(milter_rpm):
    files = query(milter_rpm, '-l').split()
    programs = [f for f in files if re.match(r'/usr/s?bin/[^/]+\Z', f)]
    assert programs == ['/usr/sbin/smf-spf']
    for program in programs:
        name = os.path.basename(program)
        section = '8' if '/sbin/' in program else '1'
        page = '/usr/share/man/man%s/%s.%s' % (section, name, section)
        assert page in files or page + '.gz' in files, page


def test_man_pages_render_without_a_warning(extracted):
    for page in MAN_PAGES:
        path = extracted + page
        path = path if os.path.exists(path) else path + '.gz'
        done = subprocess.run(['man', '--warnings', '-l', path],
                              env=dict(os.environ, MANWIDTH='80', MAN_KEEP_FORMATTING='0'),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True)
        assert done.returncode == 0 and done.stderr == '', done.stderr
        assert 'SMF-SPF' in done.stdout


def test_dependencies(milter_rpm, pyspf_rpm, prometheus_rpm):
    requires = query(milter_rpm, '--requires')
    assert re.search(r'^python36-pymilter >= 1\.0\.4$', requires, re.M)
    assert re.search(r'^python36-dns >= 1\.16$', requires, re.M)
    assert re.search(r'^python36-pyspf >= 2\.0\.12$', requires, re.M)
    # optional (MetricsListen only), and el7's rpm 4.11 has no weak dependencies
    assert 'prometheus' not in requires
    assert query(prometheus_rpm, '--qf', '%{NAME} %{VERSION} %{ARCH}') == \
        'python36-prometheus_client 0.17.1 noarch'
    assert ('/usr/lib/python3.6/site-packages/prometheus_client/exposition.py'
            in query(prometheus_rpm, '-l').split())
    assert 'shadow-utils' in requires and 'systemd' in requires
    # el7 makes python3.6dist() provides from the egg-info, and no requires
    assert 'python3.6dist' not in requires
    assert re.search(r'^python3\.6dist\(smf-spf-py\) = 1$', query(milter_rpm, '--provides'),
                     re.M)
    assert query(milter_rpm, '--conflicts') == ''
    assert query(milter_rpm, '--obsoletes').splitlines() == ['smf-spf < 3']
    assert query(pyspf_rpm, '--qf', '%{NAME} %{VERSION} %{ARCH}') == 'python36-pyspf 2.0.14 noarch'
    assert 'python36-dns' in query(pyspf_rpm, '--requires')
    assert '/usr/lib/python3.6/site-packages/spf.py' in query(pyspf_rpm, '-l').split()


def test_scriptlets(milter_rpm):
    scripts = query(milter_rpm, '--scripts')
    pre = scripts.split('preinstall scriptlet')[1].split('scriptlet')[0]
    assert 'groupadd -r smfs' in pre and 'useradd -r -g smfs' in pre
    assert 'systemctl preset smf-spf.service' in scripts
    assert 'systemctl --no-reload disable smf-spf.service' in scripts
    assert 'systemctl try-restart smf-spf.service' in scripts
    assert 'systemd-tmpfiles --create /usr/lib/tmpfiles.d/smf-spf.conf' in scripts
    # the LogTo file is tmpfiles' to make: no file commands of our own in %post
    post = scripts.split('postinstall scriptlet')[1].split('preuninstall scriptlet')[0]
    assert 'install -' not in post and 'smf-spf.log' not in post


def test_release_is_el7(milter_rpm):
    assert query(milter_rpm, '--qf', '%{RELEASE}') == '1.el7'


def _rpmlint(package):
    return subprocess.run(['rpmlint', '-c', os.path.join(ROOT, 'rpm', 'rpmlintrc.toml'),
                           package], stdout=subprocess.PIPE, universal_newlines=True).stdout


def test_rpmlint_reports_no_errors(milter_rpm, selinux_rpm, pyspf_rpm, prometheus_rpm, srpms):
    # one package a run: rpmlint 2.4 mixes up the spec files of several source RPMs
    for package in [milter_rpm, selinux_rpm, pyspf_rpm, prometheus_rpm] + srpms:
        found = _rpmlint(package)
        assert ' 0 errors' in found, found
        assert ': E: ' not in found


def test_rpmlint_finds_nothing_in_ours_that_rpmlintrc_does_not_explain(
        milter_rpm, el9_rpm, selinux_rpm, el9_selinux_rpm, srpms):
    for package in (milter_rpm, el9_rpm, selinux_rpm, el9_selinux_rpm, srpms[0]):
        found = _rpmlint(package)
        assert ' 0 errors, 0 warnings' in found, found


@pytest.fixture(scope='module')
def extracted(milter_rpm, tmp_path_factory):
    target = str(tmp_path_factory.mktemp('extracted'))
    subprocess.run('rpm2cpio %s | cpio -idm --quiet' % milter_rpm, shell=True, cwd=target,
                   check=True)
    return target


def test_extensions_load_on_el7(extracted):
    """cpython-36m ABI, no RPATH, nothing newer than glibc 2.17 (el7's): the three hot
    paths, the guard for libmilter's macro lookup and the TCP_QUICKACK reader."""
    modules = [os.path.join(extracted + SITEARCH, 'smf_spf', f)
               for f in os.listdir(extracted + SITEARCH + '/smf_spf') if f.endswith('.so')]
    assert sorted(os.path.basename(m).split('.')[0] for m in modules) == [
        '_cache_c', '_cidr_c', '_match_c', '_symguard', '_tcpack']
    for module in modules:
        dynamic = subprocess.run(['readelf', '-d', module], check=True, stdout=subprocess.PIPE,
                                 universal_newlines=True).stdout
        assert 'RPATH' not in dynamic and 'RUNPATH' not in dynamic, dynamic
        symbols = subprocess.run(['objdump', '-T', module], check=True, stdout=subprocess.PIPE,
                                 universal_newlines=True).stdout
        versions = set(re.findall(r'GLIBC_(\d+)\.(\d+)', symbols))
        assert versions and max((int(a), int(b)) for a, b in versions) <= (2, 17), versions


def test_wrapper_uses_el7_python(extracted):
    with open(extracted + '/usr/sbin/smf-spf') as wrapper:
        assert wrapper.readline() == '#!/usr/bin/python3.6 -s\n'


def test_repository_holds_our_packages_and_the_libraries_epel7_lacks(repodir):
    primary = [f for f in os.listdir(os.path.join(repodir, 'repodata'))
               if f.endswith('primary.xml.gz')]
    assert len(primary) == 1
    with gzip.open(os.path.join(repodir, 'repodata', primary[0]), 'rt') as xml:
        text = xml.read()
    for name in ('smf-spf-py', 'smf-spf-py-selinux', 'python36-pyspf',
                 'python36-prometheus_client'):
        assert '<name>%s</name>' % name in text, name


def test_install_run_and_erase_in_a_scratch_root(milter_rpm, pyspf_rpm, prometheus_rpm, python36,
                                                 tmp_path):
    root = scratchroot.make(str(tmp_path / 'root'))
    done = subprocess.run(['rpm', '--root', root, '-ivh', '--nodeps', milter_rpm, pyspf_rpm,
                           prometheus_rpm],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True)
    assert done.returncode == 0, done.stdout
    # %pre created the user and group
    with open(root + '/etc/passwd') as passwd:
        users = dict((line.split(':')[0], line.split(':')) for line in passwd)
    assert 'smfs' in users and users['smfs'][5] == '/run/smfs'
    with open(root + '/etc/group') as group:
        assert any(line.startswith('smfs:') for line in group)
    # the package's tmpfiles.d file, applied as at boot and by %post's %tmpfiles_create
    # (which needs a /proc the scratch root has not), makes the socket's directory and
    # the LogTo file logrotate.d/smf-spf-py rotates for smfs: %ghosts of the package
    assert not os.path.exists(root + '/run/smfs')
    subprocess.run(['systemd-tmpfiles', '--root', root, '--create', 'smf-spf.conf'],
                   check=True)
    run = os.stat(root + '/run/smfs')
    assert (run.st_uid, run.st_mode & 0o7777) == (int(users['smfs'][2]), 0o755)
    log = os.stat(root + '/var/log/smf-spf.log')
    assert (log.st_uid, log.st_gid) == (int(users['smfs'][2]), int(users['smfs'][3]))
    assert log.st_mode & 0o777 == 0o640
    # the installed modules import (compiled) and smf-spf -h runs, under CPython 3.6
    env = dict(os.environ, PYTHONPATH='%s%s:%s/usr/lib/python3.6/site-packages'
               % (root, SITEARCH, root))
    probe = subprocess.run([python36, '-c', 'import smf_spf, spf, prometheus_client; '
                            'print(smf_spf.EXTENSIONS, smf_spf.__file__, spf.__file__, '
                            'prometheus_client.__file__)'], env=env, check=True,
                           cwd=str(tmp_path),
                           stdout=subprocess.PIPE, universal_newlines=True).stdout.split()
    assert probe[0] == 'True' and all(path.startswith(root) for path in probe[1:]), probe
    usage = subprocess.run([python36, root + '/usr/sbin/smf-spf', '-h'], env=env, cwd=root,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True)
    assert usage.returncode == 0 and usage.stderr.startswith('Usage: smf-spf')
    checked = subprocess.run([python36, root + '/usr/sbin/smf-spf', '-t', '-c',
                              root + '/etc/mail/smfs/smf-spf.conf'], env=env, cwd=root,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             universal_newlines=True)
    # the shipped config is clean; only its User may be missing on this host, or (where it
    # exists) unable to enter the 0700 directory pytest made for the scratch root
    problems = [line for line in checked.stderr.splitlines() if 'smf-spf.conf:' in line
                and "User 'smfs' does not exist" not in line
                and 'warning: User smfs cannot enter ' not in line]
    assert problems == [], checked.stderr
    # erasing keeps an edited config, and the log (a %ghost %config file); the
    # socket's directory goes with the package
    with open(root + '/etc/mail/smfs/smf-spf.conf', 'a') as conf:
        conf.write('WhitelistIP 198.51.100.0/24\n')
    with open(root + '/var/log/smf-spf.log', 'a') as logged:
        logged.write('smf-spf[1]: SPF pass: ...\n')
    done = subprocess.run(['rpm', '--root', root, '-e', 'smf-spf-py', 'python36-pyspf',
                           'python36-prometheus_client'],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True)
    assert done.returncode == 0, done.stdout
    assert not os.path.exists(root + '/usr/sbin/smf-spf')
    with open(root + '/etc/mail/smfs/smf-spf.conf.rpmsave') as saved:
        assert 'WhitelistIP 198.51.100.0/24' in saved.read()
    with open(root + '/var/log/smf-spf.log') as logged:
        assert logged.read() == 'smf-spf[1]: SPF pass: ...\n'
    assert not os.path.exists(root + '/run/smfs')


def test_sdist_ships_generated_c(rpmdir):
    import tarfile
    sdist = os.path.join(rpmdir, 'SOURCES', 'smf-spf-py-1.0.0.tar.gz')
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
        for module in ('_cidr_c', '_match_c', '_cache_c'):
            member = 'smf-spf-py-1.0.0/pyx/%s.c' % module
            assert member in names
            head = archive.extractfile(member).read(200).decode()
            assert re.search(r'Generated by Cython 3\.0\.\d+', head), head
        assert not [n for n in names if n.endswith('.so')]


def test_el9_branch_of_the_spec(el9_rpm):
    """The same spec on el9: python3-* names, 3.9 site-packages, /usr/bin/python3, and
    python3dist() dependencies made from the installed egg-info, as el9 makes them."""
    assert query(el9_rpm, '--qf', '%{RELEASE}') == '1.el9'
    requires = query(el9_rpm, '--requires')
    for line in ('python3-pymilter >= 1.0.4', 'python3-dns >= 1.16', 'python3-pyspf >= 2.0.12',
                 'python3.9dist(pymilter) >= 1.0.4', 'python3.9dist(pyspf) >= 2.0.12',
                 'python3.9dist(dnspython) >= 1.16'):
        assert re.search('^%s$' % re.escape(line), requires, re.M), line
    provides = query(el9_rpm, '--provides').splitlines()
    assert 'python3.9dist(smf-spf-py) = 1' in provides and 'python3dist(smf-spf-py) = 1' in provides
    assert 'python36' not in requires and 'prometheus' not in requires
    assert query(el9_rpm, '--recommends').split() == ['python3-prometheus_client']
    files = query(el9_rpm, '-l').split()
    assert ('/usr/lib64/python3.9/site-packages/smf_spf/_cidr_c.cpython-39-x86_64-linux-gnu.so'
            in files)
    wrapper = subprocess.run('rpm2cpio %s | cpio -i --quiet --to-stdout ./usr/sbin/smf-spf'
                             % el9_rpm, shell=True, check=True, stdout=subprocess.PIPE,
                             universal_newlines=True).stdout
    assert wrapper.splitlines()[0] == '#!/usr/bin/python3 -s'


def _spec_requires(rhel):
    """What the spec requires when built for el<rhel> (its branches, not a build)."""
    macros = ['--load', os.path.join(ROOT, 'rpm', 'macros.el7')]
    if rhel != 7:
        macros += ['--load', os.path.join(ROOT, 'rpm', 'macros.el9'), '--define', 'rhel %d' % rhel]
    return subprocess.run(['rpmspec'] + macros + ['-q', '--requires',
                                                  os.path.join(ROOT, 'rpm', 'smf-spf-py.spec')],
                          check=True, stdout=subprocess.PIPE, universal_newlines=True).stdout


def test_el8_branch_takes_el8s_dnspython_with_epel8s_pyspf():
    """el8 ships dnspython 1.15; upstream pyspf 2.0.14 needs 1.16 (lifetime=), EPEL8's
    build from 2.0.14-8 on adds a dns query patch for it (rhbz 1891225)."""
    requires = _spec_requires(8).splitlines()
    assert 'python3-dns >= 1.15' in requires and 'python3-pyspf >= 2.0.14-8' in requires
    assert 'python3-dns >= 1.15' not in _spec_requires(9).splitlines()


@pytest.mark.parametrize('branch', ['el7', 'el9'])
def test_installed_unit_of_each_branch(branch, milter_rpm, el9_rpm):
    """The unit each build installs: el7's without NoNewPrivileges, el9's (the el8/el9
    unit) with it; both reload with SIGHUP and parse on their systemd."""
    text = member(milter_rpm if branch == 'el7' else el9_rpm,
                  '/usr/lib/systemd/system/smf-spf.service')
    assert text == source('systemd/%s/smf-spf.service' % ('el7' if branch == 'el7' else 'el8'))
    sections = parse_unit(text)
    service = sections['Service']
    assert service['ExecReload'] == '/bin/kill -HUP $MAINPID'
    if branch == 'el7':
        assert 'NoNewPrivileges' not in service
    else:
        assert service['NoNewPrivileges'] == 'yes'
        assert unknown_to(sections, SYSTEMD_OF['el8']) == []
    assert unknown_to(sections, SYSTEMD_OF[branch]) == []


def test_logrotate_snippet_in_the_rpm(milter_rpm):
    """The shipped snippet is the source one, which tests/test_units.py runs through
    logrotate --debug."""
    text = member(milter_rpm, '/etc/logrotate.d/smf-spf-py')
    assert text == source('logrotate/smf-spf')
    assert 'copytruncate' not in text and 'systemctl reload smf-spf.service' in text


# what an el7 host with the C milter's package has where ours goes, as the el7 package
# of smf-spf 2.x lays it out: its program, its config (edited by the admin below), its
# unit, the socket's directory (0700, with the socket a %ghost) and a tmpfiles.d file
# of another name
C_PACKAGE_SPEC = r'''Name: smf-spf
Version: 2.4.3
Release: 1.el7
Summary: Stand-in for the C smf-spf milter's package
License: GPL-2.0-or-later
BuildArch: noarch

%description
Stand-in for the package of the C milter smf-spf: the paths smf-spf-py takes over.

%install
install -D -m 0755 /dev/null %{buildroot}/usr/sbin/smf-spf
install -d %{buildroot}/etc/mail/smfs
printf 'WhitelistIP 127.0.0.0/8\n' > %{buildroot}/etc/mail/smfs/smf-spf.conf
install -D -m 0644 /dev/null %{buildroot}/usr/lib/systemd/system/smf-spf.service
install -d -m 0700 %{buildroot}/run/smfs
: > %{buildroot}/run/smfs/smf-spf.sock
install -d %{buildroot}/usr/lib/tmpfiles.d
printf 'd /run/smfs 0700 smfs smfs -\n' > %{buildroot}/usr/lib/tmpfiles.d/smfs.conf

%pre
getent group smfs >/dev/null || groupadd -r smfs
getent passwd smfs >/dev/null || useradd -r -g smfs -d /var/lib/smfs -s /sbin/nologin smfs
exit 0

%files
/usr/sbin/smf-spf
%dir /etc/mail/smfs
%config(noreplace) /etc/mail/smfs/smf-spf.conf
/usr/lib/systemd/system/smf-spf.service
%attr(0700,smfs,smfs) %dir /run/smfs
%ghost /run/smfs/smf-spf.sock
/usr/lib/tmpfiles.d/smfs.conf
'''


@pytest.fixture(scope='module')
def c_package(tmp_path_factory):
    top = tmp_path_factory.mktemp('c-package')
    spec = top / 'smf-spf.spec'
    spec.write_text(C_PACKAGE_SPEC)
    done = subprocess.run(['rpmbuild', '--define', '_topdir %s' % top, '-bb', str(spec)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True)
    assert done.returncode == 0, done.stdout
    return str(top / 'RPMS' / 'noarch' / 'smf-spf-2.4.3-1.el7.noarch.rpm')


def test_installing_ours_replaces_the_c_package_and_keeps_its_config(
        c_package, milter_rpm, pyspf_rpm, prometheus_rpm, tmp_path):
    """What `yum install smf-spf-py` does on a host with the C milter's package: one
    upgrade transaction, in which our Obsoletes: smf-spf removes it. The admin's
    smf-spf.conf stays in place and in use; ours is put beside it."""
    root = scratchroot.make(str(tmp_path / 'root'))

    def rpm(*arguments):
        return subprocess.run(['rpm', '--root', root] + list(arguments),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True)
    assert rpm('-i', '--nodeps', c_package).returncode == 0
    config = root + '/etc/mail/smfs/smf-spf.conf'
    with open(config, 'a') as conf:
        conf.write('WhitelistIP 198.51.100.0/24\n')
    done = rpm('-U', '--nodeps', milter_rpm, pyspf_rpm, prometheus_rpm)
    assert done.returncode == 0, done.stdout
    assert rpm('-q', 'smf-spf').returncode == 1
    assert rpm('-q', '--qf', '%{NAME}', 'smf-spf-py').stdout == 'smf-spf-py'
    assert rpm('-qf', '--qf', '%{NAME}\n', '/etc/mail/smfs/smf-spf.conf').stdout.split() == [
        'smf-spf-py']
    with open(config) as conf:
        assert conf.read() == 'WhitelistIP 127.0.0.0/8\nWhitelistIP 198.51.100.0/24\n'
    with open(config + '.rpmnew') as shipped:
        assert shipped.read() == source('conf/smf-spf.conf')
    with open(root + '/usr/sbin/smf-spf') as program:
        assert program.readline() == '#!/usr/bin/python3.6 -s\n'
    # the socket's directory outlives the C package's removal: ours owns it too
    assert os.path.isdir(root + '/run/smfs')
    assert rpm('-qf', '--qf', '%{NAME}\n', '/run/smfs').stdout.split() == ['smf-spf-py']
    assert not os.path.exists(root + '/usr/lib/tmpfiles.d/smfs.conf')
    assert os.path.exists(root + '/usr/lib/tmpfiles.d/smf-spf.conf')


def test_the_egg_info_names_the_dependencies_and_the_metrics_extra(milter_rpm):
    """pip's `smf-spf-py[metrics]` and the python3dist() generators read this."""
    text = member(milter_rpm, SITEARCH + '/smf_spf_py-1.0.0-py3.6.egg-info/requires.txt')
    required, _, extras = text.partition('\n\n')
    assert required.split() == ['pymilter>=1.0.4', 'pyspf>=2.0.12', 'dnspython>=1.16']
    assert extras.split() == ['[metrics]', 'prometheus_client']
# -- smf-spf-py-selinux --------------------------------------------------------------

MODULE_PACKAGE = '/usr/share/selinux/packages/targeted/smf_spf.pp.bz2'
MODULE_INTERFACE = '/usr/share/selinux/devel/include/distributed/smf_spf.if'
MODULE_IN_STORE = '/var/lib/selinux/targeted/active/modules/200/smf_spf'


@pytest.mark.parametrize('branch', ['el7', 'el9'])
def test_selinux_subpackage(branch, selinux_rpm, el9_selinux_rpm):
    """noarch, the module (bzip2, a policy package declaring our types), its
    interface file and docs/selinux.md, the store entry semodule makes as a %ghost,
    and the targeted policy it is for."""
    rpm = selinux_rpm if branch == 'el7' else el9_selinux_rpm
    assert query(rpm, '--qf', '%{NAME} %{VERSION} %{RELEASE} %{ARCH}') == \
        'smf-spf-py-selinux 1.0.0 1.%s noarch' % branch
    flags = dict(reversed(line.split(' ', 1)) for line in
                 query(rpm, '--qf', '[%{FILEFLAGS:fflags} %{FILENAMES}\n]').splitlines())
    ours = dict((path, flag) for path, flag in flags.items()
                if not path.startswith(('/usr/share/doc/', '/usr/share/licenses/')))
    assert ours == {MODULE_PACKAGE: '', MODULE_INTERFACE: '', MODULE_IN_STORE: 'g'}
    [doc] = [path for path, flag in flags.items() if flag == 'd']
    assert doc.endswith('/selinux.md') and member(rpm, doc) == source('docs/selinux.md')
    assert [path for path, flag in flags.items() if flag == 'l'][0].endswith('/COPYING')
    requires = query(rpm, '--requires').splitlines()
    assert 'selinux-policy-targeted' in requires and 'policycoreutils' in requires
    package = subprocess.run(['bunzip2'], input=member_bytes(rpm, MODULE_PACKAGE),
                             stdout=subprocess.PIPE, check=True).stdout
    cil = subprocess.run(['/usr/libexec/selinux/hll/pp'], input=package, check=True,
                         stdout=subprocess.PIPE).stdout.decode()
    for type_ in ('smf_spf_milter_t', 'smf_spf_milter_exec_t', 'smf_spf_milter_data_t',
                  'smf_spf_milter_conf_t', 'smf_spf_milter_log_t'):
        assert '(type %s)' % type_ in cil
    assert member(rpm, MODULE_INTERFACE) == source('selinux/smf_spf.if')


def test_main_package_pulls_in_the_policy_on_el9_only(milter_rpm, el9_rpm):
    """el8/el9: a rich dependency, wherever the targeted policy is installed; el7's
    rpm 4.11 has none (docs/selinux.md says to install the subpackage by name)."""
    assert '(smf-spf-py-selinux = 1.0.0-1.el9 if selinux-policy-targeted)' in \
        query(el9_rpm, '--requires').splitlines()
    assert 'selinux' not in query(milter_rpm, '--requires')


def test_file_contexts_of_what_the_rpms_install(milter_rpm, selinux_rpm):
    """Each path the packages install gets the type selinux/smf_spf.fc means for it
    (none: the distribution's), as the el policies look it up (/run as /var/run)."""
    entries = selinux_paths.read_fc()
    expected = dict((path, type_) for path, _, type_ in selinux_paths.expected_paths())
    kinds = {'d': 'dir', '-': 'file', 'l': 'symlink'}
    installed = []
    for rpm in (milter_rpm, selinux_rpm):
        for line in query(rpm, '--qf', '[%{FILEMODES:perms} %{FILENAMES}\n]').splitlines():
            perms, path = line.split(' ', 1)
            installed.append(path)
            assert selinux_paths.fc_type(entries, path, kinds[perms[0]]) == expected.get(path), \
                path
    # the program, config directory and file, and what tmpfiles makes (%ghost): the
    # socket directory and the LogTo file
    assert sorted(p for p in installed if p in expected) == sorted(
        ['/usr/sbin/smf-spf', '/etc/mail/smfs', '/etc/mail/smfs/smf-spf.conf', '/run/smfs',
         '/var/log/smf-spf.log']), installed
    # expected_paths() reads the sources of what the RPM ships
    assert member(milter_rpm, '/usr/lib/tmpfiles.d/smf-spf.conf') == \
        source('tmpfiles/smf-spf.conf')
    assert member(milter_rpm, '/etc/logrotate.d/smf-spf-py') == source('logrotate/smf-spf')


STUBS = ('selinuxenabled', 'semodule', 'load_policy', 'fixfiles', 'systemctl')


def test_selinux_scriptlets_in_a_scratch_root(selinux_rpm, tmp_path):
    """On an enforcing targeted host (here: its config and stand-ins for its tools
    that record their arguments): the module goes into the store at priority 200,
    what the new file contexts change is relabelled, the milter restarted into its
    domain; erasing takes the module out again."""
    root = scratchroot.make(str(tmp_path / 'root'), ['/bin/cp', '/bin/rm', '/bin/cat'])
    os.makedirs(root + '/etc/selinux/targeted/contexts/files')
    os.makedirs(root + '/var/lib/rpm-state')
    with open(root + '/etc/selinux/config', 'w') as config:
        config.write('SELINUX=enforcing\nSELINUXTYPE=targeted\n')
    with open(root + '/etc/selinux/targeted/contexts/files/file_contexts', 'w') as fc:
        fc.write('/before(/.*)?\tsystem_u:object_r:etc_t:s0\n')
    for stub in STUBS:
        with open(root + '/usr/sbin/' + stub, 'w') as script:
            # fixfiles also shows the file_contexts it compares with
            script.write('#!/bin/sh\necho "%s $*" >> /calls\n' % stub
                         + ('[ "$1" = -C ] && cat "$2" >> /calls\n' if stub == 'fixfiles' else ''))
        os.chmod(root + '/usr/sbin/' + stub, 0o755)

    def rpm(*args):
        done = subprocess.run(['rpm', '--root', root, '--nodeps'] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True)
        assert done.returncode == 0, done.stdout
        with open(root + '/calls') as calls:
            text = calls.read()
        os.unlink(root + '/calls')
        return text

    calls = rpm('-ivh', selinux_rpm)
    assert 'semodule -n -s targeted -X 200 -i %s\n' % MODULE_PACKAGE in calls
    assert 'load_policy' in calls
    assert ('fixfiles -C /var/lib/rpm-state/file_contexts.pre restore\n'
            '/before(/.*)?\tsystem_u:object_r:etc_t:s0\n') in calls
    assert calls.index('semodule') < calls.index('fixfiles') < calls.index('systemctl try-restart')
    assert not os.path.exists(root + '/var/lib/rpm-state/file_contexts.pre')
    assert os.path.exists(root + MODULE_PACKAGE)
    calls = rpm('-e', 'smf-spf-py-selinux')
    assert 'semodule -n -s targeted -X 200 -r smf_spf\n' in calls
    assert calls.index('semodule') < calls.index('fixfiles') < calls.index('systemctl try-restart')
    assert not os.path.exists(root + MODULE_PACKAGE)
