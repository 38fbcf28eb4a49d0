/*
 * The test hooks of smf_spf._symguard, the module's names with a leading underscore:
 * they let tests/test_hostile_frames.py and tests/sessionprobe.py drive the guard's
 * parts without an MTA.  Nothing in the daemon calls them.
 */

#include "_symguard.h"

#include <string.h>

/* _perturb(shift, swap): make the guard's idea of the layout wrong - the macro arrays
 * read `shift` bytes (whole pointers, staying inside the context) away, the first two
 * stages read from each other's slots - and the layout unproven again */
PyObject *
hook_perturb(PyObject *module, PyObject *args)
{
    long shift;
    int swap;

    if (!PyArg_ParseTuple(args, "lp:_perturb", &shift, &swap))
        return NULL;
    if (!macro_guard_perturb(shift, swap)) {
        PyErr_Format(PyExc_ValueError, "a shift is whole pointers from %ld to %ld bytes",
                     macro_guard_shift_lowest(), macro_guard_shift_highest());
        return NULL;
    }
    Py_RETURN_NONE;
}

/* _walk(frame, name, careful=False) -> bytes or None: split a macro frame's data
 * (stage letter first) as libmilter does and look the name up in a context of the
 * expected layout, after the checks of a proven layout or (careful) those of a proof */
PyObject *
hook_walk(PyObject *module, PyObject *args)
{
    const char *data, *name, *problem;
    Py_ssize_t length, i;
    struct session_prefix session;
    char *frame, **strings, *found;
    int count = 0, index = 0, careful = 0;
    PyObject *result;

    if (!PyArg_ParseTuple(args, "y#y|p:_walk", &data, &length, &name, &careful))
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
    problem = macro_guard_walk(&session, name, careful, &found);
    if (problem != NULL) {
        PyErr_SetString(PyExc_ValueError, problem);
        result = NULL;
    } else
        result = found == NULL ? (Py_INCREF(Py_None), Py_None) : PyBytes_FromString(found);
    PyMem_Free(strings);
    PyMem_Free(frame);
    return result;
}

/* _went_on(status, protocol_flags, no_reply) -> int: what the HELO, DATA and header
 * wrappers answer for `status` in a session with these negotiated protocol flags (a
 * context of the proven layout, else with protocol_flags None), with the answers
 * pass_on() was given */
PyObject *
hook_went_on(PyObject *module, PyObject *args)
{
    int status;
    PyObject *flags;
    unsigned long no_reply;
    struct session_prefix session;

    if (!PyArg_ParseTuple(args, "iOk:_went_on", &status, &flags, &no_reply))
        return NULL;
    memset(&session, 0, sizeof session);
    session.protocol = session.protocol_to_mta = MILTER_PROTOCOL_MAX;
    session.state = 7;
    if (flags != Py_None) {
        session.protocol_flags = PyLong_AsUnsignedLong(flags);
        if (PyErr_Occurred())
            return NULL;
    }
    return PyLong_FromLong(went_on_in(&session, flags != Py_None, status, no_reply));
}

/* _header_read(name) -> bool: whether the header wrapper passes this field on */
PyObject *
hook_header_read(PyObject *module, PyObject *args)
{
    const char *name;

    if (!PyArg_ParseTuple(args, "y:_header_read", &name))
        return NULL;
    return PyBool_FromLong(header_is_read(name));
}

/* _utf8(bytes) -> bool: what the callbacks' check says of a string */
PyObject *
hook_utf8(PyObject *module, PyObject *args)
{
    const char *text;

    if (!PyArg_ParseTuple(args, "y:_utf8", &text))
        return NULL;
    return PyBool_FromLong(is_utf8((const unsigned char *)text));
}
