/*
 * Acknowledge at once the milter packets that get no reply, on a TCP socket.
 *
 * Sendmail writes each stage's macros (SMFIC_MACRO) and the command after them in two
 * writes, and Nagle's algorithm on its socket holds the second until the first is
 * acknowledged.  The macro packet gets no reply from the milter, so no reply carries
 * that acknowledgement: the milter host's delayed ACK sends it, 40 ms or more later.
 * The same holds after an abort (SMFIC_ABORT, RSET or the next MAIL FROM), and after
 * each step the milter takes without reply where the MTA lets it (HELO, DATA and header
 * fields: enable() names their commands; Postfix hands the milter connection from smtpd
 * to cleanup after DATA, and cleanup's first write waited for that ACK).  Every
 * milter stage then waited about 43 ms over an inet: socket (issue 18).
 *
 * libmilter reads each packet with mi_rd_cmd(), which its engine calls through the
 * dynamic linker (a PLT slot).  Loaded with RTLD_GLOBAL before pymilter's milter.so
 * (and so before libmilter; smf_spf/interpose.py), this module's mi_rd_cmd is the one
 * that call binds to.
 * It calls libmilter's own (found in the library that defines it) and, after a packet
 * the MTA expects no reply to, when nothing more is waiting to be read, sets
 * TCP_QUICKACK on the socket: Linux then sends the pending ACK at once, and the MTA's
 * held command follows.  TCP_QUICKACK is no lasting
 * mode (the kernel drops back to delayed ACKs as the exchange goes on), so it is set
 * again after each such packet.  Off until enable() (an inet: Socket); on a unix
 * socket there is nothing to acknowledge.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "_libmilter_dl.h"
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <string.h>

#ifndef TCP_QUICKACK
#define TCP_QUICKACK 12               /* Linux */
#endif

/* the milter protocol's commands that get no reply (mfdef.h, which pymilter does not
 * expose: kept here) */
#define SMFIC_ABORT 'A'
#define SMFIC_MACRO 'D'
#define SMFIC_QUIT_NC 'K'

/* libmilter's comm.c, unchanged from sendmail 8.11 to 8.18 */
typedef char *(*rd_cmd_fn)(int, struct timeval *, char *, size_t *, char *);

static rd_cmd_fn volatile libmilter_rd_cmd = NULL;
static volatile int quickack = 0;
static unsigned long acks_pushed = 0;
/* the commands of the steps the milter takes without reply where the MTA lets it
 * (enable()); set before serving, only read after */
#define UNANSWERED_MAX 16
static char unanswered[UNANSWERED_MAX + 1] = "";

char *mi_rd_cmd(int, struct timeval *, char *, size_t *, char *);

/* libmilter's own mi_rd_cmd, looked for until found (threads that race write the same
 * address); NULL while no loaded library has one */
static rd_cmd_fn
libmilter_reader(void)
{
    if (libmilter_rd_cmd == NULL)
        libmilter_rd_cmd = (rd_cmd_fn)dl_lookup_behind("mi_rd_cmd", (void *)mi_rd_cmd);
    return libmilter_rd_cmd;
}

static int
gets_no_reply(char command)
{
    return command == SMFIC_MACRO || command == SMFIC_ABORT || command == SMFIC_QUIT_NC ||
           (command != '\0' && strchr(unanswered, command) != NULL);
}

/* Nothing more to read yet: the MTA may be holding its next packet back for our ACK.
 * (Postfix writes its macros and the command in one go: the command is read next, and
 * the reply to it carries the ACK.) */
static int
nothing_waiting(int sd)
{
    int waiting = 0;

    return ioctl(sd, FIONREAD, &waiting) == 0 && waiting == 0;
}

__attribute__((visibility("default"))) char *
mi_rd_cmd(int sd, struct timeval *timeout, char *cmd, size_t *rlen, char *name)
{
    rd_cmd_fn read_packet = libmilter_reader();
    char *packet;
    int one = 1;

    if (read_packet == NULL) {        /* only libmilter calls this: it has one */
        *cmd = '\0';
        *rlen = 0;
        return NULL;
    }
    packet = read_packet(sd, timeout, cmd, rlen, name);
    if (quickack && gets_no_reply(*cmd) && nothing_waiting(sd) &&
        setsockopt(sd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one) == 0)
        __sync_fetch_and_add(&acks_pushed, 1);
    return packet;
}

/* install() -> None: find libmilter's mi_rd_cmd now (pymilter must be loaded);
 * ValueError when no loaded library has one */
static PyObject *
install(PyObject *module, PyObject *unused)
{
    if (libmilter_reader() == NULL) {
        PyErr_SetString(PyExc_ValueError, "no loaded library defines libmilter's mi_rd_cmd");
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
active(PyObject *module, PyObject *unused)
{
    /* what libmilter's PLT slot binds to */
    return PyBool_FromLong(libmilter_rd_cmd != NULL &&
                           dl_binds_to("mi_rd_cmd", (void *)mi_rd_cmd));
}

static PyObject *
enable(PyObject *module, PyObject *args)
{
    int on;
    const char *commands = "";
    Py_ssize_t length = 0;

    if (!PyArg_ParseTuple(args, "p|y#:enable", &on, &commands, &length))
        return NULL;
    if (length > UNANSWERED_MAX || memchr(commands, '\0', (size_t)length) != NULL) {
        PyErr_Format(PyExc_ValueError, "at most %d command letters", UNANSWERED_MAX);
        return NULL;
    }
    quickack = 0;
    memcpy(unanswered, commands, (size_t)length);
    unanswered[length] = '\0';
    quickack = on;
    Py_RETURN_NONE;
}

static PyObject *
pushed(PyObject *module, PyObject *unused)
{
    return PyLong_FromUnsignedLong(__sync_fetch_and_add(&acks_pushed, 0));
}

static PyMethodDef methods[] = {
    {"install", install, METH_NOARGS,
     "install(): find libmilter's own mi_rd_cmd (pymilter loaded first)"},
    {"active", active, METH_NOARGS,
     "active() -> bool: libmilter's packet reads go through this module"},
    {"enable", enable, METH_VARARGS,
     "enable(on, commands=b''): set TCP_QUICKACK after each packet that gets no reply "
     "(also these commands, taken without reply)"},
    {"_pushed", pushed, METH_NOARGS,
     "_pushed() -> int: how many times TCP_QUICKACK was set (for tests)"},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef definition = {
    PyModuleDef_HEAD_INIT, "_tcpack",
    "TCP_QUICKACK after the milter packets that get no reply, interposed before libmilter.",
    -1, methods
};

PyMODINIT_FUNC
PyInit__tcpack(void)
{
    return PyModule_Create(&definition);
}
