/*
 * A bounds-safe smfi_getsymval for the process that serves the milter.
 *
 * libmilter splits a macro frame (SMFIC_MACRO) into a NULL-terminated array
 * of strings and smfi_getsymval walks it two entries (name, value) at a time,
 * testing only the name slot for the end.  A frame with an odd number of
 * strings ("{x}\0y\0z\0") therefore makes the walk step over the terminating
 * NULL and read past the end of the array: heap garbage is compared with
 * strcmp (SIGSEGV) or handed back as a macro value.  No MTA sends such a
 * frame, anyone who can connect to the socket can.
 *
 * Loaded with RTLD_GLOBAL before pymilter's milter.so, this module's
 * smfi_getsymval is the one milter.so binds to.  It reads the macro arrays
 * from the session context with the layout that sendmail 8.14 (el7) to 8.18
 * (Debian) share, checks on every call that the context looks like one of
 * theirs, and stops at the terminating NULL whether it falls on a name or a
 * value slot.  When a context does not look as expected it hands the call to
 * libmilter's own function (the address install() was given), so it is never
 * worse than libmilter alone.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

/* the session context's leading fields, as libmilter.h declares them from
 * sendmail 8.14.0 to 8.18 (struct smfi_str); only the prefix up to the macro
 * buffers is read */
#define MACRO_SLOTS 7                 /* MAX_MACROS_ENTRIES: CI_CONN .. CI_EOH */
#define MILTER_PROTOCOL_MAX 6         /* SMFI_PROT_VERSION */
#define MILTER_PROTOCOL_MIN 2         /* the oldest an MTA may offer */
#define MILTER_STATE_MAX 16           /* ST_SKIP, the highest state number */

struct session_prefix {
    pthread_t thread;
    int socket;
    int debug;
    time_t timeout;
    int state;
    void *description;
    int protocol;
    unsigned long actions;
    unsigned long protocol_flags;
    unsigned long protocol_flags_to_mta;
    int protocol_to_mta;
    char **macro_strings[MACRO_SLOTS];
    char *macro_frames[MACRO_SLOTS];
};

typedef char *(*getsymval_fn)(void *, char *);

static getsymval_fn libmilter_getsymval = NULL;
static unsigned long unexpected_contexts = 0;

/* Cheap checks that need no pointer from the context, then the invariant the
 * macro parser leaves behind: the array's first string starts one byte into
 * the frame it was split from (the byte before is the stage letter). */
static int
looks_like_a_session(const struct session_prefix *session)
{
    int slot;

    if (session->socket < 0 || session->state < 0 ||
        session->state > MILTER_STATE_MAX ||
        session->protocol < MILTER_PROTOCOL_MIN ||
        session->protocol > MILTER_PROTOCOL_MAX ||
        session->protocol_to_mta < MILTER_PROTOCOL_MIN ||
        session->protocol_to_mta > session->protocol)
        return 0;
    for (slot = 0; slot < MACRO_SLOTS; slot++) {
        char **strings = session->macro_strings[slot];
        char *frame = session->macro_frames[slot];

        if ((strings == NULL) != (frame == NULL))
            return 0;
        if (strings != NULL && strings[0] != NULL && strings[0] != frame + 1)
            return 0;
    }
    return 1;
}

/* libmilter's matching: the exact name, `{x}` for a stored `x`, `x` for a
 * stored `{x}` */
static int
names_match(const char *stored, const char *wanted, size_t wanted_length)
{
    if (strcmp(stored, wanted) == 0)
        return 1;
    if (wanted_length == 3 && wanted[0] == '{' && wanted[2] == '}')
        return stored[0] == wanted[1] && stored[1] == '\0';
    if (wanted_length == 1)
        return stored[0] == '{' && stored[1] == wanted[0] && stored[2] == '}' &&
               stored[3] == '\0';
    return 0;
}

static char *
walk_macros(const struct session_prefix *session, const char *name)
{
    size_t length = strlen(name);
    int slot;

    /* the latest stage first, as libmilter searches */
    for (slot = MACRO_SLOTS - 1; slot >= 0; slot--) {
        char **entry = session->macro_strings[slot];

        if (entry == NULL || session->macro_frames[slot] == NULL)
            continue;
        while (entry[0] != NULL) {
            if (names_match(entry[0], name, length))
                return entry[1];          /* NULL for a name without value */
            if (entry[1] == NULL)
                break;                    /* odd count: the array ends here */
            entry += 2;
        }
    }
    return NULL;
}

