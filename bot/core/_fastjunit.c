/* bot.core._fastjunit: optional C accelerator for bot/core/junit.py (the reference).
 *
 * Owns: an expat reader exposing the subset of pyexpat's xmlparser that xmlstream.py,
 * junit.py and dotnet.py use (Parse, the Start/End/CharacterData handlers settable at any
 * time with pyexpat's buffer_text semantics, the DOCTYPE/entity refusal handlers,
 * SetParamEntityParsing, CurrentByteIndex, ExpatError with code/lineno/offset), plus a JUnit
 * fast path (accelerate/drain): a <testcase> that simply passed is counted here, its id
 * handed to Python in batches; every other construct is replayed into the Python handlers
 * unchanged.
 * docs/parsing.md ("Two implementations") explains the split and how equality is tested.
 *
 * Input is hostile: every buffer grows through buf_reserve (overflow-checked, heap only),
 * any Python exception stops expat at once (XML_StopParser), Parse is not re-entrant.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <expat.h>
#include <string.h>

#define FEED (1 << 20)        /* bytes per XML_Parse call, as pyexpat's MAX_CHUNK_SIZE */
#define BATCH 512             /* passed ids handed to Python at once, at most (memory) */
#define MAX_TIME_TEXT 64      /* a time attribute longer than this takes the Python path */
#define MAX_SECONDS 1e6       /* reportbase.MAX_SECONDS */

static PyObject *ExpatError;  /* xml.parsers.expat.ExpatError, so describe() works as is */

typedef struct {
    char *data;
    Py_ssize_t len;
    Py_ssize_t cap;
} Buf;

