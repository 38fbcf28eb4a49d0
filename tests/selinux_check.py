"""make selinux-check: selinux/smf_spf against a distribution's whole policy.

No SELinux kernel runs here, so this is policy analysis: it builds the
distribution's policy from its sources (a checkout of fedora-selinux/selinux-policy,
branch c9s for el9, f28 for el8, f19/f20 for el7) with its own Makefile, builds
our module against the headers that build installs (as selinux-policy-devel's
Makefile does on an el build host), installs everything into a scratch store
(semodule -p), and asks the resulting kernel policy, with setools' sesearch and
seinfo, and its file contexts, with matchpathcon, the questions below. Each
question is printed with its answer; any wrong answer fails the run.

  python3 tests/selinux_check.py --policy-src DIR [--container-src DIR] [--work DIR]
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import time

import selinux_paths

ROOT = selinux_paths.ROOT
MODULE = 'smf_spf'
DOMAIN, EXEC = 'smf_spf_milter_t', 'smf_spf_milter_exec_t'
DATA, CONF, LOG = 'smf_spf_milter_data_t', 'smf_spf_milter_conf_t', 'smf_spf_milter_log_t'
METRICS_PORT = 'smf_spf_milter_metrics_port_t'
# the build options of the distribution's targeted policy (its spec's make lines)
BUILD_OPTIONS = ['NAME=targeted', 'TYPE=mcs', 'DISTRO=redhat', 'UBAC=n', 'DIRECT_INITRC=n',
                 'MONOLITHIC=n', 'MLS_SENS=16', 'MLS_CATS=1024', 'MCS_CATS=1024',
                 'UNK_PERMS=allow', 'PYTHON=python3']
BASE_TOO = ('storage',)
# the modules whose rules the questions are about: a store without one of them
# cannot answer, so they are kept whatever else must go
NEEDED = ('milter', 'postfix', 'mta', 'logrotate', 'init', 'logging', 'sysnetwork',
          'authlogin', 'libraries', 'miscfiles', 'systemd')


def run(command, **options):
    options.setdefault('check', True)
    return subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, **options)


class Steps(object):
    def __init__(self):
        self.times = []

    def __call__(self, name, function, *args):
        print('== %s' % name, flush=True)
        started = time.monotonic()
        result = function(*args)
        self.times.append((name, time.monotonic() - started))
        print('   (%.1f s)' % self.times[-1][1], flush=True)
        return result


# -- the distribution's policy ---------------------------------------------------

def prepare_tree(source, container, tree):
    """A scratch copy of the policy sources, with container-selinux's module where
    the branch needs it (its spec adds it from that project)."""
    if os.path.exists(tree):
        shutil.rmtree(tree)
    shutil.copytree(source, tree, symlinks=True, ignore=shutil.ignore_patterns('.git'))
    contrib = os.path.join(tree, 'policy', 'modules', 'contrib')
    if not any(name.endswith('.te') for name in os.listdir(contrib)):
        raise SystemExit('%s/policy/modules/contrib has no modules: before c9s it is a '
                         'submodule, fedora-selinux/selinux-policy-contrib (same branch '
                         'name); put its files there' % source)
    calls = run(['grep', '-rlE', r'^\s*container_[a-z_]+\(', os.path.join(tree, 'policy')],
                check=False).stdout.split()
    if calls and not os.path.exists(os.path.join(contrib, 'container.if')):
        if not container:
            raise SystemExit('this branch calls container-selinux interfaces (%s ...): '
                             'give --container-src DIR (SELINUX_CONTAINER_SRC), a checkout '
                             'of containers/container-selinux from before the branch date'
                             % os.path.relpath(calls[0], tree))
        for suffix in ('te', 'if', 'fc'):
            shutil.copy(os.path.join(container, 'container.' + suffix), contrib)
    # the targeted policy's seusers maps login users to unconfined_u; from c9s on the
    # sources leave that user to the distribution's users file (users-targeted in its
    # package), as a commented gen_user in unconfineduser.te
    seusers = open(os.path.join(tree, 'config', 'appconfig-mcs', 'seusers')).read()
    users = os.path.join(tree, 'policy', 'users')
    declared = run(['grep', '-rlE', r'^gen_user\(unconfined_u,', os.path.join(tree, 'policy')],
                   check=False).stdout.split()
    if 'unconfined_u' in seusers and not declared:
        with open(users, 'a') as text:
            text.write('\n# targeted: the user seusers maps logins to\n'
                       'gen_user(unconfined_u, user, unconfined_r system_r, s0, '
                       's0 - mls_systemhigh, mcs_allcats)\n')
        print('   policy/users: added unconfined_u, the user seusers names')
    print('   policy sources: %s (VERSION %s)' % (source, open(
        os.path.join(tree, 'VERSION')).read().strip()))


def build_policy(tree, jobs):
    """base.pp and every module that compiles; (built, failed) module names."""
    make = ['make', '-C', tree] + BUILD_OPTIONS
    run(make + ['conf'])
    # the distribution's module list (in its package, not in these sources) puts storage
    # into base with the modules the sources require there; base's own rules name its
    # device types (f20's domain.te does)
    conf = os.path.join(tree, 'policy', 'modules.conf')
    with open(conf) as text:
        modules = text.read()
    with open(conf, 'w') as text:
        text.write(re.sub(r'^(%s) = module$' % '|'.join(BASE_TOO), r'\1 = base', modules,
                          flags=re.M))
    # base first and alone: its rules append to shared files in tmp/
    done = run(make + ['base.pp'], check=False)
    if done.returncode:
        print(done.stdout[-3000:])
        raise SystemExit('base.pp did not build')
    done = run(make + ['-k', '-j%d' % jobs, 'modules'], check=False)
    listed = set(re.findall(r'^(\w+) = module$', open(
        os.path.join(tree, 'policy', 'modules.conf')).read(), re.M))
    built = set(n[:-3] for n in os.listdir(tree) if n.endswith('.pp')) - {'base'}
    failed = sorted(listed - built)
    print('   %d modules built, %d did not compile: %s' % (len(built), len(failed),
                                                          ', '.join(failed) or '-'))
    for line in done.stdout.splitlines():
        if 'ERROR' in line:
            print('     ' + line)
    missing = [m for m in NEEDED if m not in built and m in listed]
    if missing:
        raise SystemExit('needed modules did not compile: %s' % ', '.join(missing))
    return built, failed


def install_policy(tree, root):
    make = ['make', '-C', tree] + BUILD_OPTIONS + ['DESTDIR=' + root]
    run(make + ['-k', 'install'], check=False)
    run(make + ['install-headers'])
    # the aliases (/run as /var/run) the policy's package installs beside file_contexts
    files = os.path.join(root, 'etc', 'selinux', 'targeted', 'contexts', 'files')
    os.makedirs(files, exist_ok=True)
    subs = os.path.join(tree, 'config', 'file_contexts.subs_dist')
    if os.path.exists(subs):
        shutil.copy(subs, files)
    with open(os.path.join(root, 'etc', 'selinux', 'config'), 'w') as config:
        config.write('SELINUX=enforcing\nSELINUXTYPE=targeted\n')


def build_ours(root, work):
    """selinux/smf_spf.pp, built against the installed headers as an el build host
    builds it against selinux-policy-devel's."""
    headers = os.path.join(root, 'usr', 'share', 'selinux', 'targeted', 'include')
    build = os.path.join(work, 'ours')
    if os.path.exists(build):
        shutil.rmtree(build)
    os.makedirs(build)
    for suffix in ('te', 'if', 'fc'):
        shutil.copy(os.path.join(ROOT, 'selinux', MODULE + '.' + suffix), build)
    done = run(['make', '-C', build, '-f', os.path.join(headers, 'Makefile'),
                'NAME=targeted', 'HEADERDIR=' + headers, 'PYTHON=python3', MODULE + '.pp'],
               check=False)
    print('\n'.join('   ' + line for line in done.stdout.splitlines()
                    if not line.startswith('make')))
    if done.returncode:
        raise SystemExit('our module did not build against these headers')
    return os.path.join(build, MODULE + '.pp')


