"""The floor any pymilter milter pays: the callbacks smf-spf-py registers, each
answering CONTINUE, with the same action flags.  Used by bench/e2e.py.

    python bench/null_milter.py inet:PORT@127.0.0.1
"""

import sys

import Milter

FLAGS = Milter.ADDHDRS | Milter.CHGHDRS | Milter.ADDRCPT | Milter.DELRCPT


class NullMilter(Milter.Base):
    def connect(self, hostname, family, hostaddr):
        return Milter.CONTINUE

    def hello(self, heloname):
        return Milter.CONTINUE

    def envfrom(self, mailfrom, *params):
        return Milter.CONTINUE

    def envrcpt(self, to, *params):
        return Milter.CONTINUE

    def data(self):
        return Milter.CONTINUE

    def header(self, name, value):
        return Milter.CONTINUE

    def eom(self):
        return Milter.CONTINUE

    def abort(self):
        return Milter.CONTINUE

    def close(self):
        return Milter.CONTINUE


def main(socket_spec):
    Milter.factory = NullMilter
    Milter.set_flags(FLAGS)
    Milter.runmilter('null-milter', socket_spec, 0)


if __name__ == '__main__':
    main(sys.argv[1])
