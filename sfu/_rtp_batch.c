/* sfu._rtp_batch: the native twin of sfu/rtp_batch.py (same classes, same bytes on the wire).
 *
 * One forwarded RTP packet becomes one datagram per listener slot. Per datagram this does, in
 * C: copy the destination's header template (RTP header with its extensions, built once by
 * aiortc's own serializer), rewrite marker, sequence number, timestamp and the RFC 6464 level
 * in place, append the payload, and SRTP-protect it in place in the batch's own buffer with
 * the listener's libsrtp session. `flush` then hands every datagram to the kernel with one
 * sendmmsg(2) per run of datagrams on the same socket (all of them, with RTC_UDP_PORT).
 *
 * libsrtp is the one pylibsrtp bundles: the destination is given the address of pylibsrtp's
 * `srtp_protect` and of the session's `srtp_t` (both opaque here), so the context is always
 * handled by the library that made it, and the Session object is kept alive with it.
 *
 * Errors: a datagram the kernel refuses (a socket gone, a full buffer) is skipped and counted
 * in `failed`; the rest of the batch still goes. Nothing here logs or blocks (MSG_DONTWAIT).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#define DATAGRAM_BYTES 1500
#define SRTP_TRAILER_ROOM 144 /* libsrtp 2 SRTP_MAX_TRAILER_LEN: tag + MKI after the packet */
#define TEMPLATE_BYTES 64     /* 12-byte RTP header + extension block: mid and level */
#define SEND_CHUNK 1024       /* UIO_MAXIOV: the most one sendmmsg takes */

typedef int (*srtp_protect_fn)(void *session, void *packet, int *length);

typedef struct {
    PyObject_HEAD
    int fd;
    struct sockaddr_storage address;
    socklen_t address_length;
    PyObject *session; /* the pylibsrtp.Session owning `srtp` */
    void *srtp;
    srtp_protect_fn protect;
    uint8_t with_level[TEMPLATE_BYTES];
    Py_ssize_t with_level_length;
    Py_ssize_t level_offset; /* -1: no level extension negotiated */
    uint8_t without_level[TEMPLATE_BYTES];
    Py_ssize_t without_level_length;
} Destination;

static int
copy_template(PyObject *bytes, uint8_t *into, Py_ssize_t *length)
{
    char *data;
    Py_ssize_t size;
    if (PyBytes_AsStringAndSize(bytes, &data, &size) < 0)
        return -1;
    if (size < 12 || size > TEMPLATE_BYTES) {
        PyErr_SetString(PyExc_ValueError, "an RTP header template is 12 to 64 bytes");
        return -1;
    }
    memcpy(into, data, (size_t)size);
    *length = size;
    return 0;
}

static int
parse_address(PyObject *address, struct sockaddr_storage *into, socklen_t *length)
{
    const char *host;
    int port;
    if (!PyArg_ParseTuple(address, "si", &host, &port))
        return -1;
    if (port < 0 || port > 65535) {
        PyErr_SetString(PyExc_ValueError, "port out of range");
        return -1;
    }
    memset(into, 0, sizeof(*into));
    struct sockaddr_in *v4 = (struct sockaddr_in *)into;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *length = sizeof(*v4);
        return 0;
    }
    /* IPv6, possibly with a zone ("fe80::1%eth0", as recvfrom reports link-local peers). */
    char text[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
    if (strlen(host) >= sizeof(text)) {
        PyErr_Format(PyExc_ValueError, "not an IP address: %.80s", host);
        return -1;
    }
    strcpy(text, host);
    unsigned int scope = 0;
    char *zone = strchr(text, '%');
    if (zone != NULL) {
        *zone++ = '\0';
        char *end;
        unsigned long number = strtoul(zone, &end, 10);
        scope = (*zone != '\0' && *end == '\0') ? (unsigned int)number : if_nametoindex(zone);
        if (scope == 0) {
            PyErr_Format(PyExc_ValueError, "unknown IPv6 zone: %.80s", host);
            return -1;
        }
    }
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)into;
    if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        v6->sin6_scope_id = scope;
        *length = sizeof(*v6);
        return 0;
    }
    PyErr_Format(PyExc_ValueError, "not an IP address: %.80s", host);
    return -1;
}