# -- choosing modules that load together ----------------------------------------

_DECLARATION = re.compile(r'^\s*\((type|typealias|typeattribute|role|roleattribute|boolean)'
                          r' (\S+?)\)?(?: |\)|$)')
_REQUIRE = re.compile(r'^\((?:type|role)attributeset cil_gen_require (\S+)\)$')


def module_cil(pp):
    return run(['/usr/libexec/selinux/hll/pp'], stdin=open(pp)).stdout


class ModuleCil(object):
    """What a module (as CIL) declares and requires: declared maps every name it
    declares to how (type, typealias, ...); top holds those declared outside optional
    blocks and needs what it requires there (types, attributes and roles it requires,
    booleans its conditional rules test, types its file contexts name); optionals
    holds (requires, declarations) of each optional block."""

    def __init__(self, cil):
        self.declared, self.top, self.needs, self.optionals = {}, set(), set(), []
        depth, blocks = 0, []
        for line in cil.splitlines():
            while blocks and depth <= blocks[-1][0]:
                blocks.pop()
            needs, declares = blocks[-1][1] if blocks else (self.needs, self.top)
            direct = depth == (blocks[-1][0] + 1 if blocks else 0)
            found = _DECLARATION.match(line)
            if found:
                self.declared[found.group(2)] = found.group(1)
                if direct:
                    declares.add(found.group(2))
            stripped = line.strip()
            if direct:
                required = _REQUIRE.match(stripped)
                if required:
                    needs.add(required.group(1))
                elif stripped.startswith(('(booleanif ', '(tunableif ')):
                    needs.update(re.findall(r'\((\w+)\)', stripped))
                elif stripped.startswith('(filecon '):
                    needs.update(re.findall(r'^\(filecon "[^"]*" \w+ \(\w+ \w+ (\w+) ', stripped))
                elif stripped.startswith('(optional '):
                    block = (set(), set())
                    self.optionals.append(block)
                    blocks.append((depth, block))
            depth += line.count('(') - line.count(')')