__attribute__((visibility("default"))) char *
smfi_getsymval(void *ctx, char *name)
{
    const struct session_prefix *session = ctx;

    if (ctx == NULL || name == NULL || name[0] == '\0')
        return NULL;
    if (!looks_like_a_session(session)) {
        __sync_fetch_and_add(&unexpected_contexts, 1);
        return libmilter_getsymval != NULL ? libmilter_getsymval(ctx, name) : NULL;
    }
    return walk_macros(session, name);
}

/* -- the Python side: install, check, test ------------------------------- */

static PyObject *
install(PyObject *module, PyObject *args)
{
    unsigned long long address;

    if (!PyArg_ParseTuple(args, "K:install", &address))
        return NULL;
    if ((void *)(uintptr_t)address == (void *)smfi_getsymval) {
        PyErr_SetString(PyExc_ValueError, "that is this guard, not libmilter's function");
        return NULL;
    }
    libmilter_getsymval = (getsymval_fn)(uintptr_t)address;
    Py_RETURN_NONE;
}

static PyObject *
active(PyObject *module, PyObject *unused)
{
    /* what a library loaded without RTLD_GLOBAL (milter.so) binds to: the
     * process's global scope comes first */
    void *bound = dlsym(RTLD_DEFAULT, "smfi_getsymval");

    return PyBool_FromLong(bound == (void *)smfi_getsymval);
}

static PyObject *
unexpected(PyObject *module, PyObject *unused)
{
    return PyLong_FromUnsignedLong(__sync_fetch_and_add(&unexpected_contexts, 0));
}

/* walk(frame, name) -> bytes or None: split a macro frame's data (stage
 * letter first) as libmilter does and look the name up in a context of the
 * expected layout; lets the tests drive the walk without a session */
static PyObject *
walk(PyObject *module, PyObject *args)
{
    const char *data, *name;
    Py_ssize_t length, i;
    struct session_prefix session;
    char *frame, **strings, *found;
    int count = 0, index = 0;
    PyObject *result;

    if (!PyArg_ParseTuple(args, "y#y:walk", &data, &length, &name))
        return NULL;
    if (length < 1) {
        PyErr_SetString(PyExc_ValueError, "a macro frame starts with its stage letter");
        return NULL;
    }
    frame = PyMem_Malloc(length + 1);
    if (frame == NULL)
        return PyErr_NoMemory();
    memcpy(frame, data, length);
    frame[length] = '\0';
    for (i = 1; i < length; i++)
        count += frame[i] == '\0';
    strings = PyMem_Malloc((count + 1) * sizeof *strings);
    if (strings == NULL) {
        PyMem_Free(frame);
        return PyErr_NoMemory();
    }
    strings[0] = frame + 1;
    for (i = 1; i < length && index < count; i++)
        if (frame[i] == '\0') {
            index++;
            strings[index] = i + 1 < length ? frame + i + 1 : NULL;
        }
    strings[index] = NULL;
    memset(&session, 0, sizeof session);
    session.protocol = session.protocol_to_mta = MILTER_PROTOCOL_MAX;
    session.state = 4;
    session.macro_strings[2] = strings;
    session.macro_frames[2] = frame;
    found = smfi_getsymval(&session, (char *)name);
    result = found == NULL ? (Py_INCREF(Py_None), Py_None) : PyBytes_FromString(found);
    PyMem_Free(strings);
    PyMem_Free(frame);
    return result;
}

static PyMethodDef methods[] = {
    {"install", install, METH_VARARGS,
     "install(address): libmilter's own smfi_getsymval, for contexts of another layout"},
    {"active", active, METH_NOARGS,
     "active() -> bool: this guard is the smfi_getsymval the process binds to"},
    {"unexpected", unexpected, METH_NOARGS,
     "unexpected() -> int: calls whose context did not have the expected layout"},
    {"walk", walk, METH_VARARGS,
     "walk(frame, name) -> bytes or None: the guarded lookup on one macro frame"},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef definition = {
    PyModuleDef_HEAD_INIT, "_symguard",
    "Bounds-safe smfi_getsymval interposed before pymilter's milter.so.", -1, methods
};

PyMODINIT_FUNC
PyInit__symguard(void)
{
    return PyModule_Create(&definition);
}
