"""Milliseconds per SMTP stage through a real Sendmail (not a test): the milter socket's
per-stage stall (issue 18).

    make bench-sendmail
    .venv/bin/python bench/sendmail_stages.py [--sessions 5] [--messages 5] [--reps 3]

Four Sendmail daemons on loopback, each relaying to one smtp-sink, SPF records from nsd:

  no milter        Sendmail alone: the floor
  unix socket      smf-spf-py on a unix socket
  inet             smf-spf-py on an inet: socket, as shipped (TCP_QUICKACK after a
                   milter packet that gets no reply, smf_spf/_tcpack.c)
  inet, no ack     the same with SMF_SPF_NO_QUICKACK=1: packets acknowledged as the
                   kernel likes (delayed ACK)

and, to show what the same change does there, two Postfix instances with smf-spf-py on an
inet: socket, with and without the acknowledgement.

Each repetition runs --sessions sessions of --messages messages against each daemon, one
session at a time, taking the daemons in turn (in a new order each round), and times every
SMTP command at the client: connect (to the banner), EHLO, MAIL, RCPT, DATA (the 354), end
of message (the body and the dot, to the reply), QUIT. The sender's domain passes SPF and is
cached after the first message. Medians per stage, milliseconds per message (MAIL to the
end of message), and each Sendmail daemon's per-message time as a ratio of the "no
milter" one measured in the same run.

Traffic goes only to loopback: nsd on SMF_SPF_E2E_DNS (default 127.53.53.53), the rest on
127.0.0.1 (Sendmail's own lookups are pointed at nsd; see tests/e2e/services.py).
"""

import argparse
import contextlib
import os
import random
import shutil
import smtplib
import sys
import tempfile
import time
from statistics import median

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, 'tests', 'e2e'))

import services  # noqa: E402

# wired as docs/sendmail.md says
FILTER_OPTIONS = services.recommended_filter_options()
STAGES = ('connect', 'EHLO', 'MAIL', 'RCPT', 'DATA', 'end of message', 'QUIT')
SENDER = 'bench@pass.%s' % services.ZONE


def timed(times, stage, call):
    started = time.perf_counter()
    reply = call()
    times.setdefault(stage, []).append((time.perf_counter() - started) * 1000)
    return reply


def session(port, messages, times):
    """One SMTP session of `messages` messages; each command's time goes to times[stage],
    each message's (MAIL to end of message) to times['message']."""
    client = smtplib.SMTP(timeout=60)
    timed(times, 'connect', lambda: client.connect('127.0.0.1', port))
    code, _ = timed(times, 'EHLO', lambda: client.ehlo('client.bench.test'))
    assert code == 250, code
    for number in range(messages):
        started = time.perf_counter()
        code, reply = timed(times, 'MAIL', lambda: client.mail(SENDER))
        assert code == 250, (code, reply)
        code, reply = timed(times, 'RCPT', lambda: client.rcpt('bob@receiver.test'))
        assert code == 250, (code, reply)
        code, reply = timed(times, 'DATA', lambda: client.docmd('DATA'))
        assert code == 354, (code, reply)
        body = ('From: <%s>\r\nTo: <bob@receiver.test>\r\nSubject: bench %d\r\n\r\nbench\r\n'
                % (SENDER, number))
        code, reply = timed(times, 'end of message', lambda: _send_body(client, body))
        assert code == 250, (code, reply)
        times.setdefault('message', []).append((time.perf_counter() - started) * 1000)
    timed(times, 'QUIT', client.quit)