def available(modules):
    """The names these modules declare once their optional blocks whose requirements
    are met are in (repeated until nothing more comes in)."""
    names = set()
    for module in modules:
        names |= module.top
    while True:
        more = set()
        for module in modules:
            for needs, declares in module.optionals:
                if needs <= names:
                    more |= declares - names
        if not more:
            return names
        names |= more


def choose_modules(directory, built):
    """The modules to load: the source tree carries modules the distribution no longer
    builds (their successors declare the old names as aliases: clamav's in antivirus,
    qemu's in virt, ...), which cannot load beside them. Drop a module that declares
    a name base declares; of two that declare the same name keep the NEEDED one, else
    the one that declares it as an alias of the other's, else the larger; then drop
    any module whose unconditional requirements the rest does not declare."""
    base = ModuleCil(module_cil(os.path.join(directory, 'base.pp')))
    info = dict((name, ModuleCil(module_cil(os.path.join(directory, name + '.pp'))))
                for name in sorted(built))
    owners = {}
    for name, module in info.items():
        for symbol in module.declared:
            owners.setdefault(symbol, []).append(name)
    dropped = {}
    for symbol, modules in sorted(owners.items()):
        if symbol in base.declared:
            for module in modules:
                dropped.setdefault(module, 'declares %s, as base does' % symbol)
            continue
        modules = [m for m in modules if m not in dropped]
        if len(modules) < 2:
            continue
        aliasing = [m for m in modules if info[m].declared[symbol] == 'typealias']
        keep = ([m for m in modules if m in NEEDED]
                or (aliasing if len(aliasing) < len(modules) else [])
                or sorted(modules, key=lambda m: (-len(info[m].declared), m)))[0]
        for module in modules:
            if module != keep:
                dropped[module] = 'declares %s, as %s does' % (symbol, keep)
    while True:
        names = available([base] + [m for n, m in info.items() if n not in dropped])
        unmet = dict((name, sorted(module.needs - names)) for name, module in info.items()
                     if name not in dropped and module.needs - names)
        if not unmet:
            break
        for name, missing in unmet.items():
            if name in NEEDED:
                raise SystemExit('%s needs %s, which no loadable module declares'
                                 % (name, ', '.join(missing)))
            dropped[name] = 'needs %s' % ', '.join(missing[:3])
    kept = sorted(set(built) - set(dropped))
    print('   loading base and %d modules; left out %d:' % (len(kept), len(dropped)))
    for name in sorted(dropped):
        print('     %s (%s)' % (name, dropped[name]))
    return kept


