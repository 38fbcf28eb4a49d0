"""The packet reader of smf_spf/_tcpack.c between libmilter and the MTA's socket.

Its C module must be in the process's global symbol scope before pymilter's milter.so
(and so libmilter) is loaded: its mi_rd_cmd, which reads each milter packet through
libmilter's own and then acknowledges the packets that get no reply at once
(TCP_QUICKACK), is then the one libmilter's call is bound to.  smf_spf.interpose.install()
loads it so, then pymilter, then hands it here (install()), which finds libmilter's own.
Importing this module loads nothing.  See the C file's head for the stall it removes.
"""

import os
import sys

_tcpack = None                  # the C module, once install() has it
# benchmarks compare with and without in one run (bench/sendmail_stages.py)
DISABLE_VARIABLE = 'SMF_SPF_NO_QUICKACK'


def install(loaded):
    """Find libmilter's mi_rd_cmd for the reader (`loaded`: the C module, or why it is
    not there; pymilter must be loaded): None when libmilter's packet reads go through
    it, else why not."""
    global _tcpack
    if isinstance(loaded, str):
        return loaded
    _tcpack = loaded
    if 'milter' not in sys.modules:
        return 'pymilter is not loaded'
    try:
        _tcpack.install()
    except ValueError as exc:
        return str(exc)
    if not _tcpack.active():
        return 'another mi_rd_cmd was loaded first'
    return None


def unanswered_commands(steps_not_wanted):
    """The commands of the protocol steps a milter takes without reply where the MTA
    lets it: those whose SMFIP_NR_* flag its negotiation (`steps_not_wanted`, the bits it
    clears from the MTA's offer) keeps."""
    import Milter
    steps = ((Milter.P_NR_CONN, b'C'), (Milter.P_NR_HELO, b'H'), (Milter.P_NR_MAIL, b'M'),
             (Milter.P_NR_RCPT, b'R'), (Milter.P_NR_DATA, b'T'), (Milter.P_NR_UNKN, b'U'),
             (Milter.P_NR_HDR, b'L'), (Milter.P_NR_EOH, b'N'), (Milter.P_NR_BODY, b'B'))
    return b''.join(command for flag, command in steps if not steps_not_wanted & flag)


def enable(problem, steps_not_wanted=~0):
    """Acknowledge unanswered packets at once from now on (an inet: socket): those no
    command gets a reply to, and the commands of the steps the milter's negotiation
    (`steps_not_wanted`) takes without reply.  `problem` is what install() said. Returns
    why it is not done, or None."""
    if problem is not None:
        return problem
    if os.environ.get(DISABLE_VARIABLE, '') not in ('', '0'):
        return '%s is set' % DISABLE_VARIABLE
    _tcpack.enable(True, unanswered_commands(steps_not_wanted))
    return None


def _pushed():
    """How many packets were acknowledged at once so far (for tests)."""
    return _tcpack._pushed() if _tcpack is not None else 0
