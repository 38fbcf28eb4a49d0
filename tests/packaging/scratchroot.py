"""A scratch root for `rpm --root`: just what the scriptlets call (sh, getent,
groupadd, useradd, install) with their shared libraries, /dev/null and an empty user
database."""

import os
import shutil
import stat
import subprocess

PROGRAMS = ['/bin/sh', '/usr/bin/getent', '/usr/sbin/groupadd', '/usr/sbin/useradd',
            '/usr/bin/install']
ETC = {
    'passwd': 'root:x:0:0:root:/root:/bin/sh\n',
    'group': 'root:x:0:\n',
    'shadow': 'root:*:19000:0:99999:7:::\n',
    'gshadow': 'root:*::\n',
    'nsswitch.conf': 'passwd: files\ngroup: files\nshadow: files\n',
    'login.defs': 'SYS_UID_MIN 201\nSYS_UID_MAX 999\nSYS_GID_MIN 201\nSYS_GID_MAX 999\n'
                  'UID_MIN 1000\nUID_MAX 60000\nGID_MIN 1000\nGID_MAX 60000\n',
}


def _libraries(program):
    out = subprocess.run(['ldd', program], stdout=subprocess.PIPE, universal_newlines=True).stdout
    for line in out.splitlines():
        for part in line.split():
            if part.startswith('/'):
                yield part


def _copy(path, root):
    real = os.path.realpath(path)
    for name in {path, real}:
        target = root + name
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.exists(target):
            shutil.copy2(real, target)


def make(root, programs=()):
    """The scratch root, with programs (host paths) beside the scriptlets' usual ones."""
    for program in PROGRAMS + list(programs):
        _copy(program, root)
        for library in _libraries(program):
            _copy(library, root)
    etc = os.path.join(root, 'etc')
    os.makedirs(etc, exist_ok=True)
    for name, text in ETC.items():
        with open(os.path.join(etc, name), 'w') as out:
            out.write(text)
    os.chmod(os.path.join(etc, 'shadow'), 0o640)
    os.chmod(os.path.join(etc, 'gshadow'), 0o640)
    for directory in ('run', 'tmp', 'var/tmp', 'var/log', 'usr/lib64', 'usr/sbin'):
        os.makedirs(os.path.join(root, directory), exist_ok=True)
    # scriptlets write to /dev/null (and %post copies it into the empty LogTo file)
    os.makedirs(os.path.join(root, 'dev'), exist_ok=True)
    os.mknod(os.path.join(root, 'dev', 'null'), stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.chmod(os.path.join(root, 'dev', 'null'), 0o666)
    subprocess.run(['rpm', '--root', root, '--initdb'], check=True)
    return root