def load_store(root, directory, modules, ours):
    """The scratch store: the distribution's modules at priority 100, ours at 200
    (what %selinux_modules_install gives a package's module)."""
    store = os.path.join(root, 'var', 'lib', 'selinux', 'targeted')
    if os.path.exists(store):
        shutil.rmtree(store)
    os.makedirs(store)
    semodule = ['semodule', '-p', root, '-s', 'targeted', '-n']
    packages = [os.path.join(directory, m + '.pp') for m in ['base'] + modules]
    done = run(semodule + ['-X', '100', '-i'] + packages, check=False)
    if done.returncode:
        raise SystemExit('the distribution policy did not load:\n' + done.stdout[-3000:])
    done = run(semodule + ['-X', '200', '-i', ours], check=False)
    if done.returncode:
        raise SystemExit('our module did not load:\n' + done.stdout[-3000:])
    policies = os.path.join(root, 'etc', 'selinux', 'targeted', 'policy')
    policy = os.path.join(policies, sorted(os.listdir(policies))[-1])
    listed = run(semodule + ['--list-modules=full']).stdout
    line = [l for l in listed.splitlines() if re.search(r'\b%s\b' % MODULE, l)]
    print('   %s; %s' % (policy, line[0].strip() if line else 'our module not listed'))
    return policy, os.path.join(root, 'etc', 'selinux', 'targeted', 'contexts', 'files',
                                'file_contexts')


# -- the questions ----------------------------------------------------------------

class Questions(object):
    def __init__(self, policy, file_contexts):
        self.policy, self.file_contexts = policy, file_contexts
        self.wrong = []
        self.classes = set(run(['seinfo', self.policy, '-c']).stdout.split())
        self.booleans = dict(
            (name, value == 'true') for name, value in re.findall(
                r'^\s*bool (\w+) (true|false);$', run(['seinfo', self.policy, '-b', '-x']).stdout,
                re.M))

    def active(self, rule):
        """Whether a rule sesearch printed holds with every boolean at its default:
        unconditional, or in the branch its condition takes (seinfo -b)."""
        found = re.search(r'; \[ (.*) \]:(True|False)$', rule)
        if not found:
            return True
        words = {'&&': 'and', '||': 'or', '!': 'not', '^': '!=', '==': '==', '!=': '!=',
                 '(': '(', ')': ')'}
        tokens = re.findall(r'\w+|&&|\|\||!=|==|!|\^|\(|\)', found.group(1))
        expression = ' '.join(words.get(token) or str(self.booleans[token]) for token in tokens)
        return eval(expression, {'__builtins__': {}}) == (found.group(2) == 'True')

    def ask(self, question, command, expect_yes):
        output = run(command + [self.policy]).stdout
        rules = [line.strip() for line in output.splitlines() if line.strip()]
        holding = [rule for rule in rules if self.active(rule)]
        evidence = ' | '.join(holding[:3]) + (
            ' (+%d more)' % (len(holding) - 3) if len(holding) > 3 else '')
        dormant = [re.search(r'\[ (.*) \]', rule).group(1) for rule in rules
                   if rule not in holding]
        if dormant:
            evidence += '%sonly by a boolean off by default: %s' % (
                ' (also ' if holding else '', ', '.join(sorted(set(dormant)))) + (
                ')' if holding else '')
        self.record(question, bool(holding), expect_yes, evidence or 'no rule')

    def record(self, question, answer, expect_yes, evidence):
        ok = answer == expect_yes
        print('%s %s -> %s: %s' % ('  ' if ok else '!!', question, 'yes' if answer else 'no',
                                   evidence), flush=True)
        if not ok:
            self.wrong.append(question)

    def allowed(self, question, source, target, class_, permission, expect_yes=True):
        self.ask(question, ['sesearch', '-A', '-s', source, '-t', target, '-c', class_,
                            '-p', permission], expect_yes)

    def transition(self, question, source, target, class_, result):
        output = run(['sesearch', '-T', '-s', source, '-t', target, '-c', class_,
                      self.policy]).stdout
        rules = [l.strip() for l in output.splitlines()
                 if re.search(r'\s%s;$' % re.escape(result), l.strip())]
        self.record(question, bool(rules), True, ' | '.join(rules) or 'no rule')

    def attributes(self, type_):
        output = run(['seinfo', self.policy, '-x', '-t', type_]).stdout
        found = re.search(r'^\s*type %s, (.*);$' % re.escape(type_), output, re.M)
        return found.group(1).split(', ') if found else []

    def ports(self, type_):
        output = run(['seinfo', self.policy, '--portcon']).stdout
        return sorted(set(re.findall(r'portcon tcp (\d+(?:-\d+)?) \S+:%s:' % type_, output)),
                      key=lambda p: int(p.split('-')[0]))

    def file_type(self, path, kind):
        mode = {'file': 'file', 'dir': 'dir', 'socket': 'sock_file'}[kind]
        output = run(['matchpathcon', '-f', self.file_contexts, '-m', mode, path],
                     check=False).stdout.split()
        return output[-1].split(':')[2] if len(output) == 2 and ':' in output[-1] else None


