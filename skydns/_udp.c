/* skydns._udp: UDP questions read and replies sent in batches.
 *
 * Python's socket module has no recvmmsg/sendmmsg, and a recvfrom plus a
 * sendto per packet from Python cost more than a cached answer does.  A
 * Batch reads up to `burst` datagrams with one recvmmsg, hands each to the
 * Python callable `handle(data: bytes, tcp: bool)` (always tcp=False) and
 * sends the bytes replies back to their senders with one sendmmsg.  No DNS
 * here: what a packet means is handle's business.
 *
 *     Batch(fd, handle, defer, burst=64, size=65535, rounds=4)
 *
 * drain() is the event loop's reader callback (it takes no argument, so
 * the loop can call it directly): it repeats while a full burst came in,
 * at most `rounds` times, so one busy socket does not starve the loop.
 * What C does not finish goes to `defer(obj, addr)`, addr being what
 * socket.sendto takes ((host, port) or (host, port, flowinfo, scope_id)):
 *
 *   - an awaitable that handle returned (a forwarded question), at once;
 *   - a reply the kernel would not take (EAGAIN: a full send buffer).
 *     From then on `blocked` is true and every reply goes to defer, in
 *     order, until Python sets `blocked` back to false (its queue is
 *     flushed): the same rule as the Python path's queue.
 *
 * A datagram longer than `size` (MSG_TRUNC) is dropped; an error of an
 * earlier send reported on receive (ICMP: ECONNREFUSED ...) is skipped; a
 * send error other than EAGAIN drops that one reply.  When handle or defer
 * raises, the replies already made are sent, the datagrams after it in the
 * same burst are dropped, and drain raises the exception.  The Batch does
 * not own fd: close the socket after close() (or after removing the reader).
 *
 * IPv4 and IPv6 sockets; Unix datagram sockets work too (the tests use one:
 * loopback UDP never refuses a send, a Unix socket's small send buffer does).
 * The GIL stays held: every call is non-blocking.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#define MAX_BURST 1024 /* UIO_MAXIOV: the most recvmmsg/sendmmsg take */
#define MAX_SIZE 65535

typedef struct {
    PyObject_HEAD
    int fd;
    int burst;
    int rounds;
    Py_ssize_t size;
    char blocked;  /* the kernel refused a reply: replies go to defer */
    char busy;     /* inside drain (handle must not drain again) */
    PyObject *handle;
    PyObject *defer;
    struct mmsghdr *in;            /* burst receive headers */
    struct iovec *in_iov;          /* burst: into bufs */
    struct sockaddr_storage *peer; /* burst: the senders */
    char *bufs;                    /* burst * size bytes */
    struct mmsghdr *out;           /* burst send headers */
    struct iovec *out_iov;         /* burst: into the replies */
    PyObject **replies;            /* burst: held until sent */
} Batch;

static void
free_arrays(Batch *self)
{
    free(self->in);
    free(self->in_iov);
    free(self->peer);
    free(self->bufs);
    free(self->out);
    free(self->out_iov);
    free(self->replies);
    self->in = NULL;
    self->in_iov = NULL;
    self->peer = NULL;
    self->bufs = NULL;
    self->out = NULL;
    self->out_iov = NULL;
    self->replies = NULL;
}

