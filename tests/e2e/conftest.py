import os
import shutil
import tempfile

import pytest

from services import Milter, Nsd, Postfix, SmtpSink


@pytest.fixture(scope='session')
def workdir():
    directory = tempfile.mkdtemp(prefix='smf-spf-e2e-')
    os.chmod(directory, 0o755)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope='session')
def dns_server(workdir):
    server = Nsd(workdir).start()
    yield server
    server.stop()


@pytest.fixture(scope='session')
def mail_path(workdir, dns_server):
    """smtp-sink <- Postfix <- (milter) for the whole session."""
    sink = SmtpSink(workdir).start()
    milter = Milter(workdir, 'AddReceivedHeader on', 'RefuseFail on').start()
    postfix = Postfix(workdir, milter.port, sink.port).start()
    yield postfix, milter, sink
    postfix.stop()
    milter.stop()
    sink.stop()