static int
Destination_init(Destination *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"fd", "address", "session", "srtp", "protect",
                               "with_level", "level_offset", "without_level", NULL};
    int fd;
    PyObject *address, *session, *with_level, *without_level;
    unsigned long long srtp, protect;
    Py_ssize_t level_offset;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "iOOKKSnS", keywords, &fd, &address,
                                     &session, &srtp, &protect, &with_level, &level_offset,
                                     &without_level))
        return -1;
    if (srtp == 0 || protect == 0) {
        PyErr_SetString(PyExc_ValueError, "srtp and protect must be addresses");
        return -1;
    }
    if (parse_address(address, &self->address, &self->address_length) < 0)
        return -1;
    if (copy_template(with_level, self->with_level, &self->with_level_length) < 0 ||
        copy_template(without_level, self->without_level, &self->without_level_length) < 0)
        return -1;
    if (level_offset != -1 && (level_offset < 12 || level_offset >= self->with_level_length)) {
        PyErr_SetString(PyExc_ValueError, "level_offset must fall inside with_level, or be -1");
        return -1;
    }
    self->fd = fd;
    self->level_offset = level_offset;
    self->srtp = (void *)(uintptr_t)srtp;
    self->protect = (srtp_protect_fn)(uintptr_t)protect;
    Py_INCREF(session);
    Py_XSETREF(self->session, session);
    return 0;
}

static void
Destination_dealloc(Destination *self)
{
    Py_XDECREF(self->session);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject DestinationType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "sfu._rtp_batch.RtpDestination",
    .tp_doc = PyDoc_STR("Where one outgoing stream's datagrams go: socket, address, SRTP "
                        "session and header templates."),
    .tp_basicsize = sizeof(Destination),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Destination_init,
    .tp_dealloc = (destructor)Destination_dealloc,
};

typedef struct {
    PyObject_HEAD
    Py_ssize_t capacity;
    Py_ssize_t count;
    uint8_t *buffers; /* capacity × DATAGRAM_BYTES */
    struct iovec *vectors;
    struct mmsghdr *messages;
    struct sockaddr_storage *addresses;
    int *fds;
    unsigned long long sent;
    unsigned long long failed;
} Batch;

static Py_ssize_t
send_all(Batch *self)
{
    Py_ssize_t first = 0, sent = 0;
    if (self->buffers == NULL)
        return 0; /* never initialised: nothing can be pending */
    while (first < self->count) {
        int fd = self->fds[first];
        Py_ssize_t end = first + 1;
        while (end < self->count && self->fds[end] == fd && end - first < SEND_CHUNK)
            end++;
        while (first < end) {
            int taken = sendmmsg(fd, self->messages + first, (unsigned int)(end - first),
                                 MSG_DONTWAIT);
            if (taken < 0) {
                if (errno == EINTR)
                    continue;
                /* The first datagram was refused: skip it, try the rest. */
                self->failed++;
                first++;
                continue;
            }
            sent += taken;
            first += taken;
        }
    }
    self->count = 0;
    self->sent += (unsigned long long)sent;
    return sent;
}

static PyObject *
Batch_add(Batch *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError,
                        "add(destination, sequence_number, timestamp, marker, payload, level)");
        return NULL;
    }
    if (!PyObject_TypeCheck(args[0], &DestinationType)) {
        PyErr_SetString(PyExc_TypeError, "destination must be an RtpDestination");
        return NULL;
    }
    Destination *destination = (Destination *)args[0];
    if (self->buffers == NULL || destination->protect == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "RtpBatch or RtpDestination used uninitialised");
        return NULL;
    }
    unsigned long sequence = PyLong_AsUnsignedLong(args[1]);
    unsigned long timestamp = PyLong_AsUnsignedLong(args[2]);
    int marker = PyObject_IsTrue(args[3]);
    long level = PyLong_AsLong(args[5]);
    if (PyErr_Occurred() || marker < 0)
        return NULL;
    if (!PyBytes_Check(args[4])) {
        PyErr_SetString(PyExc_TypeError, "payload must be bytes");
        return NULL;
    }
    Py_ssize_t payload_length = PyBytes_GET_SIZE(args[4]);
    const uint8_t *template = level >= 0 ? destination->with_level : destination->without_level;
    Py_ssize_t header_length =
        level >= 0 ? destination->with_level_length : destination->without_level_length;
    Py_ssize_t length = header_length + payload_length;
    if (length > DATAGRAM_BYTES - SRTP_TRAILER_ROOM)
        return PyLong_FromLong(0);
    if (self->count == self->capacity)
        send_all(self);

    Py_ssize_t index = self->count;
    uint8_t *packet = self->buffers + index * DATAGRAM_BYTES;
    memcpy(packet, template, (size_t)header_length);
    packet[1] = (uint8_t)((template[1] & 0x7F) | (marker ? 0x80 : 0));
    packet[2] = (uint8_t)(sequence >> 8);
    packet[3] = (uint8_t)sequence;
    packet[4] = (uint8_t)(timestamp >> 24);
    packet[5] = (uint8_t)(timestamp >> 16);
    packet[6] = (uint8_t)(timestamp >> 8);
    packet[7] = (uint8_t)timestamp;
    if (level >= 0 && destination->level_offset >= 0)
        packet[destination->level_offset] = (uint8_t)level;
    memcpy(packet + header_length, PyBytes_AS_STRING(args[4]), (size_t)payload_length);
    int protected_length = (int)length;
    if (destination->protect(destination->srtp, packet, &protected_length) != 0)
        return PyLong_FromLong(0);

    self->vectors[index].iov_base = packet;
    self->vectors[index].iov_len = (size_t)protected_length;
    memcpy(&self->addresses[index], &destination->address, destination->address_length);
    struct msghdr *header = &self->messages[index].msg_hdr;
    header->msg_name = &self->addresses[index];
    header->msg_namelen = destination->address_length;
    header->msg_iov = &self->vectors[index];
    header->msg_iovlen = 1;
    header->msg_control = NULL;
    header->msg_controllen = 0;
    header->msg_flags = 0;
    self->fds[index] = destination->fd;
    self->count = index + 1;
    return PyLong_FromLong(protected_length);
}