static int
buf_reserve(Buf *b, Py_ssize_t extra)
{
    if (extra < 0 || b->len > PY_SSIZE_T_MAX / 2 - extra) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t need = b->len + extra;
    if (need <= b->cap)
        return 0;
    Py_ssize_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *p = PyMem_Realloc(b->data, (size_t)cap);
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

static int
buf_put(Buf *b, const char *s, Py_ssize_t n)
{
    if (buf_reserve(b, n) < 0)
        return -1;
    memcpy(b->data + b->len, s, (size_t)n);
    b->len += n;
    return 0;
}

static void
buf_free(Buf *b)
{
    PyMem_Free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static void
buf_swap(Buf *a, Buf *b)
{
    Buf t = *a;
    *a = *b;
    *b = t;
}

enum { OUTSIDE, IN_C, IN_PY };             /* where the current testcase is handled */
enum { NONE, HELD_C, HELD_PY };            /* who holds junit.py's one-behind `pending` */
enum { NO_PREV, PREV_KNOWN, PREV_UNKNOWN };  /* the previous testcase's id, as C sees it */

typedef struct {
    PyObject_HEAD
    XML_Parser p;
    PyObject *start_h, *end_h, *char_h, *doctype_h, *entity_h, *extent_h;
    int buffer_text;
    char *cbuf;
    int cbuf_used, cbuf_size;
    int in_parse;
    int failed;         /* a handler failed: expat is stopped, no callback may do anything */
    Py_ssize_t depth;
    /* accelerate(): the JUnit fast path */
    int fast, keep_err;
    PyObject *adopt, *flush, *tally_fn, *counts, *passed_many, *refuse_cap, *refused,
             *depth_msg, *ids;
    Py_ssize_t max_depth, max_name, py_depth, case_depth, tally;
    long long cap, tests, passed;
    double duration, cur_secs, pend_secs;
    int mode, held, prev, cur_known, have_base, dirty;
    Buf names;          /* names of open elements outside testcases not yet shown to Python */
    Py_ssize_t *off;    /* off[d]: where the name at depth d starts in `names` */
    Py_ssize_t off_cap;
    Buf cur_attrs, pend_attrs;  /* "name\0value\0" pairs of the current / held testcase */
    Buf cur_tid, pend_tid, prev_tid;
} Reader;

/* ---------------------------------------------------------------- calling Python */

/* After a Python error: stop expat and ignore every later callback. Expat still calls the
 * end handler of an empty element whose start handler stopped it (doContent), and pyexpat
 * guards its handlers the same way (PyErr_Occurred). */
static void
stop(Reader *self)
{
    self->failed = 1;
    XML_StopParser(self->p, XML_FALSE);
}

static PyObject *
call(PyObject *fn, PyObject *const *args, size_t n)
{
    Py_INCREF(fn);  /* a handler may replace itself (and drop its last reference) */
    PyObject *r = PyObject_Vectorcall(fn, args, n, NULL);
    Py_DECREF(fn);
    return r;
}

static int
call_void(PyObject *fn, PyObject *const *args, size_t n)
{
    PyObject *r = call(fn, args, n);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

static int
flush_text(Reader *self)
{
    if (self->cbuf_used == 0)
        return 0;
    int used = self->cbuf_used;
    self->cbuf_used = 0;
    if (self->char_h == NULL)
        return 0;
    PyObject *s = PyUnicode_DecodeUTF8(self->cbuf, used, "strict");
    if (s == NULL)
        return -1;
    int rc = call_void(self->char_h, &s, 1);
    Py_DECREF(s);
    return rc;
}

static PyObject *
attrs_dict(const XML_Char **atts)
{
    PyObject *d = PyDict_New();
    if (d == NULL)
        return NULL;
    for (; atts != NULL && atts[0] != NULL; atts += 2) {
        PyObject *k = PyUnicode_DecodeUTF8(atts[0], (Py_ssize_t)strlen(atts[0]), "strict");
        PyObject *v = k ? PyUnicode_DecodeUTF8(atts[1], (Py_ssize_t)strlen(atts[1]), "strict")
                        : NULL;
        if (v == NULL || PyDict_SetItem(d, k, v) < 0) {
            Py_XDECREF(k);
            Py_XDECREF(v);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(k);
        Py_DECREF(v);
    }
    return d;
}

/* A saved "name\0value\0" buffer as a dict (the attributes of a testcase held back). */
static PyObject *
saved_dict(const Buf *b)
{
    PyObject *d = PyDict_New();
    Py_ssize_t i = 0;
    while (d != NULL && i < b->len) {
        const char *k = b->data + i;
        Py_ssize_t kn = (Py_ssize_t)strlen(k);
        const char *v = k + kn + 1;
        Py_ssize_t vn = (Py_ssize_t)strlen(v);
        i += kn + vn + 2;
        PyObject *ko = PyUnicode_DecodeUTF8(k, kn, "strict");
        PyObject *vo = ko ? PyUnicode_DecodeUTF8(v, vn, "strict") : NULL;
        if (vo == NULL || PyDict_SetItem(d, ko, vo) < 0)
            Py_CLEAR(d);
        Py_XDECREF(ko);
        Py_XDECREF(vo);
    }
    return d;
}

static int
send_start(Reader *self, const char *name, PyObject *dict)
{
    if (dict == NULL)
        return -1;
    int rc = 0;
    if (self->start_h != NULL) {
        PyObject *args[2] = {PyUnicode_DecodeUTF8(name, (Py_ssize_t)strlen(name), "strict"),
                             dict};
        rc = args[0] ? call_void(self->start_h, args, 2) : -1;
        Py_XDECREF(args[0]);
    }
    Py_DECREF(dict);
    return rc;
}

static int
send_end(Reader *self, const char *name)
{
    if (self->end_h == NULL)
        return 0;
    PyObject *s = PyUnicode_DecodeUTF8(name, (Py_ssize_t)strlen(name), "strict");
    if (s == NULL)
        return -1;
    int rc = call_void(self->end_h, &s, 1);
    Py_DECREF(s);
    return rc;
}

/* ---------------------------------------------------------------- fast path state */

static int
set_attr_obj(PyObject *o, const char *name, PyObject *v)
{
    if (v == NULL)
        return -1;
    int rc = PyObject_SetAttrString(o, name, v);
    Py_DECREF(v);
    return rc;
}

/* Hand Python what C counted since the last sync: counts, the batch of ids, suite tallies.
 * Called before every call into the Python handlers, so their order is today's. */
static int
hand_over(Reader *self)
{
    if (!self->dirty)
        return 0;
    self->dirty = 0;
    if (self->have_base) {
        self->have_base = 0;
        if (set_attr_obj(self->counts, "tests", PyLong_FromLongLong(self->tests)) < 0
            || set_attr_obj(self->counts, "passed", PyLong_FromLongLong(self->passed)) < 0
            || set_attr_obj(self->counts, "duration", PyFloat_FromDouble(self->duration)) < 0)
            return -1;
    }
    if (PyList_GET_SIZE(self->ids) > 0) {
        PyObject *batch = self->ids;
        self->ids = PyList_New(0);
        if (self->ids == NULL) {
            self->ids = batch;
            return -1;
        }
        int rc = call_void(self->passed_many, &batch, 1);
        Py_DECREF(batch);
        if (rc < 0)
            return -1;
    }
    if (self->tally) {
        PyObject *n = PyLong_FromSsize_t(self->tally);
        self->tally = 0;
        if (n == NULL)
            return -1;
        int rc = call_void(self->tally_fn, &n, 1);
        Py_DECREF(n);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int
read_long(PyObject *o, const char *name, long long *out)
{
    PyObject *v = PyObject_GetAttrString(o, name);
    if (v == NULL)
        return -1;
    *out = PyLong_AsLongLong(v);
    Py_DECREF(v);
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

static int
load_counts(Reader *self)
{
    if (self->have_base)
        return 0;
    if (read_long(self->counts, "tests", &self->tests) < 0
        || read_long(self->counts, "passed", &self->passed) < 0)
        return -1;
    PyObject *v = PyObject_GetAttrString(self->counts, "duration");
    if (v == NULL)
        return -1;
    self->duration = PyFloat_AsDouble(v);
    Py_DECREF(v);
    if (self->duration == -1.0 && PyErr_Occurred())
        return -1;
    self->have_base = 1;
    return 0;
}

/* Release the held plain pass (junit.py's inlined release of `pending`): count, cap, id. */
static int
release_held(Reader *self)
{
    if (load_counts(self) < 0)
        return -1;
    self->dirty = 1;
    self->tests++;
    self->passed++;
    self->duration += self->pend_secs;
    if (self->tests > self->cap) {  /* as Context: counted, then refused; still held */
        if (hand_over(self) < 0)
            return -1;
        PyObject *r = PyObject_CallNoArgs(self->refuse_cap);
        Py_XDECREF(r);
        if (r != NULL)
            PyErr_SetString(PyExc_RuntimeError, "refuse_cap returned");
        return -1;
    }
    PyObject *id = PyUnicode_DecodeUTF8(self->pend_tid.data, self->pend_tid.len, "strict");
    if (id == NULL)
        return -1;
    int rc = PyList_Append(self->ids, id);
    Py_DECREF(id);
    if (rc < 0)
        return -1;
    self->held = NONE;
    if (PyList_GET_SIZE(self->ids) >= BATCH)
        return hand_over(self);
    return 0;
}

/* The held plain pass becomes junit.py's `pending` (C already tallied it). */
static int
adopt_held(Reader *self)
{
    if (hand_over(self) < 0)
        return -1;
    if (self->held != HELD_C)
        return 0;
    PyObject *d = saved_dict(&self->pend_attrs);
    if (d == NULL)
        return -1;
    int rc = call_void(self->adopt, &d, 1);
    Py_DECREF(d);
    if (rc == 0)
        self->held = HELD_PY;
    return rc;
}

/* Show Python the open elements outside testcases it has not seen (their attributes are
 * ignored there), so its depth is right for what follows. */
static int
replay_ancestors(Reader *self, Py_ssize_t upto)
{
    if (self->py_depth >= upto)
        return 0;
    Py_ssize_t first = self->py_depth + 1;
    if (upto >= self->off_cap) {
        PyErr_SetString(PyExc_SystemError, "_fastjunit: open element without its name");
        return -1;
    }
    for (Py_ssize_t d = first; d <= upto; d++) {
        PyObject *empty = PyDict_New();
        if (send_start(self, self->names.data + self->off[d], empty) < 0)
            return -1;
        self->py_depth = d;
    }
    self->names.len = self->off[first];
    return 0;
}

static int
push_name(Reader *self, const char *name)
{
    Py_ssize_t d = self->depth;
    if (d >= self->off_cap) {
        Py_ssize_t cap = self->off_cap ? self->off_cap * 2 : 16;
        while (cap <= d)
            cap *= 2;
        Py_ssize_t *p = PyMem_Realloc(self->off, (size_t)cap * sizeof(Py_ssize_t));
        if (p == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        self->off = p;
        self->off_cap = cap;
    }
    self->off[d] = self->names.len;
    return buf_put(&self->names, name, (Py_ssize_t)strlen(name) + 1);
}

/* The current testcase goes to Python after all: held pass adopted, ancestors shown,
 * its start tag replayed from the saved attributes. */
static int
case_to_python(Reader *self)
{
    if (adopt_held(self) < 0 || replay_ancestors(self, self->case_depth - 1) < 0)
        return -1;
    if (send_start(self, "testcase", saved_dict(&self->cur_attrs)) < 0)
        return -1;
    self->py_depth = self->case_depth;
    self->mode = IN_PY;
    return 0;
}

/* A time attribute float() reads exactly like PyOS_string_to_double: digits, one dot,
 * an exponent; no sign, space, underscore, inf or nan (those take the Python path). */
static int
plain_time(const char *s, double *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > MAX_TIME_TEXT)
        return 0;
    size_t i = 0, digits = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9') { i++; digits++; }
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9') { i++; digits++; }
    }
    if (!digits)
        return 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t e = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == e)
            return 0;
    }
    if (i != n)
        return 0;
    char *end = NULL;
    double v = PyOS_string_to_double(s, &end, NULL);
    if (v == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    if (end != s + n || !(v >= 0.0 && v < MAX_SECONDS))
        return 0;
    *out = v;
    return 1;
}

static int
case_start(Reader *self, const XML_Char **atts)
{
    const char *cls = NULL, *name = "", *secs_text = NULL;
    int status = 0;
    self->cur_attrs.len = 0;
    for (const XML_Char **a = atts; a[0] != NULL; a += 2) {
        const char *k = a[0];
        if (strcmp(k, "classname") == 0)
            cls = a[1];
        else if (strcmp(k, "name") == 0)
            name = a[1];
        else if (strcmp(k, "time") == 0)
            secs_text = a[1];
        else if (strcmp(k, "status") == 0 || strcmp(k, "result") == 0)
            status = 1;
        if (buf_put(&self->cur_attrs, k, (Py_ssize_t)strlen(k) + 1) < 0
            || buf_put(&self->cur_attrs, a[1], (Py_ssize_t)strlen(a[1]) + 1) < 0)
            return -1;
    }
    Py_ssize_t cn = cls ? (Py_ssize_t)strlen(cls) : 0, nn = (Py_ssize_t)strlen(name);
    self->cur_known = cn > 0 && cn <= self->max_name && nn <= self->max_name;
    self->cur_tid.len = 0;
    if (self->cur_known && (buf_put(&self->cur_tid, cls, cn) < 0
                            || buf_put(&self->cur_tid, "::", 2) < 0
                            || buf_put(&self->cur_tid, name, nn) < 0))
        return -1;
    double secs = 0.0;
    int fast = self->cur_known && !status && (secs_text == NULL || plain_time(secs_text, &secs));
    if (fast && self->prev != NO_PREV)  /* a repeat of the previous id may be a rerun */
        fast = self->prev == PREV_KNOWN && (self->prev_tid.len != self->cur_tid.len
               || memcmp(self->prev_tid.data, self->cur_tid.data,
                         (size_t)self->cur_tid.len) != 0);
    self->case_depth = self->depth;
    self->cur_secs = secs;
    if (fast) {
        self->mode = IN_C;
        return 0;
    }
    return case_to_python(self);
}

static void
case_done(Reader *self)
{
    self->mode = OUTSIDE;
    self->prev = self->cur_known ? PREV_KNOWN : PREV_UNKNOWN;
    buf_swap(&self->prev_tid, &self->cur_tid);
}

/* End of a testcase counted in C: release what was held, hold this one. */
static int
case_end_fast(Reader *self)
{
    self->tally++;
    self->dirty = 1;
    if (self->held == HELD_C) {
        if (release_held(self) < 0)
            return -1;
    }
    else if (self->held == HELD_PY) {
        if (hand_over(self) < 0 || call_void(self->flush, NULL, 0) < 0)
            return -1;
    }
    buf_swap(&self->pend_attrs, &self->cur_attrs);
    if (buf_reserve(&self->pend_tid, self->cur_tid.len) < 0)
        return -1;
    memcpy(self->pend_tid.data, self->cur_tid.data, (size_t)self->cur_tid.len);
    self->pend_tid.len = self->cur_tid.len;
    self->pend_secs = self->cur_secs;
    self->held = HELD_C;
    case_done(self);
    return 0;
}

static int
significant_child(Reader *self, const char *name)
{
    return strcmp(name, "failure") == 0 || strcmp(name, "error") == 0
        || strcmp(name, "skipped") == 0 || strcmp(name, "flakyFailure") == 0
        || strcmp(name, "flakyError") == 0
        || (self->keep_err && strcmp(name, "system-err") == 0);
}

static int
is_suite(const char *name)
{
    return strcmp(name, "testsuite") == 0 || strcmp(name, "testsuites") == 0
        || strcmp(name, "testrun") == 0;
}

static int
forward_start(Reader *self, const char *name, const XML_Char **atts)
{
    if (hand_over(self) < 0 || replay_ancestors(self, self->depth - 1) < 0)
        return -1;
    if (send_start(self, name, attrs_dict(atts)) < 0)
        return -1;
    self->py_depth = self->depth;
    return 0;
}

static int
fast_start(Reader *self, const char *name, const XML_Char **atts)
{
    if (self->depth > self->max_depth) {
        PyErr_SetObject(self->refused, self->depth_msg);
        return -1;
    }
    switch (self->mode) {
    case IN_PY:
        return forward_start(self, name, atts);
    case IN_C:
        if (self->depth == self->case_depth + 1 && significant_child(self, name)) {
            if (case_to_python(self) < 0)
                return -1;
            return forward_start(self, name, atts);
        }
        return 0;
    default:
        if (strcmp(name, "testcase") == 0)
            return case_start(self, atts);
        if (is_suite(name))
            return forward_start(self, name, atts);
        return push_name(self, name);
    }
}

static int
fast_end(Reader *self, const char *name)
{
    Py_ssize_t d = self->depth;
    if (self->mode == IN_C) {
        return d == self->case_depth ? case_end_fast(self) : 0;
    }
    if (d > self->py_depth) {  /* swallowed outside a testcase */
        if (d >= self->off_cap) {
            PyErr_SetString(PyExc_SystemError, "_fastjunit: end tag without its start");
            return -1;
        }
        self->names.len = self->off[d];
        return 0;
    }
    if (hand_over(self) < 0 || send_end(self, name) < 0)
        return -1;
    self->py_depth = d - 1;
    if (self->mode == IN_PY && d == self->case_depth) {
        self->held = HELD_PY;
        case_done(self);
    }
    return 0;
}

/* ---------------------------------------------------------------- expat callbacks */

static void XMLCALL
on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    Reader *self = ud;
    if (self->failed)
        return;
    if (flush_text(self) < 0) {
        stop(self);
        return;
    }
    self->depth++;
    int rc;
    if (self->fast)
        rc = fast_start(self, name, atts);
    else {
        rc = self->start_h ? send_start(self, name, attrs_dict(atts)) : 0;
        self->py_depth = self->depth;
    }
    if (rc < 0)
        stop(self);
}

static void XMLCALL
on_end(void *ud, const XML_Char *name)
{
    Reader *self = ud;
    if (self->failed)
        return;
    int rc = flush_text(self);
    if (rc == 0) {
        if (self->fast)
            rc = fast_end(self, name);
        else {
            rc = send_end(self, name);
            self->py_depth = self->depth - 1;
        }
    }
    self->depth--;
    if (rc < 0)
        stop(self);
}

static void XMLCALL
on_text(void *ud, const XML_Char *data, int len)
{
    Reader *self = ud;
    if (self->failed || self->char_h == NULL)
        return;
    if (!self->buffer_text) {
        PyObject *s = PyUnicode_DecodeUTF8(data, len, "strict");
        if (s == NULL || call_void(self->char_h, &s, 1) < 0)
            stop(self);
        Py_XDECREF(s);
        return;
    }
    if (self->cbuf_used + (long long)len > self->cbuf_size) {  /* pyexpat's rule */
        if (flush_text(self) < 0) {
            stop(self);
            return;
        }
        if (self->char_h == NULL)
            return;
    }
    /* The flush ran Python: it may have switched buffering off (then nothing may stay
     * buffered, or this piece would reach the handler after later ones) */
    if (!self->buffer_text || len > self->cbuf_size) {
        PyObject *s = PyUnicode_DecodeUTF8(data, len, "strict");
        if (s == NULL || call_void(self->char_h, &s, 1) < 0)
            stop(self);
        Py_XDECREF(s);
        self->cbuf_used = 0;
        return;
    }
    memcpy(self->cbuf + self->cbuf_used, data, (size_t)len);
    self->cbuf_used += len;
}

static void
refusal(Reader *self, PyObject *handler)
{
    if (self->failed || handler == NULL)
        return;
    if (flush_text(self) < 0 || call_void(handler, NULL, 0) < 0)
        stop(self);
}

static void XMLCALL
on_doctype(void *ud, const XML_Char *n, const XML_Char *s, const XML_Char *p, int sub)
{
    (void)n; (void)s; (void)p; (void)sub;
    refusal(ud, ((Reader *)ud)->doctype_h);
}

static void XMLCALL
on_entity(void *ud, const XML_Char *n, int pe, const XML_Char *v, int vn, const XML_Char *b,
          const XML_Char *s, const XML_Char *p, const XML_Char *nn)
{
    (void)n; (void)pe; (void)v; (void)vn; (void)b; (void)s; (void)p; (void)nn;
    refusal(ud, ((Reader *)ud)->entity_h);
}

static int XMLCALL
on_external(XML_Parser parser, const XML_Char *c, const XML_Char *b, const XML_Char *s,
            const XML_Char *p)
{
    (void)c; (void)b; (void)s; (void)p;
    Reader *self = XML_GetUserData(parser);
    refusal(self, self->extent_h);
    return XML_STATUS_ERROR;
}

/* pyexpat's PyUnknownEncodingHandler: single-byte encodings through Python's codecs. */
static int XMLCALL
on_encoding(void *data, const XML_Char *name, XML_Encoding *info)
{
    if (((Reader *)data)->failed)
        return XML_STATUS_ERROR;
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    PyObject *u = PyUnicode_Decode((const char *)all, 256, name, "replace");
    if (u == NULL)
        return XML_STATUS_ERROR;
    if (PyUnicode_GET_LENGTH(u) != 256) {
        Py_DECREF(u);
        PyErr_SetString(PyExc_ValueError, "multi-byte encodings are not supported");
        return XML_STATUS_ERROR;
    }
    int kind = PyUnicode_KIND(u);
    const void *chars = PyUnicode_DATA(u);
    for (int i = 0; i < 256; i++) {
        Py_UCS4 ch = PyUnicode_READ(kind, chars, i);
        info->map[i] = ch == Py_UNICODE_REPLACEMENT_CHARACTER ? -1 : (int)ch;
    }
    info->data = NULL;
    info->convert = NULL;
    info->release = NULL;
    Py_DECREF(u);
    return XML_STATUS_OK;
}

/* ---------------------------------------------------------------- the type */

static PyObject *
raise_expat(Reader *self)
{
    enum XML_Error code = XML_GetErrorCode(self->p);
    int line = (int)XML_GetErrorLineNumber(self->p);
    int col = (int)XML_GetErrorColumnNumber(self->p);
    PyObject *msg = PyUnicode_FromFormat("%s: line %i, column %i", XML_ErrorString(code),
                                         line, col);
    if (msg == NULL)
        return NULL;
    PyObject *err = PyObject_CallOneArg(ExpatError, msg);
    Py_DECREF(msg);
    if (err == NULL)
        return NULL;
    if (set_attr_obj(err, "code", PyLong_FromLong((long)code)) == 0
        && set_attr_obj(err, "offset", PyLong_FromLong(col)) == 0
        && set_attr_obj(err, "lineno", PyLong_FromLong(line)) == 0)
        PyErr_SetObject(ExpatError, err);
    Py_DECREF(err);
    return NULL;
}

static PyObject *
Reader_Parse(Reader *self, PyObject *args)
{
    Py_buffer view;
    int final = 0;
    if (!PyArg_ParseTuple(args, "y*|i:Parse", &view, &final))
        return NULL;
    if (self->in_parse) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_RuntimeError, "Parse() called from inside a handler");
        return NULL;
    }
    self->in_parse = 1;
    Py_INCREF(self);
    const char *s = view.buf;
    Py_ssize_t n = view.len;
    enum XML_Status rc = XML_STATUS_OK;
    while (n > FEED && rc == XML_STATUS_OK) {
        rc = XML_Parse(self->p, s, FEED, 0);
        s += FEED;
        n -= FEED;
    }
    if (rc == XML_STATUS_OK)
        rc = XML_Parse(self->p, s, (int)n, final);
    PyBuffer_Release(&view);
    self->in_parse = 0;
    PyObject *result = NULL;
    if (PyErr_Occurred())
        ;
    else if (rc != XML_STATUS_OK)
        raise_expat(self);
    else if (flush_text(self) == 0)
        result = PyLong_FromLong((long)rc);
    Py_DECREF(self);
    return result;
}

static PyObject *
Reader_SetParamEntityParsing(Reader *self, PyObject *arg)
{
    int flag = PyLong_AsLong(arg);
    if (flag == -1 && PyErr_Occurred())
        return NULL;
    return PyLong_FromLong(XML_SetParamEntityParsing(self->p, (enum XML_ParamEntityParsing)flag));
}

static int
need_callable(PyObject *o, const char *what)
{
    if (!PyCallable_Check(o)) {
        PyErr_Format(PyExc_TypeError, "accelerate(): %s must be callable", what);
        return -1;
    }
    return 0;
}

static PyObject *
Reader_accelerate(Reader *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"handlers", "counts", "passed_many", "refuse_cap", "refused",
                            "depth_message", "max_depth", "max_name", "max_testcases",
                            "system_err", NULL};
    PyObject *handlers, *counts, *many, *cap_fn, *refused, *msg;
    Py_ssize_t max_depth, max_name;
    long long cap;
    int keep_err;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOOOOUnnLp:accelerate", names, &handlers,
                                     &counts, &many, &cap_fn, &refused, &msg, &max_depth,
                                     &max_name, &cap, &keep_err))
        return NULL;
    if (self->fast) {
        PyErr_SetString(PyExc_RuntimeError, "accelerate() called twice");
        return NULL;
    }
    PyObject *adopt = PyObject_GetAttrString(handlers, "adopt");
    PyObject *flush = adopt ? PyObject_GetAttrString(handlers, "flush") : NULL;
    PyObject *tally = flush ? PyObject_GetAttrString(handlers, "tally") : NULL;
    PyObject *ids = tally ? PyList_New(0) : NULL;
    if (ids == NULL || need_callable(adopt, "adopt") < 0 || need_callable(flush, "flush") < 0
        || need_callable(tally, "tally") < 0 || need_callable(many, "passed_many") < 0
        || need_callable(cap_fn, "refuse_cap") < 0) {
        Py_XDECREF(adopt);
        Py_XDECREF(flush);
        Py_XDECREF(tally);
        Py_XDECREF(ids);
        return NULL;
    }
    self->adopt = adopt;
    self->flush = flush;
    self->tally_fn = tally;
    self->ids = ids;
    self->counts = Py_NewRef(counts);
    self->passed_many = Py_NewRef(many);
    self->refuse_cap = Py_NewRef(cap_fn);
    self->refused = Py_NewRef(refused);
    self->depth_msg = Py_NewRef(msg);
    self->max_depth = max_depth;
    self->max_name = max_name;
    self->cap = cap;
    self->keep_err = keep_err;
    self->py_depth = self->depth;
    self->mode = OUTSIDE;
    self->held = NONE;
    self->prev = NO_PREV;
    self->fast = 1;
    Py_RETURN_NONE;
}

