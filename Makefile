# smf-spf-py: make run (the milter in the foreground) and make test (everything CI runs)

PYTHON      ?= python3
PYENV_ROOT  ?= $(shell pyenv root 2>/dev/null || echo $$HOME/.pyenv)
PYTHON36    ?= $(PYENV_ROOT)/versions/3.6.15/bin/python3.6
VENV        := .venv
VENV36      := .venv36
RUN_SOCKET  ?= inet:10011@127.0.0.1
DEBIAN_PACKAGES := make gcc libc6-dev libmilter-dev postfix nsd rpm rpmlint createrepo-c file \
                   binutils cpio passwd python3-dev python3-venv logrotate systemd miltertest \
                   groff-base man-db python3-packaging m4 util-linux mount hostname \
                   selinux-policy-dev checkpolicy semodule-utils selinux-utils setools bzip2
# Sendmail for the end-to-end tests: sendmail-bin conflicts with postfix as a package, so
# `make sendmail` downloads and unpacks it (dpkg -x, into build/sendmail) instead, and
# installs the libraries it depends on; m4 builds its config, unshare (util-linux), mount
# and hostname give it namespaces of its own. selinux-policy-dev to setools: the SELinux
# module's build and checks (docs/selinux.md)

.PHONY: all deps venv venv36 build build36 run test test-unit test-twins test-e2e test36 vermin man manlint bench bench-e2e bench-sendmail sendmail clean rpm rpm-el9 repo test-rpm selinux-check

all: build