static PyObject *
Batch_flush(Batch *self, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromSsize_t(send_all(self));
}

static int
Batch_init(Batch *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"capacity", NULL};
    Py_ssize_t capacity = SEND_CHUNK;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|n", keywords, &capacity))
        return -1;
    if (capacity < 1 || capacity > 65536) {
        PyErr_SetString(PyExc_ValueError, "capacity must be 1..65536");
        return -1;
    }
    if (self->buffers != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "already initialised");
        return -1;
    }
    self->capacity = capacity;
    self->count = 0;
    self->buffers = PyMem_Calloc((size_t)capacity, DATAGRAM_BYTES);
    self->vectors = PyMem_Calloc((size_t)capacity, sizeof(struct iovec));
    self->messages = PyMem_Calloc((size_t)capacity, sizeof(struct mmsghdr));
    self->addresses = PyMem_Calloc((size_t)capacity, sizeof(struct sockaddr_storage));
    self->fds = PyMem_Calloc((size_t)capacity, sizeof(int));
    if (!self->buffers || !self->vectors || !self->messages || !self->addresses || !self->fds) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static void
Batch_dealloc(Batch *self)
{
    PyMem_Free(self->buffers);
    PyMem_Free(self->vectors);
    PyMem_Free(self->messages);
    PyMem_Free(self->addresses);
    PyMem_Free(self->fds);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
Batch_get_pending(Batch *self, void *Py_UNUSED(closure))
{
    return PyLong_FromSsize_t(self->count);
}

static PyObject *
Batch_get_sent(Batch *self, void *Py_UNUSED(closure))
{
    return PyLong_FromUnsignedLongLong(self->sent);
}

static PyObject *
Batch_get_failed(Batch *self, void *Py_UNUSED(closure))
{
    return PyLong_FromUnsignedLongLong(self->failed);
}

static PyMethodDef Batch_methods[] = {
    {"add", (PyCFunction)(void (*)(void))Batch_add, METH_FASTCALL,
     PyDoc_STR("add(destination, sequence_number, timestamp, marker, payload, level) -> int\n"
               "Protect one datagram into the batch; its length on the wire, 0 if dropped.")},
    {"flush", (PyCFunction)Batch_flush, METH_NOARGS,
     PyDoc_STR("flush() -> int: send every pending datagram; how many the kernel took.")},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Batch_getset[] = {
    {"pending", (getter)Batch_get_pending, NULL, PyDoc_STR("datagrams waiting for flush"), NULL},
    {"sent", (getter)Batch_get_sent, NULL, PyDoc_STR("datagrams the kernel took, ever"), NULL},
    {"failed", (getter)Batch_get_failed, NULL, PyDoc_STR("datagrams refused, ever"), NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject BatchType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "sfu._rtp_batch.RtpBatch",
    .tp_doc = PyDoc_STR("Datagrams protected in place and sent with one sendmmsg per socket."),
    .tp_basicsize = sizeof(Batch),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Batch_init,
    .tp_dealloc = (destructor)Batch_dealloc,
    .tp_methods = Batch_methods,
    .tp_getset = Batch_getset,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "sfu._rtp_batch",
    .m_doc = PyDoc_STR("Native twin of sfu.rtp_batch: see that module."),
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__rtp_batch(void)
{
    if (PyType_Ready(&DestinationType) < 0 || PyType_Ready(&BatchType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "RtpDestination", (PyObject *)&DestinationType) < 0 ||
        PyModule_AddObjectRef(m, "RtpBatch", (PyObject *)&BatchType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
