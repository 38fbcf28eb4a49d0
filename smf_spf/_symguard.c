/*
 * smf_spf._symguard: a guard between libmilter and pymilter's milter.so, as a Python
 * module.  Its parts, one job each, are listed in _symguard.h:
 *
 * - a bounds-safe smfi_getsymval (_symguard_macros.c): libmilter's own walks a macro
 *   frame with an odd number of strings past the end of its array (SIGSEGV);
 * - pymilter's callbacks wrapped (_symguard_steps.c, through smfi_register): strings
 *   that are not UTF-8 kept for the adapter (_symguard_utf8.c) instead of pymilter's
 *   451, and the header fields, DATA and negotiation the milter does not need
 *   answered without Python.
 *
 * Loaded with RTLD_GLOBAL before pymilter's milter.so (smf_spf/interpose.py), its
 * smfi_getsymval and smfi_register are the ones milter.so binds to; install() then
 * hands it libmilter's own, found behind them (_libmilter_dl.c).  Names with a leading
 * underscore are test hooks (_symguard_hooks.c).
 */

#include "_symguard.h"
#include "_libmilter_dl.h"

#include <stdint.h>

static PyObject *
stashed(PyObject *module, PyObject *unused)
{
    PyObject *strings;
    int i, count = stash_count();

    if (count == 0)
        Py_RETURN_NONE;
    strings = PyTuple_New(count);
    if (strings == NULL)
        return NULL;
    for (i = 0; i < count; i++) {
        PyObject *raw = PyBytes_FromString(stash_string(i));

        if (raw == NULL) {
            Py_DECREF(strings);
            return NULL;
        }
        PyTuple_SET_ITEM(strings, i, raw);
    }
    return strings;
}

static PyObject *
install(PyObject *module, PyObject *args)
{
    unsigned long long getsymval, register_;

    if (!PyArg_ParseTuple(args, "KK:install", &getsymval, &register_))
        return NULL;
    if ((void *)(uintptr_t)getsymval == (void *)smfi_getsymval ||
        (void *)(uintptr_t)register_ == (void *)smfi_register) {
        PyErr_SetString(PyExc_ValueError, "that is this guard, not libmilter's functions");
        return NULL;
    }
    macro_guard_use((getsymval_fn)(uintptr_t)getsymval);
    steps_use((register_fn)(uintptr_t)register_);
    Py_RETURN_NONE;
}

static PyObject *
active(PyObject *module, PyObject *unused)
{
    return PyBool_FromLong(dl_binds_to("smfi_getsymval", (void *)smfi_getsymval) &&
                           dl_binds_to("smfi_register", (void *)smfi_register));
}

static PyObject *
unexpected(PyObject *module, PyObject *unused)
{
    return PyLong_FromUnsignedLong(macro_guard_unexpected());
}

/* layout() -> (state, problem): 'unproven', 'proven' or 'foreign' (stepped
 * aside: every lookup is libmilter's own), and why it stepped aside */
static PyObject *
layout(PyObject *module, PyObject *unused)
{
    static const char *names[] = {"unproven", "proven", "foreign"};
    const char *problem;
    int state = macro_guard_layout(&problem);

    return Py_BuildValue("(sz)", names[state], problem);
}

/* pass_on(headers, data, steps_not_wanted, no_reply_flags, answers): pass only these
 * header fields (a tuple of bytes; None: all of them), DATA if data is true, and the
 * negotiation if steps_not_wanted is None (else answer it here, clearing those
 * protocol bits) on to Python.  no_reply_flags: pymilter's SMFIP_NR_* flags of HELO,
 * DATA and header fields; answers: its CONTINUE and NOREPLY.  Set before serving. */
static PyObject *
pass_on(PyObject *module, PyObject *args)
{
    PyObject *names, *steps;
    struct pass_on settings;
    Py_ssize_t count, i;

    memset(&settings, 0, sizeof settings);
    if (!PyArg_ParseTuple(args, "OpO(kkk)(ii):pass_on", &names, &settings.data, &steps,
                          &settings.no_reply_helo, &settings.no_reply_data,
                          &settings.no_reply_header, &settings.go_on, &settings.no_reply))
        return NULL;
    settings.negotiate = steps == Py_None;
    if (steps != Py_None) {
        settings.steps_not_wanted = PyLong_AsUnsignedLong(steps);
        if (PyErr_Occurred())
            return NULL;
    }
    settings.header_count = -1;
    if (names != Py_None) {
        if (!PyTuple_Check(names)) {
            PyErr_SetString(PyExc_TypeError, "a tuple of header names (bytes) or None");
            return NULL;
        }
        count = PyTuple_GET_SIZE(names);
        if (count > READ_HEADERS_MAX) {
            PyErr_Format(PyExc_ValueError, "at most %d header names", READ_HEADERS_MAX);
            return NULL;
        }
        for (i = 0; i < count; i++) {
            PyObject *name = PyTuple_GET_ITEM(names, i);

            if (!PyBytes_Check(name) || PyBytes_GET_SIZE(name) == 0 ||
                PyBytes_GET_SIZE(name) > HEADER_NAME_MAX) {
                PyErr_Format(PyExc_ValueError, "a header name is bytes of 1 to %d octets",
                             HEADER_NAME_MAX);
                return NULL;
            }
            settings.headers[i] = PyBytes_AS_STRING(name);
        }
        settings.header_count = (int)count;
    }
    if (!steps_pass_on(&settings)) {
        PyErr_SetString(PyExc_ValueError, "header names the guard cannot hold");
        return NULL;
    }
    Py_RETURN_NONE;
}