def _send_body(client, body):
    """The message after the 354, dot-stuffed by smtplib, and the reply to the dot."""
    client.send(smtplib.quotedata(body).encode('ascii') + b'\r\n.\r\n')
    return client.getreply()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--sessions', type=int, default=5, help='per daemon and repetition')
    parser.add_argument('--messages', type=int, default=5, help='per session')
    parser.add_argument('--reps', type=int, default=3)
    parser.add_argument('--keep', action='store_true', help='keep the work directory')
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        workdir = tempfile.mkdtemp(prefix='smf-spf-bench-sendmail-')
        os.chmod(workdir, 0o755)
        if args.keep:
            stack.callback(print, 'work directory kept: %s' % workdir)
        else:
            stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        # Sendmail refuses a milter's unix socket below a world-writable directory (/tmp)
        socket_dir = tempfile.mkdtemp(prefix='smf-spf-bench-', dir='/run')
        stack.callback(shutil.rmtree, socket_dir, ignore_errors=True)
        os.chmod(socket_dir, 0o755)
        if os.getuid() == 0:    # the milter creates its socket as User
            os.chown(socket_dir, *services.ids('nobody'))
        return measure(args, workdir, socket_dir, stack)


def measure(args, workdir, socket_dir, stack):
    def start(service):
        stack.callback(service.stop)
        return service.start()

    start(services.Nsd(workdir))
    sink = start(services.SmtpSink(workdir))
    milters = {}
    for name, options in (('unix socket', {'unix_socket': 'smf-spf.sock'}),
                          ('inet', {}),
                          ('inet, no ack', {'env': {'SMF_SPF_NO_QUICKACK': '1'}})):
        directory = os.path.join(workdir, 'milter-%d' % len(milters))
        os.makedirs(directory)
        if 'unix_socket' in options:
            options['unix_socket'] = os.path.join(socket_dir, options['unix_socket'])
        milters[name] = start(services.Milter(directory, **options))
    daemons = {'no milter': start(services.Sendmail(workdir, None, sink.port, None,
                                                    name='sendmail-none'))}
    for index, (name, milter) in enumerate(sorted(milters.items())):
        daemons[name] = start(services.Sendmail(workdir, milter.socket, sink.port,
                                                FILTER_OPTIONS, name='sendmail-%d' % index))
    for name in ('inet', 'inet, no ack'):
        directory = milters[name].directory
        daemons['postfix ' + name] = start(services.Postfix(directory, milters[name].port,
                                                            sink.port))
    names = ['no milter', 'unix socket', 'inet', 'inet, no ack']
    postfix_names = ['postfix inet', 'postfix inet, no ack']
    print('Sendmail %s, smf-spf-py on each socket: %d sessions x %d messages per daemon, '
          '%d repetitions' % (services.sendmail_version(), args.sessions, args.messages,
                              args.reps))
    every = names + postfix_names
    for name in every:      # warm-up: the MTA's first processes, the milter's cache
        session(daemons[name].port, 1, {})
    times = dict((name, {}) for name in every)
    # one session per daemon in turn, in a new order each round: the load of a shared
    # machine falls on all alike, and no daemon always follows the same one (the MTA
    # before it may still be delivering the last message in the background)
    order = random.Random(18)
    for _ in range(args.reps * args.sessions):
        for name in order.sample(every, len(every)):
            session(daemons[name].port, args.messages, times[name])

    print('\nmedian milliseconds per SMTP command (client side); per message: MAIL, RCPT, '
          'DATA and end of message')
    for title, columns in (('Sendmail', names), ('Postfix', postfix_names)):
        print('\n%-15s' % title + ''.join('%22s' % name for name in columns))
        for stage in STAGES + ('message',):
            print('%-15s' % (stage if stage != 'message' else 'per message')
                  + ''.join('%22.1f' % median(times[name][stage]) for name in columns))
    floor = median(times['no milter']['message'])
    print('\nSendmail, per message against no milter: '
          + ', '.join('%s %.2fx' % (name, median(times[name]['message']) / floor)
                      for name in names[1:]))
    print('Postfix, per message without the acknowledgement against with it: %.2fx'
          % (median(times['postfix inet, no ack']['message'])
             / median(times['postfix inet']['message'])))
    return 0


if __name__ == '__main__':
    sys.exit(main())