static PyObject *
Reader_drain(Reader *self, PyObject *Py_UNUSED(ignored))
{
    if (self->fast && (hand_over(self) < 0 || adopt_held(self) < 0))
        return NULL;
    Py_RETURN_NONE;
}

static int
Reader_traverse(Reader *self, visitproc visit, void *arg)
{
    Py_VISIT(self->start_h);
    Py_VISIT(self->end_h);
    Py_VISIT(self->char_h);
    Py_VISIT(self->doctype_h);
    Py_VISIT(self->entity_h);
    Py_VISIT(self->extent_h);
    Py_VISIT(self->adopt);
    Py_VISIT(self->flush);
    Py_VISIT(self->tally_fn);
    Py_VISIT(self->counts);
    Py_VISIT(self->passed_many);
    Py_VISIT(self->refuse_cap);
    Py_VISIT(self->refused);
    Py_VISIT(self->depth_msg);
    Py_VISIT(self->ids);
    return 0;
}

static int
Reader_clear(Reader *self)
{
    Py_CLEAR(self->start_h);
    Py_CLEAR(self->end_h);
    Py_CLEAR(self->char_h);
    Py_CLEAR(self->doctype_h);
    Py_CLEAR(self->entity_h);
    Py_CLEAR(self->extent_h);
    Py_CLEAR(self->adopt);
    Py_CLEAR(self->flush);
    Py_CLEAR(self->tally_fn);
    Py_CLEAR(self->counts);
    Py_CLEAR(self->passed_many);
    Py_CLEAR(self->refuse_cap);
    Py_CLEAR(self->refused);
    Py_CLEAR(self->depth_msg);
    Py_CLEAR(self->ids);
    self->fast = 0;  /* nothing left to call */
    return 0;
}