static int
Batch_init(Batch *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"fd", "handle", "defer", "burst", "size", "rounds", NULL};
    PyObject *fdobj, *handle, *defer;
    int burst = 64, rounds = 4;
    Py_ssize_t size = MAX_SIZE;

    if (self->in != NULL || self->handle != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Batch is initialised already");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOO|ini:Batch", kwlist, &fdobj, &handle, &defer,
                                     &burst, &size, &rounds))
        return -1;
    int fd = PyObject_AsFileDescriptor(fdobj);
    if (fd < 0)
        return -1;
    if (!PyCallable_Check(handle) || !PyCallable_Check(defer)) {
        PyErr_SetString(PyExc_TypeError, "handle and defer must be callable");
        return -1;
    }
    if (burst < 1 || burst > MAX_BURST) {
        PyErr_Format(PyExc_ValueError, "burst must be 1..%d", MAX_BURST);
        return -1;
    }
    if (size < 1 || size > MAX_SIZE) {
        PyErr_Format(PyExc_ValueError, "size must be 1..%d", MAX_SIZE);
        return -1;
    }
    if (rounds < 1) {
        PyErr_SetString(PyExc_ValueError, "rounds must be at least 1");
        return -1;
    }
    self->in = calloc(burst, sizeof(struct mmsghdr));
    self->in_iov = calloc(burst, sizeof(struct iovec));
    self->peer = calloc(burst, sizeof(struct sockaddr_storage));
    self->bufs = malloc((size_t)burst * (size_t)size);
    self->out = calloc(burst, sizeof(struct mmsghdr));
    self->out_iov = calloc(burst, sizeof(struct iovec));
    self->replies = calloc(burst, sizeof(PyObject *));
    if (!self->in || !self->in_iov || !self->peer || !self->bufs || !self->out || !self->out_iov ||
        !self->replies) {
        free_arrays(self);
        PyErr_NoMemory();
        return -1;
    }
    for (int i = 0; i < burst; i++) {
        self->in_iov[i].iov_base = self->bufs + (size_t)i * (size_t)size;
        self->in_iov[i].iov_len = (size_t)size;
        self->in[i].msg_hdr.msg_iov = &self->in_iov[i];
        self->in[i].msg_hdr.msg_iovlen = 1;
        self->in[i].msg_hdr.msg_name = &self->peer[i];
        self->out[i].msg_hdr.msg_iov = &self->out_iov[i];
        self->out[i].msg_hdr.msg_iovlen = 1;
    }
    self->fd = fd;
    self->burst = burst;
    self->size = size;
    self->rounds = rounds;
    self->blocked = 0;
    Py_INCREF(handle);
    self->handle = handle;
    Py_INCREF(defer);
    self->defer = defer;
    return 0;
}

static int
Batch_traverse(Batch *self, visitproc visit, void *arg)
{
    Py_VISIT(self->handle);
    Py_VISIT(self->defer);
    return 0;
}

static int
Batch_clear(Batch *self)
{
    Py_CLEAR(self->handle);
    Py_CLEAR(self->defer);
    return 0;
}

static void
Batch_dealloc(Batch *self)
{
    PyObject_GC_UnTrack(self);
    Batch_clear(self);
    free_arrays(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* what socket.sendto takes for a sender's address (as socket.recvfrom gives it) */
static PyObject *
address(const struct sockaddr_storage *sa, socklen_t len)
{
    char host[INET6_ADDRSTRLEN];

    if (sa->ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)sa;
        if (!inet_ntop(AF_INET, &v4->sin_addr, host, sizeof(host)))
            return PyErr_SetFromErrno(PyExc_OSError);
        return Py_BuildValue("(si)", host, ntohs(v4->sin_port));
    }
    if (sa->ss_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)sa;
        if (!inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof(host)))
            return PyErr_SetFromErrno(PyExc_OSError);
        return Py_BuildValue("(siII)", host, ntohs(v6->sin6_port), (unsigned int)ntohl(v6->sin6_flowinfo),
                             (unsigned int)v6->sin6_scope_id);
    }
    if (sa->ss_family == AF_UNIX) { /* the tests' datagram sockets: they can refuse a send */
        const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
        Py_ssize_t n = (Py_ssize_t)len - (Py_ssize_t)offsetof(struct sockaddr_un, sun_path);
        if (n <= 0)
            Py_RETURN_NONE; /* an unnamed socket: no address to answer */
        if (un->sun_path[0] == '\0')
            return PyBytes_FromStringAndSize(un->sun_path, n); /* the abstract namespace */
        return PyUnicode_DecodeFSDefaultAndSize(un->sun_path, (Py_ssize_t)strnlen(un->sun_path, (size_t)n));
    }
    PyErr_Format(PyExc_OSError, "address family %d is not IPv4, IPv6 or Unix", (int)sa->ss_family);
    return NULL;
}