/* lookup(path): the addresses of smfi_getsymval and smfi_register as the already loaded
 * library at path (pymilter's milter.so) and its dependencies (libmilter) define them;
 * done here rather than with ctypes, which a MemoryDenyWriteExecute unit may not load */
static PyObject *
lookup(PyObject *self, PyObject *args)
{
    const char *path, *problem;
    void *getsymval = NULL, *reg = NULL;

    if (!PyArg_ParseTuple(args, "s", &path))
        return NULL;
    if (!dl_lookup_loaded(path, "smfi_getsymval", &getsymval, &problem) ||
        !dl_lookup_loaded(path, "smfi_register", &reg, &problem)) {
        PyErr_Format(PyExc_ValueError, "%s is not loaded: %s", path, problem);
        return NULL;
    }
    if (getsymval == NULL || reg == NULL) {
        PyErr_Format(PyExc_ValueError, "%s: libmilter's smfi_getsymval or smfi_register "
                     "not found", path);
        return NULL;
    }
    return Py_BuildValue("(KK)", (unsigned long long)(uintptr_t)getsymval,
                         (unsigned long long)(uintptr_t)reg);
}

/* defines(path, name) -> bool: whether the already loaded library at path or one
 * of its dependencies (libmilter) defines the symbol name */
static PyObject *
defines(PyObject *self, PyObject *args)
{
    const char *path, *name, *problem;
    void *found = NULL;

    if (!PyArg_ParseTuple(args, "ss", &path, &name))
        return NULL;
    if (!dl_lookup_loaded(path, name, &found, &problem)) {
        PyErr_Format(PyExc_ValueError, "%s is not loaded: %s", path, problem);
        return NULL;
    }
    return PyBool_FromLong(found != NULL);
}

static PyMethodDef methods[] = {
    {"lookup", lookup, METH_VARARGS,
     "lookup(path) -> (getsymval, register): libmilter's own addresses, as path binds them"},
    {"defines", defines, METH_VARARGS,
     "defines(path, name) -> bool: the library loaded from path or its dependencies define name"},
    {"install", install, METH_VARARGS,
     "install(getsymval, register): the addresses of libmilter's own functions"},
    {"active", active, METH_NOARGS,
     "active() -> bool: this guard is the smfi_getsymval the process binds to"},
    {"pass_on", pass_on, METH_VARARGS,
     "pass_on(headers or None, data, steps_not_wanted or None, no_reply_flags, answers): "
     "what goes to Python"},
    {"stashed", stashed, METH_NOARGS,
     "stashed() -> tuple of bytes or None: this callback's strings that are not UTF-8"},
    {"unexpected", unexpected, METH_NOARGS,
     "unexpected() -> int: calls whose context did not have the expected layout"},
    {"layout", layout, METH_NOARGS,
     "layout() -> (state, problem): whether libmilter's own lookup proved the layout"},
    /* test hooks */
    {"_perturb", hook_perturb, METH_VARARGS,
     "_perturb(shift, swap): a wrong layout to prove (0, False: the right one)"},
    {"_walk", hook_walk, METH_VARARGS,
     "_walk(frame, name, careful=False) -> bytes or None: the guarded lookup on one frame"},
    {"_went_on", hook_went_on, METH_VARARGS,
     "_went_on(status, protocol_flags or None, no_reply) -> int: a wrapper's answer"},
    {"_header_read", hook_header_read, METH_VARARGS,
     "_header_read(name) -> bool: whether the header wrapper passes this field on"},
    {"_utf8", hook_utf8, METH_VARARGS,
     "_utf8(bytes) -> bool: what the callbacks' check says of a string"},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef definition = {
    PyModuleDef_HEAD_INIT, "_symguard",
    "Bounds-safe smfi_getsymval and UTF-8-safe callbacks, interposed before milter.so.", -1, methods
};

PyMODINIT_FUNC
PyInit__symguard(void)
{
    return PyModule_Create(&definition);
}