static void
Reader_dealloc(Reader *self)
{
    PyObject_GC_UnTrack(self);
    Reader_clear(self);
    if (self->p != NULL)
        XML_ParserFree(self->p);
    PyMem_Free(self->cbuf);
    PyMem_Free(self->off);
    buf_free(&self->names);
    buf_free(&self->cur_attrs);
    buf_free(&self->pend_attrs);
    buf_free(&self->cur_tid);
    buf_free(&self->pend_tid);
    buf_free(&self->prev_tid);
    PyTypeObject *tp = Py_TYPE(self);
    tp->tp_free((PyObject *)self);
}

static PyObject *
Reader_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    if (PyTuple_GET_SIZE(args) != 0 || (kw != NULL && PyDict_GET_SIZE(kw) != 0)) {
        PyErr_SetString(PyExc_TypeError, "Parser() takes no arguments");
        return NULL;
    }
    Reader *self = (Reader *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->cbuf_size = 8192;  /* pyexpat's default buffer_size */
    self->cbuf = PyMem_Malloc((size_t)self->cbuf_size);
    self->p = XML_ParserCreate(NULL);
    if (self->cbuf == NULL || self->p == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    XML_SetUserData(self->p, self);
    XML_SetElementHandler(self->p, on_start, on_end);
    XML_SetCharacterDataHandler(self->p, on_text);
    XML_SetUnknownEncodingHandler(self->p, on_encoding, self);
    return (PyObject *)self;
}

/* Handlers: a callable or None, settable at any time (text buffered so far goes to the
 * old character-data handler first, as in pyexpat). */
enum { H_START, H_END, H_CHAR, H_DOCTYPE, H_ENTITY, H_EXTERNAL };

static PyObject **
slot(Reader *self, intptr_t which)
{
    switch (which) {
    case H_START: return &self->start_h;
    case H_END: return &self->end_h;
    case H_CHAR: return &self->char_h;
    case H_DOCTYPE: return &self->doctype_h;
    case H_ENTITY: return &self->entity_h;
    default: return &self->extent_h;
    }
}

static PyObject *
get_handler(Reader *self, void *closure)
{
    PyObject *h = *slot(self, (intptr_t)closure);
    return Py_NewRef(h ? h : Py_None);
}

static int
set_handler(Reader *self, PyObject *value, void *closure)
{
    intptr_t which = (intptr_t)closure;
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete a handler");
        return -1;
    }
    if (value != Py_None && !PyCallable_Check(value)) {
        PyErr_SetString(PyExc_TypeError, "a handler must be callable or None");
        return -1;
    }
    if (which == H_CHAR && flush_text(self) < 0)
        return -1;
    PyObject *h = value == Py_None ? NULL : Py_NewRef(value);
    Py_XSETREF(*slot(self, which), h);
    if (which == H_DOCTYPE)
        XML_SetStartDoctypeDeclHandler(self->p, h ? on_doctype : NULL);
    else if (which == H_ENTITY)
        XML_SetEntityDeclHandler(self->p, h ? on_entity : NULL);
    else if (which == H_EXTERNAL)
        XML_SetExternalEntityRefHandler(self->p, h ? on_external : NULL);
    return 0;
}