def ask_everything(q):
    print('-- Postfix reaches the milter socket')
    for mta in ('postfix_smtpd_t', 'postfix_cleanup_t'):
        q.allowed('may %s search /run/smfs (%s dir)?' % (mta, DATA), mta, DATA, 'dir', 'search')
        q.allowed('may %s write the socket file (%s sock_file)?' % (mta, DATA),
                  mta, DATA, 'sock_file', 'write')
        q.allowed('may %s connect to the milter (%s unix_stream_socket connectto)?'
                  % (mta, DOMAIN), mta, DOMAIN, 'unix_stream_socket', 'connectto')

    print('-- systemd starts and reloads it in its own domain')
    q.transition('does init_t enter %s on exec of %s?' % (DOMAIN, EXEC),
                 'init_t', EXEC, 'process', DOMAIN)
    q.allowed('may init_t transition to %s?' % DOMAIN, 'init_t', DOMAIN, 'process', 'transition')
    q.allowed('is %s an entrypoint of %s?' % (EXEC, DOMAIN), DOMAIN, EXEC, 'file', 'entrypoint')
    if 'process2' in q.classes:
        q.allowed('may init_t enter %s under NoNewPrivileges (process2 nnp_transition)?'
                  % DOMAIN, 'init_t', DOMAIN, 'process2', 'nnp_transition')
    else:
        print('   (no process2 class in this policy: NoNewPrivileges cannot be combined '
              'with a transition, the el7 unit does not set it)')
    q.allowed('may init_t send it SIGHUP (systemctl reload)?', 'init_t', DOMAIN, 'process',
              'signal')
    q.allowed('may systemd-tmpfiles create /run/smfs with our type?', 'systemd_tmpfiles_t',
              DATA, 'dir', 'create')
    q.allowed('may systemd-tmpfiles chown it to smfs?', 'systemd_tmpfiles_t', DATA, 'dir',
              'setattr')
    q.allowed('may systemd-tmpfiles create the LogTo file with our log type?',
              'systemd_tmpfiles_t', LOG, 'file', 'create')
    q.allowed('may systemd-tmpfiles chown it to smfs?', 'systemd_tmpfiles_t', LOG, 'file',
              'setattr')

    print('-- what the daemon does')
    q.allowed('may it create its socket in /run/smfs?', DOMAIN, DATA, 'sock_file', 'create')
    q.allowed('may it remove a stale socket?', DOMAIN, DATA, 'sock_file', 'unlink')
    q.allowed('may it listen on a unix stream socket?', DOMAIN, DOMAIN, 'unix_stream_socket',
              'listen')
    q.allowed('may it bind milter_port_t (an inet: Socket on 8890/8891/8893)?', DOMAIN,
              'milter_port_t', 'tcp_socket', 'name_bind')
    print('   milter_port_t ports: %s' % ', '.join(q.ports('milter_port_t')))
    q.allowed('may it bind the generic node (any local address)?', DOMAIN, 'node_t',
              'tcp_socket', 'node_bind')
    q.allowed('may it accept TCP connections (inet: Socket, MetricsListen)?', DOMAIN, DOMAIN,
              'tcp_socket', 'accept')
    q.allowed('may it bind %s (MetricsListen, once semanage gives a port that type)?'
              % METRICS_PORT, DOMAIN, METRICS_PORT, 'tcp_socket', 'name_bind')
    q.allowed('may it bind unreserved_port_t (the README inet:10011) without semanage?',
              DOMAIN, 'unreserved_port_t', 'tcp_socket', 'name_bind', expect_yes=False)
    q.allowed('may it bind hplip_port_t (MetricsListen 9101) without semanage?',
              DOMAIN, 'hplip_port_t', 'tcp_socket', 'name_bind', expect_yes=False)
    q.allowed('may it read its config (%s file)?' % CONF, DOMAIN, CONF, 'file', 'read')
    q.allowed('may it change its config?', DOMAIN, CONF, 'file', 'write', expect_yes=False)
    q.allowed('may it read /etc/resolv.conf (net_conf_t)?', DOMAIN, 'net_conf_t', 'file', 'read')
    q.allowed('may it resolve over UDP (udp_socket create)?', DOMAIN, DOMAIN, 'udp_socket',
              'create')
    q.allowed('may it resolve over TCP (name_connect dns_port_t)?', DOMAIN, 'dns_port_t',
              'tcp_socket', 'name_connect')
    q.allowed('may it append to its LogTo file (%s)?' % LOG, DOMAIN, LOG, 'file', 'append')
    q.allowed('may it create the LogTo file?', DOMAIN, LOG, 'file', 'create')
    q.transition('does a file it creates in /var/log get %s?' % LOG, DOMAIN, 'var_log_t', 'file',
                 LOG)
    q.allowed('may logrotate create the rotated file with our log type?', 'logrotate_t', LOG,
              'file', 'create')
    q.allowed('may it send to syslog (devlog_t sock_file write)?', DOMAIN, 'devlog_t',
              'sock_file', 'write')
    q.allowed('may it send to syslog (syslogd_t unix_dgram_socket sendto)?', DOMAIN,
              'syslogd_t', 'unix_dgram_socket', 'sendto')
    q.allowed('may it signal its own threads (the stop nudge, process signal)?', DOMAIN,
              DOMAIN, 'process', 'signal')
    q.allowed('may it switch to smfs (capability setuid)?', DOMAIN, DOMAIN, 'capability', 'setuid')
    q.allowed('may it switch to smfs (capability setgid)?', DOMAIN, DOMAIN, 'capability', 'setgid')
    q.allowed('may it run its interpreter (bin_t file execute)?', DOMAIN, 'bin_t', 'file',
              'execute')
    q.allowed('may it read the Python library (lib_t file read)?', DOMAIN, 'lib_t', 'file', 'read')
    q.allowed('may it map extension modules executable (lib_t file execute)?', DOMAIN, 'lib_t',
              'file', 'execute')
    q.allowed('may it follow /etc/alternatives/python3 (etc_t lnk_file read, el8)?', DOMAIN,
              'etc_t', 'lnk_file', 'read')

    print('-- nothing broad')
    attributes = q.attributes(DOMAIN)
    broad = [a for a in attributes if 'unconfined' in a]
    q.record('does %s carry an unconfined attribute?' % DOMAIN, bool(broad), False,
             'attributes: ' + ', '.join(attributes))
    permissive = run(['seinfo', q.policy, '--permissive']).stdout
    q.record('is %s permissive?' % DOMAIN, DOMAIN in permissive.split(), False,
             'seinfo --permissive')
    q.allowed('may it write /etc (etc_t file write)?', DOMAIN, 'etc_t', 'file', 'write',
              expect_yes=False)
    q.allowed('may it read /etc/shadow (shadow_t)?', DOMAIN, 'shadow_t', 'file', 'read',
              expect_yes=False)
    q.allowed('may it run a shell (shell_exec_t execute)?', DOMAIN, 'shell_exec_t', 'file',
              'execute', expect_yes=False)
    q.allowed('may it run other programs in its domain (bin_t execute_no_trans)?', DOMAIN,
              'bin_t', 'file', 'execute_no_trans', expect_yes=False)
    q.allowed('may it write user homes (user_home_t)?', DOMAIN, 'user_home_t', 'file', 'write',
              expect_yes=False)

    print('-- file contexts: what the whole policy gives our paths (matchpathcon)')
    for path, kind, type_ in selinux_paths.expected_paths():
        got = q.file_type(path, kind)
        q.record('%s (%s) is %s?' % (path, kind, type_), got == type_, True, str(got))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--policy-src', required=True)
    parser.add_argument('--container-src')
    parser.add_argument('--work', default=os.path.join(ROOT, 'build', 'selinux-check'))
    parser.add_argument('--jobs', type=int, default=2)
    parser.add_argument('--ask-only', action='store_true',
                        help='only ask the store a previous run loaded under --work')
    parser.add_argument('--reuse-build', action='store_true',
                        help='keep the policy a previous run built under --work')
    options = parser.parse_args(argv)
    source = os.path.abspath(options.policy_src)
    work = os.path.join(os.path.abspath(options.work), os.path.basename(source.rstrip('/')))
    tree, root = os.path.join(work, 'src'), os.path.join(work, 'root')
    if os.path.exists(root) and not options.ask_only:
        shutil.rmtree(root)
    steps = Steps()
    if options.ask_only:
        policies = os.path.join(root, 'etc', 'selinux', 'targeted', 'policy')
        policy = os.path.join(policies, sorted(os.listdir(policies))[-1])
        file_contexts = os.path.join(root, 'etc', 'selinux', 'targeted', 'contexts', 'files',
                                     'file_contexts')
        questions = Questions(policy, file_contexts)
        ask_everything(questions)
        return 1 if questions.wrong else 0
    if options.reuse_build and os.path.exists(os.path.join(tree, 'base.pp')):
        built = set(n[:-3] for n in os.listdir(tree) if n.endswith('.pp')) - {'base'}
        print('== reusing the policy built in %s (%d modules)' % (tree, len(built)))
    else:
        steps('copy the policy sources', prepare_tree, source, options.container_src and
              os.path.abspath(options.container_src), tree)
        built, _ = steps('build the distribution policy (its Makefile)', build_policy, tree,
                         options.jobs)
    steps('install it and its headers into a scratch root', install_policy, tree, root)
    ours = steps('build selinux/%s against those headers' % MODULE, build_ours, root, work)
    kept = steps('choose modules that load together', choose_modules, tree, built)
    policy, file_contexts = steps('load them and ours into a scratch store (semodule -p)',
                                  load_store, root, tree, kept, ours)
    questions = Questions(policy, file_contexts)
    steps('ask the policy', ask_everything, questions)
    print('== times: ' + ', '.join('%s %.0f s' % (name.split(' (')[0], seconds)
                                   for name, seconds in steps.times))
    if questions.wrong:
        print('== %d wrong answers:\n   %s' % (len(questions.wrong), '\n   '.join(questions.wrong)))
        return 1
    print('== every answer as expected')
    return 0


if __name__ == '__main__':
    sys.exit(main())