/* defer(obj, address of sa); -1 with an exception set when that fails */
static int
call_defer(PyObject *defer, PyObject *obj, const struct sockaddr_storage *sa, socklen_t len)
{
    PyObject *args[3];
    PyObject *addr = address(sa, len);
    if (addr == NULL)
        return -1;
    args[0] = NULL;
    args[1] = obj;
    args[2] = addr;
    PyObject *res = PyObject_Vectorcall(defer, args + 1, 2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    Py_DECREF(addr);
    if (res == NULL)
        return -1;
    Py_DECREF(res);
    return 0;
}

/* Send replies[0..n) and release them.  What the kernel will not take
 * (EAGAIN), and everything while blocked, goes to defer.  -1 with an
 * exception set when defer raised (the rest is dropped). */
static int
send_replies(Batch *self, PyObject *defer, int n)
{
    int i = 0, failed = 0;

    while (i < n && !self->blocked) {
        int sent = sendmmsg(self->fd, self->out + i, (unsigned int)(n - i), MSG_DONTWAIT);
        if (sent > 0) {
            i += sent;
        } else if (sent < 0 && errno == EINTR) {
            continue;
        } else if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            self->blocked = 1;
        } else {
            i++; /* this reply cannot go (EMSGSIZE, unreachable ...): the next one may */
        }
    }
    for (; i < n && !failed; i++) {
        struct msghdr *o = &self->out[i].msg_hdr;
        if (call_defer(defer, self->replies[i], (struct sockaddr_storage *)o->msg_name, o->msg_namelen) < 0)
            failed = 1;
    }
    for (int k = 0; k < n; k++)
        Py_CLEAR(self->replies[k]);
    return failed ? -1 : 0;
}

static PyObject *
Batch_drain(Batch *self, PyObject *Py_UNUSED(ignored))
{
    if (self->handle == NULL || self->in == NULL) {
        PyErr_SetString(PyExc_ValueError, "Batch is closed");
        return NULL;
    }
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "Batch.drain called from inside drain");
        return NULL;
    }
    self->busy = 1;
    Py_INCREF(self);
    PyObject *handle = self->handle, *defer = self->defer;
    Py_INCREF(handle);
    Py_INCREF(defer);

    const int burst = self->burst;
    const Py_ssize_t size = self->size;
    long total = 0;
    int failed = 0;

    for (int round = 0; round < self->rounds && !failed; round++) {
        for (int i = 0; i < burst; i++)
            self->in[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_storage);
        int got = recvmmsg(self->fd, self->in, (unsigned int)burst, MSG_DONTWAIT, NULL);
        if (got < 0) {
            int err = errno;
            if (err == EAGAIN || err == EWOULDBLOCK)
                break;
            if (err == EBADF || err == ENOTSOCK || err == EINVAL || err == EFAULT) {
                errno = err;
                PyErr_SetFromErrno(PyExc_OSError);
                failed = 1;
                break;
            }
            continue; /* EINTR, or an ICMP error of an earlier send: read on */
        }
        total += got;
        int made = 0;
        for (int i = 0; i < got; i++) {
            struct msghdr *hdr = &self->in[i].msg_hdr;
            if (hdr->msg_flags & MSG_TRUNC)
                continue; /* longer than size: not a question we read whole */
            PyObject *args[3];
            PyObject *data = PyBytes_FromStringAndSize(self->bufs + (size_t)i * (size_t)size,
                                                       (Py_ssize_t)self->in[i].msg_len);
            if (data == NULL) {
                failed = 1;
                break;
            }
            args[0] = NULL;
            args[1] = data;
            args[2] = Py_False;
            PyObject *res = PyObject_Vectorcall(handle, args + 1, 2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
            Py_DECREF(data);
            if (res == NULL) {
                failed = 1;
                break;
            }
            if (res == Py_None) {
                Py_DECREF(res);
            } else if (PyBytes_Check(res)) {
                struct msghdr *o = &self->out[made].msg_hdr;
                o->msg_name = &self->peer[i];
                o->msg_namelen = hdr->msg_namelen;
                self->out_iov[made].iov_base = PyBytes_AS_STRING(res);
                self->out_iov[made].iov_len = (size_t)PyBytes_GET_SIZE(res);
                self->replies[made++] = res; /* the reference is released once sent */
            } else {
                int r = call_defer(defer, res, &self->peer[i], hdr->msg_namelen);
                Py_DECREF(res);
                if (r < 0) {
                    failed = 1;
                    break;
                }
            }
        }
        if (made) {
            /* send what is made even when handle raised; defer must not run with an exception set */
            PyObject *type = NULL, *value = NULL, *tb = NULL;
            if (failed)
                PyErr_Fetch(&type, &value, &tb);
            if (send_replies(self, defer, made) < 0) {
                if (failed)
                    PyErr_WriteUnraisable(defer);
                failed = 1;
            }
            if (type != NULL || value != NULL)
                PyErr_Restore(type, value, tb);
        }
        if (got < burst)
            break; /* the socket is empty: no need to ask again */
    }

    self->busy = 0;
    Py_DECREF(handle);
    Py_DECREF(defer);
    Py_DECREF(self);
    if (failed)
        return NULL;
    return PyLong_FromLong(total);
}