static PyObject *
get_buffer_text(Reader *self, void *closure)
{
    (void)closure;
    return PyBool_FromLong(self->buffer_text);
}

static int
set_buffer_text(Reader *self, PyObject *value, void *closure)
{
    (void)closure;
    int on = value ? PyObject_IsTrue(value) : -1;
    if (on < 0 || flush_text(self) < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_AttributeError, "cannot delete buffer_text");
        return -1;
    }
    self->buffer_text = on;
    return 0;
}

static PyObject *
get_buffer_size(Reader *self, void *closure)
{
    (void)closure;
    return PyLong_FromLong(self->cbuf_size);
}

static int
set_buffer_size(Reader *self, PyObject *value, void *closure)
{
    (void)closure;
    long n = value ? PyLong_AsLong(value) : -1;
    if (n == -1 && (value == NULL || PyErr_Occurred())) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_AttributeError, "cannot delete buffer_size");
        return -1;
    }
    if (n <= 0 || n > (1 << 26)) {
        PyErr_SetString(PyExc_ValueError, "buffer_size must be between 1 and 64 MiB");
        return -1;
    }
    if (flush_text(self) < 0)
        return -1;
    char *p = PyMem_Realloc(self->cbuf, (size_t)n);
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->cbuf = p;
    self->cbuf_size = (int)n;
    return 0;
}

