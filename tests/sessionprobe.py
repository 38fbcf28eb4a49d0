"""Ask the macro guard's smfi_getsymval about a session context built here, in a
process of its own (a guard that read through a bad pointer kills only this one).

    python sessionprobe.py CASE

prints one JSON line: the guard's answer, the names libmilter's own lookup was asked
for (only when CASE fakes libmilter's function), and the guard's layout() after it.
A context is a struct smfi_str as sendmail 8.14 to 8.18 lay it out, with the CONNECT
stage's macros `j mx.conn.test` and the HELO stage's `j mx.helo.test` (libmilter
searches the later stage first).
"""

import ctypes
import json
import os
import sys

# after PYTHONPATH: the RPM's %check puts the built package there, and the source tree
# beside it has no compiled _symguard
sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from smf_spf import interpose, symguard  # noqa: E402

UNMAPPED = 0x10         # the first page is never mapped


class Session(ctypes.Structure):
    _fields_ = [('thread', ctypes.c_ulong), ('socket', ctypes.c_int), ('debug', ctypes.c_int),
                ('timeout', ctypes.c_long), ('state', ctypes.c_int),
                ('description', ctypes.c_void_p), ('protocol', ctypes.c_int),
                ('actions', ctypes.c_ulong), ('protocol_flags', ctypes.c_ulong),
                ('protocol_flags_to_mta', ctypes.c_ulong), ('protocol_to_mta', ctypes.c_int),
                ('macro_strings', ctypes.c_void_p * 7), ('macro_frames', ctypes.c_void_p * 7),
                ('rest', ctypes.c_char * 512)]


class Context(object):
    def __init__(self):
        self.session = Session(socket=5, state=3, protocol=6, protocol_to_mta=6)
        self.kept = []

    def stage(self, slot, letter, *strings):
        """The stage's frame and array as libmilter's macro parser leaves them."""
        frame = ctypes.create_string_buffer(letter + b''.join(s + b'\0' for s in strings))
        base, pointers = ctypes.addressof(frame), []
        for text in strings:
            pointers.append(base + 1 + sum(len(s) + 1 for s in strings[:len(pointers)]))
        array = (ctypes.c_void_p * (len(strings) + 1))(*(pointers + [None]))
        self.kept += [frame, array]
        self.session.macro_strings[slot] = ctypes.addressof(array)
        self.session.macro_frames[slot] = base
        return array

    def ask(self, name):
        guard = ctypes.CDLL(symguard._symguard.__file__)
        guard.smfi_getsymval.restype = ctypes.c_char_p
        guard.smfi_getsymval.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        return guard.smfi_getsymval(ctypes.addressof(self.session), name)


ASKED = []


@ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p)
def fake_getsymval(ctx, name):
    ASKED.append(name.decode())
    return None


@ctypes.CFUNCTYPE(ctypes.c_int)
def fake_register():
    return -1


def main(case):
    context = Context()
    context.stage(0, b'C', b'j', b'mx.conn.test', b'{daemon_name}', b'smtpd')
    context.stage(1, b'H', b'j', b'mx.helo.test')
    if case in ('libmilter', 'swapped'):
        assert interpose.install()[0] is None     # then pymilter's milter.so, libmilter
        if case == 'swapped':
            symguard._symguard._perturb(0, True)
    else:
        with interpose.global_symbols():
            from smf_spf import _symguard          # and no pymilter: a fake libmilter
        symguard._symguard = _symguard
        _symguard.install(ctypes.cast(fake_getsymval, ctypes.c_void_p).value,
                          ctypes.cast(fake_register, ctypes.c_void_p).value)
        if case == 'unreadable array':
            context.session.macro_strings[1] = UNMAPPED
        elif case == 'entry elsewhere':
            array = context.stage(1, b'H', b'j', b'mx.helo.test')
            array[0] = UNMAPPED
        elif case == 'unreadable frame':
            array = context.stage(1, b'H', b'j', b'mx.helo.test')
            context.session.macro_frames[1] = UNMAPPED
            array[0], array[1] = UNMAPPED + 1, UNMAPPED + 3
        elif case == 'odd array':
            context.stage(6, b'N', b'x')       # libmilter's own walk would read past it
        elif case == 'shifted':
            symguard._symguard._perturb(-8, False)     # slot 0 is protocol_to_mta: 6
            context.stage(6, b'N', b'x', b'y')
        else:
            raise SystemExit('unknown case %r' % case)
    answer = context.ask(b'j')
    print(json.dumps({'answer': answer.decode() if answer is not None else None,
                      'asked': ASKED, 'layout': list(symguard._symguard.layout())}))


if __name__ == '__main__':
    main(sys.argv[1])