static PyObject *
Batch_close(Batch *self, PyObject *Py_UNUSED(ignored))
{
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "Batch.close called from inside drain");
        return NULL;
    }
    Batch_clear(self);
    free_arrays(self);
    Py_RETURN_NONE;
}

static PyMethodDef Batch_methods[] = {
    {"drain", (PyCFunction)Batch_drain, METH_NOARGS,
     "drain() -> int\n\nRead and answer what the socket holds, up to rounds full bursts; "
     "returns the number of datagrams read."},
    {"close", (PyCFunction)Batch_close, METH_NOARGS,
     "close()\n\nRelease handle, defer and the buffers (the socket stays open)."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef Batch_members[] = {
    {"fd", T_INT, offsetof(Batch, fd), READONLY, "the socket's file descriptor (not owned)"},
    {"burst", T_INT, offsetof(Batch, burst), READONLY, "datagrams per recvmmsg"},
    {"size", T_PYSSIZET, offsetof(Batch, size), READONLY, "the longest datagram read (longer: dropped)"},
    {"rounds", T_INT, offsetof(Batch, rounds), READONLY, "full bursts read per drain at most"},
    {"blocked", T_BOOL, offsetof(Batch, blocked), 0,
     "true since the kernel refused a reply: replies go to defer until this is set false again"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject BatchType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "skydns._udp.Batch",
    .tp_basicsize = sizeof(Batch),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Batch(fd, handle, defer, burst=64, size=65535, rounds=4)\n\n"
              "recvmmsg/sendmmsg for a non-blocking UDP socket: every datagram goes to "
              "handle(data, False); bytes replies go back to their sender, awaitables and "
              "replies the kernel refused to defer(obj, addr).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Batch_init,
    .tp_dealloc = (destructor)Batch_dealloc,
    .tp_traverse = (traverseproc)Batch_traverse,
    .tp_clear = (inquiry)Batch_clear,
    .tp_methods = Batch_methods,
    .tp_members = Batch_members,
};

static struct PyModuleDef udpmodule = {
    PyModuleDef_HEAD_INIT,
    .m_name = "skydns._udp",
    .m_doc = "UDP datagrams read and replies sent in batches (recvmmsg/sendmmsg); no DNS logic.",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__udp(void)
{
    if (PyType_Ready(&BatchType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&udpmodule);
    if (m == NULL)
        return NULL;
    Py_INCREF(&BatchType);
    if (PyModule_AddObject(m, "Batch", (PyObject *)&BatchType) < 0) {
        Py_DECREF(&BatchType);
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddIntConstant(m, "MAX_BURST", MAX_BURST) < 0 || PyModule_AddIntConstant(m, "MAX_SIZE", MAX_SIZE) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