/* Bytes expat has consumed (what pyexpat's CurrentByteIndex reads between Parse calls):
 * the rest of what was fed is an unfinished tag, comment or PI it holds in its buffer. */
static PyObject *
get_byte_index(Reader *self, void *closure)
{
    (void)closure;
    return PyLong_FromLongLong((long long)XML_GetCurrentByteIndex(self->p));
}

#define HANDLER(NAME, WHICH) \
    {NAME, (getter)get_handler, (setter)set_handler, NULL, (void *)(intptr_t)(WHICH)}

static PyGetSetDef Reader_getset[] = {
    HANDLER("StartElementHandler", H_START),
    HANDLER("EndElementHandler", H_END),
    HANDLER("CharacterDataHandler", H_CHAR),
    HANDLER("StartDoctypeDeclHandler", H_DOCTYPE),
    HANDLER("EntityDeclHandler", H_ENTITY),
    HANDLER("ExternalEntityRefHandler", H_EXTERNAL),
    {"buffer_text", (getter)get_buffer_text, (setter)set_buffer_text, NULL, NULL},
    {"buffer_size", (getter)get_buffer_size, (setter)set_buffer_size, NULL, NULL},
    {"CurrentByteIndex", (getter)get_byte_index, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef Reader_methods[] = {
    {"Parse", (PyCFunction)Reader_Parse, METH_VARARGS,
     "Parse(data, isfinal=0): feed bytes, as pyexpat's xmlparser.Parse."},
    {"SetParamEntityParsing", (PyCFunction)Reader_SetParamEntityParsing, METH_O,
     "As pyexpat's (refusal of parameter entities)."},
    {"accelerate", (PyCFunction)(void (*)(void))Reader_accelerate, METH_VARARGS | METH_KEYWORDS,
     "Count plain passed <testcase>s in C from now on (junit.py's handlers, engine mode)."},
    {"drain", (PyCFunction)Reader_drain, METH_NOARGS,
     "Hand Python everything counted in C; the held pass becomes the handlers' pending."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ReaderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "bot.core._fastjunit.Parser",
    .tp_basicsize = sizeof(Reader),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "An expat reader with pyexpat's interface subset and a JUnit fast path.",
    .tp_new = Reader_new,
    .tp_dealloc = (destructor)Reader_dealloc,
    .tp_traverse = (traverseproc)Reader_traverse,
    .tp_clear = (inquiry)Reader_clear,
    .tp_methods = Reader_methods,
    .tp_getset = Reader_getset,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastjunit",
    "Optional C accelerator for bot.core.junit (see the header of _fastjunit.c).", -1,
    NULL, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__fastjunit(void)
{
    PyObject *pyexpat = PyImport_ImportModule("pyexpat");
    if (pyexpat == NULL)
        return NULL;
    ExpatError = PyObject_GetAttrString(pyexpat, "error");
    Py_DECREF(pyexpat);
    if (ExpatError == NULL || PyType_Ready(&ReaderType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "Parser", (PyObject *)&ReaderType) < 0
        || PyModule_AddStringConstant(m, "EXPAT_VERSION", XML_ExpatVersion()) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
