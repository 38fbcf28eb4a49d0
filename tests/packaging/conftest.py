import os

import pytest


def pytest_addoption(parser):
    parser.addoption('--rpmdir', help='rpmbuild _topdir holding RPMS/ and SRPMS/')
    parser.addoption('--repodir', help='the yum repository made by make repo')
    parser.addoption('--python36', help='a CPython 3.6 with pymilter and dnspython')
    parser.addoption('--el9-rpmdir', help='rpmbuild _topdir of the el9 build check')


def _option(config, name):
    value = config.getoption(name)
    if not value:
        raise pytest.UsageError('tests/packaging needs --%s (run them with make test-rpm)' % name)
    return os.path.abspath(value)


@pytest.fixture(scope='session')
def rpmdir(request):
    return _option(request.config, 'rpmdir')


@pytest.fixture(scope='session')
def repodir(request):
    return _option(request.config, 'repodir')


@pytest.fixture(scope='session')
def el9_rpm(request):
    return _one(os.path.join(_option(request.config, 'el9_rpmdir'), 'RPMS'),
                'smf-spf-py-1.0.0-1.el9.x86_64')


@pytest.fixture(scope='session')
def el9_selinux_rpm(request):
    return _one(os.path.join(_option(request.config, 'el9_rpmdir'), 'RPMS'),
                'smf-spf-py-selinux-1.0.0-1.el9.noarch')


@pytest.fixture(scope='session')
def python36(request):
    return _option(request.config, 'python36')


def _one(directory, prefix):
    found = []
    for root, _, files in os.walk(directory):
        found += [os.path.join(root, f) for f in files if f.startswith(prefix)]
    assert len(found) == 1, (prefix, found)
    return found[0]


def _rpm(name, prefix):
    """A session fixture `name`: the one file under --rpmdir's RPMS/ whose name starts with
    prefix."""
    @pytest.fixture(scope='session', name=name)
    def fixture(rpmdir):
        return _one(os.path.join(rpmdir, 'RPMS'), prefix)
    return fixture


milter_rpm = _rpm('milter_rpm', 'smf-spf-py-1.0.0-1.el7.x86_64')
selinux_rpm = _rpm('selinux_rpm', 'smf-spf-py-selinux-1.0.0-1.el7.noarch')
pyspf_rpm = _rpm('pyspf_rpm', 'python36-pyspf-')
prometheus_rpm = _rpm('prometheus_rpm', 'python36-prometheus_client-')


@pytest.fixture(scope='session')
def srpms(rpmdir):
    return [_one(os.path.join(rpmdir, 'SRPMS'), 'smf-spf-py-'),
            _one(os.path.join(rpmdir, 'SRPMS'), 'python-pyspf-'),
            _one(os.path.join(rpmdir, 'SRPMS'), 'python-prometheus_client-')]