# Debian packages the build and the tests need (installs only what is missing; needs root)
deps:
	@missing=""; for p in $(DEBIAN_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

$(VENV)/.done: requirements-dev.txt setup.py
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements-dev.txt vermin
	touch $@

$(VENV36)/.done: requirements-el7.txt setup.py
	$(PYTHON36) -m venv $(VENV36)
	$(VENV36)/bin/pip install -q --upgrade "pip<22"
	$(VENV36)/bin/pip install -q -r requirements-el7.txt
	touch $@

venv: deps $(VENV)/.done
venv36: deps $(VENV36)/.done

# compiled hot paths, in place, for each interpreter (the .so names differ by ABI)
build: venv
	$(VENV)/bin/python setup.py -q build_ext --inplace

build36: venv36
	$(VENV36)/bin/python setup.py -q build_ext --inplace

build/run.conf: conf/smf-spf.conf
	mkdir -p build
	cp conf/smf-spf.conf $@
	printf '\n# make run: loopback socket, log to the terminal, stay in the foreground\nSocket %s\nLogTo /dev/stdout\nDaemonize off\n' '$(RUN_SOCKET)' >> $@

# the milter in the foreground on $(RUN_SOCKET) with the bundled default config
run: build build/run.conf
	@id smfs >/dev/null 2>&1 || useradd --system --no-create-home --home-dir /run/smfs \
	  --shell /usr/sbin/nologin smfs
	$(VENV)/bin/python -m smf_spf -f -c build/run.conf

test: test-unit test-twins test-e2e test36 vermin manlint test-rpm
# test36 has just run the unit suite under el7's CPython 3.6 stack: the RPM's %check would
# run it again under the same interpreter (make rpm alone keeps %check, as a release needs)
test: RPM_CHECK := --without check

test-unit: build
	$(VENV)/bin/python -m pytest -q tests --ignore=tests/e2e --ignore=tests/packaging

# the same unit suite with the plain-Python twins of the compiled modules forced (the
# daemons the tests start inherit it): what runs where the extensions cannot be built
test-twins: build
	SMF_SPF_NO_EXTENSIONS=1 $(VENV)/bin/python -m pytest -q -p no:cacheprovider tests \
	  --ignore=tests/e2e --ignore=tests/packaging

test-e2e: build sendmail
	$(VENV)/bin/python -m pytest -q tests/e2e

# Debian's Sendmail unpacked into build/sendmail (apt-get download; never installed)
sendmail:
	$(PYTHON) tests/e2e/services.py sendmail

# the el7 stack: CPython 3.6 with EPEL7's pymilter 1.0.4 and dnspython 1.16
test36: build36 sendmail
	$(VENV36)/bin/python -m pytest -q -p no:cacheprovider tests --ignore=tests/packaging

vermin: venv
	$(VENV)/bin/vermin --no-tips --violations -t=3.6- --eval-annotations --backport typing smf_spf setup.py

MANPAGES := man/smf-spf.8 man/smf-spf.conf.5

# the key sections of smf-spf.conf(5), written anew from the code's key table (commit them)
man: venv
	$(VENV)/bin/python tools/manpage.py

# the man pages: key sections as tools/manpage.py writes them, not one groff warning
manlint: venv
	$(VENV)/bin/python tools/manpage.py --check
	@out=$$(groff -ww -z -man -Tutf8 $(MANPAGES) 2>&1); \
	if [ -n "$$out" ]; then echo "$$out"; exit 1; fi

bench: build
	$(VENV)/bin/pip install -q pytricia pyahocorasick
	$(VENV)/bin/python bench/hotpaths.py
	$(VENV)/bin/python bench/cache_rss.py
	$(VENV)/bin/python bench/spf_miss.py --pyspf-hook

# real Postfix + nsd + load on loopback: no milter, a null pymilter milter, smf-spf-py and
# the peer, spf-engine's pyspf-milter (same pyspf, dnspython and pymilter as ours)
bench-e2e: build
	$(VENV)/bin/pip install -q spf-engine==3.1.0
	$(VENV)/bin/python bench/e2e.py

# ms per SMTP stage through Sendmail: no milter, unix and inet sockets (see docs/sendmail.md)
bench-sendmail: build sendmail
	$(VENV)/bin/python bench/sendmail_stages.py

# -- el7 packages ----------------------------------------------------------------
RPMTOP      := $(CURDIR)/build/rpmbuild
# the build interpreter's own link flags would leave an RPATH into its tree
RPMBUILD     = LDSHARED="gcc -pthread -shared" LDFLAGS="" rpmbuild --nodeps --load rpm/macros.el7 --define "_topdir $(RPMTOP)" \
               --define "__python3 $(CURDIR)/$(VENV36)/bin/python"
PYSPF_VERSION := 2.0.14
# the last prometheus_client for Python 3.6
PROMETHEUS_CLIENT_VERSION := 0.17.1

# source and binary RPMs for el7, built here against CPython 3.6 (see rpm/macros.el7)
rpm: build36
	rm -rf $(RPMTOP) && mkdir -p $(RPMTOP)/SOURCES
	$(VENV36)/bin/python setup.py -q sdist -d $(RPMTOP)/SOURCES
	$(VENV36)/bin/pip download -q --no-deps --no-binary :all: -d $(RPMTOP)/SOURCES \
	  pyspf==$(PYSPF_VERSION) prometheus_client==$(PROMETHEUS_CLIENT_VERSION)
	$(RPMBUILD) $(RPM_CHECK) -ba rpm/smf-spf-py.spec
	$(RPMBUILD) -ba rpm/python-pyspf.spec
	$(RPMBUILD) -ba rpm/python-prometheus_client.spec
	@find $(RPMTOP)/RPMS $(RPMTOP)/SRPMS -name '*.rpm' | sort

# the spec's el8/el9 branch, built here with el9's Python (3.9) and names; no %check
PYTHON39    ?= $(PYENV_ROOT)/versions/3.9.18/bin/python3.9
RPMTOP9     := $(CURDIR)/build/rpmbuild-el9
rpm-el9: rpm
	rm -rf $(RPMTOP9) && mkdir -p $(RPMTOP9)/SOURCES
	cp $(RPMTOP)/SOURCES/smf-spf-py-*.tar.gz $(RPMTOP9)/SOURCES/
	LDSHARED="gcc -pthread -shared" LDFLAGS="" rpmbuild --nodeps --load rpm/macros.el7 \
	  --load rpm/macros.el9 --define "_topdir $(RPMTOP9)" --define "__python3 $(PYTHON39)" \
	  --without check -bb rpm/smf-spf-py.spec

# a yum repository with our packages and the python36 libraries EPEL7 lacks
repo: rpm
	rm -rf build/repo && mkdir -p build/repo
	cp $(RPMTOP)/RPMS/*/*.rpm build/repo/
	createrepo_c -q build/repo
	@echo "yum repository in build/repo"

test-rpm: repo rpm-el9
	$(VENV)/bin/python -m pytest -q tests/packaging --rpmdir $(RPMTOP) --repodir build/repo \
	  --python36 $(CURDIR)/$(VENV36)/bin/python --el9-rpmdir $(RPMTOP9)

# -- SELinux ----------------------------------------------------------------------
# selinux/smf_spf against a distribution's policy, built from its sources: a checkout
# of fedora-selinux/selinux-policy (c9s: el9, f28: el8, f20 or f19: el7), and for c9s
# one of containers/container-selinux (docs/selinux.md). Never commit either.
selinux-check: deps
	@test -n "$(SELINUX_POLICY_SRC)" || { echo 'usage: make selinux-check SELINUX_POLICY_SRC=DIR [SELINUX_CONTAINER_SRC=DIR] (docs/selinux.md)' >&2; exit 2; }
	$(PYTHON) tests/selinux_check.py --policy-src '$(SELINUX_POLICY_SRC)' \
	  $(if $(SELINUX_CONTAINER_SRC),--container-src '$(SELINUX_CONTAINER_SRC)')

clean:
	rm -rf build dist *.egg-info smf_spf/*.so pyx/*.c .pytest_cache .hypothesis
