/* The Streamable HTTP transport (MCP 2025-03-26 .. 2025-11-25) on
 * libmicrohttpd: one endpoint, /mcp.
 *
 * POST carries one message (or, for protocol 2025-03-26, a batch).
 * Notifications and responses get 202; a request gets one JSON body, or an
 * SSE stream ("event: message" events, then the stream ends) when the
 * server runs with sse_replies, when the request asks for progress
 * (params._meta.progressToken), or when it is a tools/call in a session that
 * asked for log messages - so what the call emits reaches the client,
 * before the response. DELETE ends a session. GET answers 405: this server
 * never sends a message that is not part of the answer to a request (its
 * tool list is fixed, it has no subscriptions and sends no requests), so a
 * standalone stream would only hold a connection and a thread open.
 *
 * Threads: libmicrohttpd runs one thread per connection, so a ping or a
 * notifications/cancelled sent on a second connection is answered while a
 * tools/call blocks the first (the core runs tool calls one at a time). A
 * request answered as JSON runs in its connection's thread; one answered
 * as SSE runs in a worker thread that feeds the stream as it goes.
 *
 * Sessions live in a table under g.lock, reference-counted: every request
 * that uses a session holds a reference, so neither DELETE nor eviction
 * frees one in use. The table is capped (MCP_HTTP_MAX_SESSIONS); when it is
 * full, the session idle longest makes room.
 *
 * Stopping (SIGINT, SIGTERM, mcp_http_stop()): new requests get 503, every
 * request in flight is cancelled through the core (which interrupts the
 * running query), open streams end, then the daemon stops. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "mcp.h"

enum {
    HTTP_MAX_CONNECTIONS = 512, /* each is a thread */
    HTTP_IDLE_TIMEOUT_S = 120,  /* an idle or stalled connection is closed */
    SSE_KEEPALIVE_S = 15,       /* a comment line this often on a quiet stream */
    SSE_BLOCK = 16 * 1024,      /* bytes handed to libmicrohttpd at most per read */
};
/* Notifications queued on a stream whose client does not read beyond this
 * are dropped rather than held in memory. */
#define SSE_MAX_BACKLOG ((size_t)16 << 20)

static const char ALLOW[] = "POST, DELETE, OPTIONS";

typedef struct http_session {
    mcp_session core;
    int refs;           /* the table's, plus one per request using it */
    uint64_t last_used; /* time_now_ns() of its last request */
} http_session;

/* A message whose requests are being handled, so that stopping the server
 * or ending the session can cancel them. */
typedef struct flight {
    http_session *sess;
    json_t *ids; /* the ids of the requests in the message */
    struct flight *next;
} flight;

/* One SSE reply being streamed: the worker appends events to out, the
 * connection's thread hands them to libmicrohttpd. Guarded by g.lock. */
typedef struct sse_stream {
    buf_t out;
    size_t off;   /* bytes of out already handed over */
    int finished; /* the worker is done: end once out is drained */
    int gone;     /* libmicrohttpd dropped the response (client left) */
    int refs;     /* the worker's and the response's */
    http_session *sess;
    json_t *msg;
    flight *fl;
} sse_stream;

/* Per HTTP request (libmicrohttpd's con_cls). */
typedef struct http_req {
    buf_t body;
    int post;         /* a POST whose body is being read */
    int too_large;    /* its body passed MCP_MAX_MESSAGE */
    int answered;     /* a response is queued */
    int long_running; /* the idle timeout is off while it is handled */
    char *origin;     /* an accepted Origin, echoed for CORS */
    char session_id[64];
} http_req;

/* One server per process: mcp_http_stop() takes no handle. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* flights, workers or streams changed */
    int running, stopping;
    int wake_fd[2]; /* a byte here ends the serve loop */
    mcp_server *server;
    char host[256];
    const char *token;
    const char *const *origins;
    int sse_replies;
    http_session *sessions[MCP_HTTP_MAX_SESSIONS];
    size_t nsessions;
    flight *flights;
    int workers;
} g = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER, .wake_fd = {-1, -1}};

static volatile sig_atomic_t g_signal_fd = -1;

static void lock(void)
{
    pthread_mutex_lock(&g.lock);
}

static void unlock(void)
{
    pthread_mutex_unlock(&g.lock);
}

/* Waits on g.cond for at most ms; g.lock held. Returns ETIMEDOUT or 0. */
static int cond_wait_ms(long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return pthread_cond_timedwait(&g.cond, &g.lock, &ts);
}

/* ---- small text helpers ---- */

/* 1 if a equals b, in time that depends on their lengths only (tokens and
 * session ids are secrets). */
static int ct_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), n = la > lb ? la : lb;
    unsigned diff = la != lb;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned)((unsigned char)(i < la ? a[i] : 0) ^ (unsigned char)(i < lb ? b[i] : 0));
    return diff == 0;
}

/* Client text quoted in a message or a log line: printable ASCII only, at
 * most max bytes (a header may hold anything, and JSON needs UTF-8). */
static void put_quoted(buf_t *b, const char *s, size_t max)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n && i < max; i++)
        buf_putc(b, s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?');
    if (n > max)
        buf_puts(b, "...");
}

static int is_space(char ch)
{
    return ch == ' ' || ch == '\t';
}

static int token_is(const char *p, size_t n, const char *s)
{
    return strlen(s) == n && strncasecmp(p, s, n) == 0;
}

/* Splits an authority ("name", "name:port", "[v6]", "[v6]:port") of n
 * bytes and copies the host name, brackets dropped. 0 on success. */
static int authority_host(const char *a, size_t n, char *name, size_t cap)
{
    const char *end = a + n, *h = a, *he, *rest;
    if (n && a[0] == '[') {
        const char *rb = memchr(a, ']', n);
        if (!rb)
            return -1;
        h = a + 1;
        he = rb;
        rest = rb + 1;
    } else {
        const char *colon = memchr(a, ':', n);
        if (colon && memchr(colon + 1, ':', (size_t)(end - colon - 1)))
            return -1; /* an IPv6 address must be in brackets */
        he = colon ? colon : end;
        rest = he;
    }
    if (rest < end) { /* ":" and a port of 1 to 5 digits */
        if (*rest != ':' || end - rest < 2 || end - rest > 6)
            return -1;
        for (const char *p = rest + 1; p < end; p++)
            if (*p < '0' || *p > '9')
                return -1;
    }
    size_t hn = (size_t)(he - h);
    if (hn == 0 || hn >= cap)
        return -1;
    memcpy(name, h, hn);
    name[hn] = 0;
    return 0;
}

static int is_loopback_name(const char *name)
{
    return strcasecmp(name, "localhost") == 0 || strcmp(name, "127.0.0.1") == 0 ||
           strcmp(name, "::1") == 0;
}

static int is_ip_literal(const char *name)
{
    unsigned char a[16];
    return inet_pton(AF_INET, name, a) == 1 || inet_pton(AF_INET6, name, a) == 1;
}

/* DNS-rebinding protection: a browser sends the name of the page's site
 * as Host, so a name other than ours means a page elsewhere reaches us
 * through a name that now points here. */
static int host_allowed(const char *host)
{
    char name[256];
    if (!host)
        return 1; /* HTTP/1.0 without Host: not a browser */
    if (authority_host(host, strlen(host), name, sizeof name) != 0)
        return 0;
    if (is_loopback_name(name) || strcasecmp(name, g.host) == 0)
        return 1;
    /* Bound to every interface, the server is reached by whatever address
     * a client uses; an address literal is no rebound name. */
    if ((strcmp(g.host, "0.0.0.0") == 0 || strcmp(g.host, "::") == 0) && is_ip_literal(name))
        return 1;
    return 0;
}

/* http or https on localhost, 127.0.0.1 or [::1], any port. */
static int origin_is_local(const char *o)
{
    const char *rest;
    if (strncasecmp(o, "http://", 7) == 0)
        rest = o + 7;
    else if (strncasecmp(o, "https://", 8) == 0)
        rest = o + 8;
    else
        return 0;
    size_t n = strlen(rest);
    if (n && rest[n - 1] == '/')
        n--;
    char name[256];
    return authority_host(rest, n, name, sizeof name) == 0 && is_loopback_name(name);
}

static size_t len_without_slash(const char *s)
{
    size_t n = strlen(s);
    return n && s[n - 1] == '/' ? n - 1 : n;
}

/* A local origin, or one the user allowed (--allow-origin), compared
 * without case and without a trailing slash. */
static int origin_allowed(const char *o)
{
    if (origin_is_local(o))
        return 1;
    size_t n = len_without_slash(o);
    for (const char *const *a = g.origins; a && *a; a++)
        if (len_without_slash(*a) == n && strncasecmp(*a, o, n) == 0)
            return 1;
    return 0;
}

enum { ACCEPT_JSON = 1, ACCEPT_SSE = 2 };

/* 1 if the parameters of a media range (p..end, starting at ';') hold
 * q=0, which makes the range refuse its types. */
static int q_is_zero(const char *p, const char *end)
{
    while (p < end) {
        p++; /* ';' */
        while (p < end && is_space(*p))
            p++;
        const char *pe = memchr(p, ';', (size_t)(end - p));
        if (!pe)
            pe = end;
        if (pe - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
            const char *v = p + 2;
            if (v == pe || *v != '0')
                return 0;
            for (v++; v < pe && !is_space(*v); v++)
                if (*v != '.' && *v != '0')
                    return 0;
            return 1;
        }
        p = pe;
    }
    return 0;
}

/* Adds to *flags what one Accept value admits. Wildcard ranges admit
 * what they cover: a client that accepts any type accepts both. */
static void accept_scan(const char *v, int *flags)
{
    while (*v) {
        size_t n = strcspn(v, ",");
        const char *item = v, *end = v + n;
        v = *end ? end + 1 : end;
        while (item < end && is_space(*item))
            item++;
        const char *semi = memchr(item, ';', (size_t)(end - item));
        const char *te = semi ? semi : end;
        while (te > item && is_space(te[-1]))
            te--;
        if (semi && q_is_zero(semi, end))
            continue;
        size_t tn = (size_t)(te - item);
        if (token_is(item, tn, "*/*"))
            *flags |= ACCEPT_JSON | ACCEPT_SSE;
        else if (token_is(item, tn, "application/json") || token_is(item, tn, "application/*"))
            *flags |= ACCEPT_JSON;
        else if (token_is(item, tn, "text/event-stream") || token_is(item, tn, "text/*"))
            *flags |= ACCEPT_SSE;
    }
}

static enum MHD_Result accept_iter(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    if (value && strcasecmp(key, "Accept") == 0)
        accept_scan(value, cls);
    return MHD_YES;
}

/* The media type of Content-Type is application/json (parameters such as
 * charset=utf-8 allowed). */
static int is_json_type(const char *ct)
{
    if (!ct)
        return 0;
    while (is_space(*ct))
        ct++;
    size_t n = strcspn(ct, ";");
    while (n && is_space(ct[n - 1]))
        n--;
    return token_is(ct, n, "application/json");
}

static int auth_ok(const char *h)
{
    if (!g.token)
        return 1;
    if (!h || strncasecmp(h, "Bearer", 6) != 0 || !is_space(h[6]))
        return 0;
    h += 6;
    while (is_space(*h))
        h++;
    size_t n = strlen(h);
    while (n && is_space(h[n - 1]))
        n--;
    char *given = xstrndup(h, n);
    int ok = ct_equal(given, g.token);
    free(given);
    return ok;
}

static const char *header(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* ---- sessions ---- */

/* Puts s in the table, which holds one reference. When the table is full
 * the session idle longest (no request using it) makes room; -1 when every
 * session is busy. */
static int session_add(http_session *s)
{
    http_session *evicted = NULL;
    lock();
    if (g.nsessions == MCP_HTTP_MAX_SESSIONS) {
        size_t pick = g.nsessions;
        for (size_t i = 0; i < g.nsessions; i++)
            if (g.sessions[i]->refs == 1 &&
                (pick == g.nsessions || g.sessions[i]->last_used < g.sessions[pick]->last_used))
                pick = i;
        if (pick == g.nsessions) {
            unlock();
            return -1;
        }
        evicted = g.sessions[pick];
        g.sessions[pick] = g.sessions[--g.nsessions];
    }
    s->refs = 1;
    s->last_used = time_now_ns();
    g.sessions[g.nsessions++] = s;
    unlock();
    if (evicted) {
        log_debug("session %s evicted to make room for a new one", evicted->core.id);
        free(evicted); /* it had only the table's reference */
    }
    return 0;
}

/* The session in the table with this id, with a reference for the caller. */
static http_session *session_acquire(const char *id)
{
    http_session *found = NULL;
    lock();
    for (size_t i = 0; i < g.nsessions && !found; i++)
        if (ct_equal(g.sessions[i]->core.id, id))
            found = g.sessions[i];
    if (found) {
        found->refs++;
        found->last_used = time_now_ns();
    }
    unlock();
    return found;
}

static void session_release(http_session *s)
{
    lock();
    int last = --s->refs == 0;
    unlock();
    if (last)
        free(s);
}

static void cancel_flights(http_session *only, const char *reason);

/* Ends the session with this id (DELETE): takes it out of the table and
 * cancels its requests in flight. -1 if there is no such session. */
static int session_end(const char *id)
{
    http_session *s = NULL;
    lock();
    for (size_t i = 0; i < g.nsessions; i++)
        if (ct_equal(g.sessions[i]->core.id, id)) {
            s = g.sessions[i];
            g.sessions[i] = g.sessions[--g.nsessions];
            break;
        }
    unlock();
    if (!s)
        return -1;
    /* The table's reference is now ours. */
    cancel_flights(s, "session ended");
    session_release(s);
    return 0;
}

/* ---- requests in flight ---- */

/* Registers the requests of a message; NULL once the server is stopping. */
static flight *flight_begin(http_session *s, json_t *ids)
{
    lock();
    if (g.stopping) {
        unlock();
        return NULL;
    }
    flight *f = xcalloc(1, sizeof *f);
    f->sess = s;
    f->ids = json_deep_copy(ids); /* private: jansson's reference counts
                                     are not for sharing across threads */
    f->next = g.flights;
    g.flights = f;
    unlock();
    return f;
}

static void flight_end(flight *f)
{
    lock();
    for (flight **p = &g.flights; *p; p = &(*p)->next)
        if (*p == f) {
            *p = f->next;
            break;
        }
    pthread_cond_broadcast(&g.cond);
    unlock();
    json_decref(f->ids);
    free(f);
}

/* Hands the core a notifications/cancelled for every request in flight
 * (of one session, or all when only is NULL), as a client would. */
static void cancel_flights(http_session *only, const char *reason)
{
    typedef struct {
        http_session *s;
        json_t *ids;
    } victim;
    lock();
    size_t n = 0, k = 0;
    for (flight *f = g.flights; f; f = f->next)
        n += !only || f->sess == only;
    victim *v = n ? xcalloc(n, sizeof *v) : NULL;
    for (flight *f = g.flights; f; f = f->next)
        if (!only || f->sess == only) {
            v[k].s = f->sess;
            v[k].s->refs++;
            v[k].ids = json_deep_copy(f->ids);
            k++;
        }
    unlock();
    for (size_t i = 0; i < k; i++) {
        for (size_t j = 0; j < json_array_size(v[i].ids); j++) {
            json_t *id = json_array_get(v[i].ids, j);
            json_t *m = mcp_notification("notifications/cancelled",
                                         json_pack("{s:O, s:s}", "requestId", id, "reason", reason));
            json_decref(mcp_server_handle(g.server, &v[i].s->core, m, NULL));
            json_decref(m);
        }
        json_decref(v[i].ids);
        session_release(v[i].s);
    }
    free(v);
}

/* ---- answers ---- */

/* The session a request belongs to, and CORS for an accepted browser
 * origin (so a page can read Mcp-Session-Id). */
static void add_common_headers(struct MHD_Response *resp, const http_req *r)
{
    if (r->session_id[0])
        MHD_add_response_header(resp, "Mcp-Session-Id", r->session_id);
    if (r->origin) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", r->origin);
        MHD_add_response_header(resp, "Access-Control-Expose-Headers",
                                "Mcp-Session-Id, WWW-Authenticate");
        MHD_add_response_header(resp, "Vary", "Origin");
    }
}

static enum MHD_Result respond(struct MHD_Connection *c, http_req *r, unsigned status,
                               const char *ctype, char *body, size_t len,
                               const char *const *extra)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, body, body ? MHD_RESPMEM_MUST_FREE
                                                        : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    if (ctype)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (ctype && strcmp(ctype, "text/event-stream") == 0)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    for (; extra && extra[0]; extra += 2)
        MHD_add_response_header(resp, extra[0], extra[1]);
    add_common_headers(resp, r);
    enum MHD_Result ok = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    r->answered = 1;
    return ok;
}

/* One JSON-RPC message (steals msg) as an application/json body. */
static enum MHD_Result respond_json_with(struct MHD_Connection *c, http_req *r, unsigned status,
                                         json_t *msg, const char *const *extra)
{
    char *body = mcp_dump(msg);
    json_decref(msg);
    return respond(c, r, status, "application/json", body, strlen(body), extra);
}

static enum MHD_Result respond_json(struct MHD_Connection *c, http_req *r, unsigned status,
                                    json_t *msg)
{
    return respond_json_with(c, r, status, msg, NULL);
}

/* A transport error: HTTP status plus a JSON-RPC error without an id. */
static enum MHD_Result respond_error(struct MHD_Connection *c, http_req *r, unsigned status,
                                     int code, const char *message, const char *const *extra)
{
    log_debug("HTTP %u: %s", status, message);
    return respond_json_with(c, r, status, mcp_error_reply(NULL, code, message, NULL), extra);
}

static enum MHD_Result respond_bad_version(struct MHD_Connection *c, http_req *r, const char *v)
{
    buf_t m;
    buf_init(&m);
    buf_puts(&m, "Bad Request: unsupported MCP-Protocol-Version '");
    put_quoted(&m, v, 40);
    buf_puts(&m, "' (supported:");
    for (size_t i = 0; i < mcp_protocol_nversions; i++)
        buf_printf(&m, "%s %s", i ? "," : "", mcp_protocol_versions[i]);
    buf_puts(&m, ")");
    enum MHD_Result rc = respond_error(c, r, 400, -32000, m.data, NULL);
    buf_free(&m);
    return rc;
}

static void sse_put_line(buf_t *b, const char *line)
{
    buf_puts(b, "event: message\ndata: ");
    buf_puts(b, line);
    buf_puts(b, "\n\n");
}

/* A reply as SSE events, one per message (a batch reply is one event per
 * response: clients parse each event as a single message). */
static void sse_put(buf_t *b, const json_t *msg)
{
    if (json_is_array(msg)) {
        for (size_t i = 0; i < json_array_size(msg); i++)
            sse_put(b, json_array_get(msg, i));
        return;
    }
    char *line = mcp_dump(msg);
    sse_put_line(b, line);
    free(line);
}

/* The reply (stolen; NULL for none) as a whole SSE body. */
static enum MHD_Result respond_sse(struct MHD_Connection *c, http_req *r, json_t *reply)
{
    buf_t b;
    buf_init(&b);
    if (reply)
        sse_put(&b, reply);
    json_decref(reply);
    size_t len = b.len;
    return respond(c, r, 200, "text/event-stream", buf_take(&b), len, NULL);
}

/* ---- SSE replies streamed from a worker ---- */

static void sse_unref(sse_stream *st)
{
    lock();
    int last = --st->refs == 0;
    unlock();
    if (last) {
        buf_free(&st->out);
        free(st);
    }
}

/* libmicrohttpd asks for the next bytes; in thread-per-connection mode this
 * may block, and it does until the worker has something to send. */
static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    static const char keepalive[] = ": keep-alive\n\n";
    sse_stream *st = cls;
    (void)pos;
    lock();
    while (st->off == st->out.len && !st->finished && !g.stopping) {
        /* A comment now and then shows proxies the stream is alive, and
         * us a client that left (the write fails). */
        if (cond_wait_ms(SSE_KEEPALIVE_S * 1000L) == ETIMEDOUT && st->off == st->out.len &&
            !st->finished && !g.stopping && max >= sizeof keepalive - 1) {
            unlock();
            memcpy(buf, keepalive, sizeof keepalive - 1);
            return (ssize_t)(sizeof keepalive - 1);
        }
    }
    ssize_t n = MHD_CONTENT_READER_END_OF_STREAM;
    if (st->off < st->out.len) {
        size_t take = st->out.len - st->off < max ? st->out.len - st->off : max;
        memcpy(buf, st->out.data + st->off, take);
        st->off += take;
        if (st->off == st->out.len) {
            buf_reset(&st->out);
            st->off = 0;
        }
        n = (ssize_t)take;
    }
    unlock();
    return n;
}

static void sse_free(void *cls)
{
    sse_stream *st = cls;
    lock();
    st->gone = 1;
    unlock();
    sse_unref(st);
}

/* The emitter of a streamed request: notifications go out at once. */
static void sse_emit(void *ctx, const char *line)
{
    sse_stream *st = ctx;
    lock();
    if (!st->gone) {
        if (st->out.len - st->off > SSE_MAX_BACKLOG)
            log_warn("a client does not read its SSE stream; a notification was dropped");
        else
            sse_put_line(&st->out, line);
        pthread_cond_broadcast(&g.cond);
    }
    unlock();
}

static void sse_run(sse_stream *st)
{
    mcp_emitter em = {sse_emit, st};
    json_t *reply = mcp_server_handle(g.server, &st->sess->core, st->msg, &em);
    flight_end(st->fl);
    buf_t tail;
    buf_init(&tail);
    if (reply)
        sse_put(&tail, reply); /* none when the request was cancelled */
    json_decref(reply);
    lock();
    if (!st->gone)
        buf_append(&st->out, tail.data ? tail.data : "", tail.len);
    st->finished = 1;
    pthread_cond_broadcast(&g.cond);
    unlock();
    buf_free(&tail);
    json_decref(st->msg);
    session_release(st->sess);
    sse_unref(st);
}

static void *sse_worker(void *arg)
{
    sse_run(arg);
    lock();
    g.workers--;
    pthread_cond_broadcast(&g.cond);
    unlock();
    return NULL;
}

/* Answers *msgp with an SSE stream fed by a worker thread. Takes the
 * session reference and the message (*msgp becomes NULL). */
static enum MHD_Result start_stream(struct MHD_Connection *c, http_req *r, http_session *s,
                                    json_t **msgp, json_t *ids)
{
    flight *f = flight_begin(s, ids);
    if (!f) {
        session_release(s);
        return respond_error(c, r, 503, -32000, "Service Unavailable: the server is stopping",
                             NULL);
    }
    sse_stream *st = xcalloc(1, sizeof *st);
    buf_init(&st->out);
    st->refs = 2;
    st->sess = s;
    st->msg = *msgp;
    *msgp = NULL;
    st->fl = f;
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, SSE_BLOCK, sse_read, st, sse_free);
    if (!resp) {
        flight_end(f);
        json_decref(st->msg);
        session_release(s);
        free(st);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    add_common_headers(resp, r);
    enum MHD_Result ok = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp); /* the connection keeps it (and st) alive */
    r->answered = 1;

    lock();
    g.workers++;
    unlock();
    pthread_attr_t attr;
    pthread_t t;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int err = pthread_create(&t, &attr, sse_worker, st);
    pthread_attr_destroy(&attr);
    if (err != 0) {
        /* No thread to spare: handle it here; the events then go out
         * together once it is done. */
        log_warn("cannot start a worker thread (%s); answering without streaming",
                 strerror(err));
        sse_worker(st);
    }
    return ok;
}

/* ---- POST ---- */

static int is_initialize(json_t *m)
{
    const char *method = json_string_value(json_object_get(m, "method"));
    return json_is_object(m) && method && strcmp(method, "initialize") == 0 &&
           json_object_get(m, "id");
}

/* The messages of msg: itself, or the members of a batch. */
static size_t nmessages(json_t *msg)
{
    return json_is_array(msg) ? json_array_size(msg) : 1;
}

static json_t *message_at(json_t *msg, size_t i)
{
    return json_is_array(msg) ? json_array_get(msg, i) : msg;
}

/* The ids of the requests (members with a method and an id) in msg, as
 * copies: msg may move to a worker thread, and jansson's reference counts
 * are not for sharing across threads. */
static json_t *request_ids(json_t *msg)
{
    json_t *ids = json_array();
    for (size_t i = 0; i < nmessages(msg); i++) {
        json_t *m = message_at(msg, i);
        if (json_is_object(m) && json_is_string(json_object_get(m, "method")) &&
            json_object_get(m, "id"))
            json_array_append_new(ids, json_deep_copy(json_object_get(m, "id")));
    }
    return ids;
}

/* SSE when the server always streams, when a request asks for progress,
 * or when a tools/call may log to a session that asked for log messages. */
static int wants_sse(json_t *msg, const http_session *s)
{
    if (g.sse_replies)
        return 1;
    for (size_t i = 0; i < nmessages(msg); i++) {
        json_t *m = message_at(msg, i);
        json_t *token = json_object_get(json_object_get(json_object_get(m, "params"), "_meta"),
                                        "progressToken");
        const char *method = json_string_value(json_object_get(m, "method"));
        if (token && !json_is_null(token))
            return 1;
        if (s && s->core.log_level < 8 && method && strcmp(method, "tools/call") == 0)
            return 1;
    }
    return 0;
}

static enum MHD_Result handle_initialize(struct MHD_Connection *c, http_req *r, json_t *msg)
{
    http_session *s = xcalloc(1, sizeof *s);
    mcp_session_init(&s->core);
    json_t *reply = mcp_server_handle(g.server, &s->core, msg, NULL);
    if (!reply) { /* an initialize request always gets an answer */
        free(s);
        return respond_error(c, r, 500, MCP_INTERNAL_ERROR, "Internal error", NULL);
    }
    if (json_object_get(reply, "result")) {
        unsigned char raw[16]; /* 128 bits, as hex: visible ASCII */
        if (random_bytes(raw, sizeof raw) != 0) {
            free(s);
            json_decref(reply);
            return respond_error(c, r, 500, MCP_INTERNAL_ERROR,
                                 "Internal error: no random bytes for a session id", NULL);
        }
        for (size_t i = 0; i < sizeof raw; i++)
            snprintf(s->core.id + 2 * i, 3, "%02x", raw[i]);
        snprintf(r->session_id, sizeof r->session_id, "%s", s->core.id);
        if (session_add(s) != 0) {
            free(s);
            json_decref(reply);
            r->session_id[0] = 0;
            return respond_error(c, r, 503, -32000,
                                 "Service Unavailable: every session is busy; try again later",
                                 NULL);
        }
    } else {
        free(s); /* refused (bad protocol version ...): no session */
    }
    if (wants_sse(msg, NULL))
        return respond_sse(c, r, reply);
    return respond_json(c, r, 200, reply);
}

/* A message of an established session; takes the reference to s, and may
 * take the message (then *msgp becomes NULL). */
static enum MHD_Result handle_in_session(struct MHD_Connection *c, http_req *r, json_t **msgp,
                                         http_session *s, const char *version)
{
    json_t *msg = *msgp;
    if (json_is_array(msg)) {
        /* Batches were dropped from the protocol in 2025-06-18. */
        const char *v = version ? version : s->core.protocol_version;
        if (strcmp(v, "2025-06-18") >= 0) {
            char m[160];
            snprintf(m, sizeof m,
                     "Invalid Request: JSON-RPC batches are not part of protocol version %s; "
                     "send one message per POST", v);
            session_release(s);
            return respond_error(c, r, 400, MCP_INVALID_REQUEST, m, NULL);
        }
    }
    json_t *ids = request_ids(msg);
    if (json_array_size(ids) == 0) {
        /* Notifications and responses: 202, or 400 with the error for
         * what the server could not accept. */
        json_decref(ids);
        json_t *reply = mcp_server_handle(g.server, &s->core, msg, NULL);
        session_release(s);
        if (reply)
            return respond_json(c, r, 400, reply);
        return respond(c, r, 202, NULL, NULL, 0, NULL);
    }
    /* A query may run for long; libmicrohttpd would take the silence for
     * an idle connection. */
    MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
    r->long_running = 1;
    if (wants_sse(msg, s)) {
        enum MHD_Result rc = start_stream(c, r, s, msgp, ids);
        json_decref(ids);
        return rc;
    }
    flight *f = flight_begin(s, ids);
    json_decref(ids);
    if (!f) {
        session_release(s);
        return respond_error(c, r, 503, -32000, "Service Unavailable: the server is stopping",
                             NULL);
    }
    json_t *reply = mcp_server_handle(g.server, &s->core, msg, NULL);
    flight_end(f);
    session_release(s);
    if (!reply) /* cancelled: a stream that ends without a response */
        return respond_sse(c, r, NULL);
    return respond_json(c, r, 200, reply);
}

static enum MHD_Result finish_post(struct MHD_Connection *c, http_req *r)
{
    if (r->too_large) {
        char m[128];
        snprintf(m, sizeof m, "Payload Too Large: a message may have at most %u bytes",
                 MCP_MAX_MESSAGE);
        return respond_error(c, r, 413, MCP_INVALID_REQUEST, m, NULL);
    }
    json_t *perr;
    json_t *msg = mcp_parse(r->body.data ? r->body.data : "", r->body.len, &perr);
    buf_free(&r->body);
    if (!msg)
        return respond_json(c, r, 400, perr);

    enum MHD_Result rc;
    if (json_is_array(msg) && json_array_size(msg) == 0) {
        rc = respond_error(c, r, 400, MCP_INVALID_REQUEST, "Invalid Request: empty batch", NULL);
        json_decref(msg);
        return rc;
    }
    if (is_initialize(msg)) {
        rc = handle_initialize(c, r, msg);
        json_decref(msg);
        return rc;
    }
    for (size_t i = 0; json_is_array(msg) && i < json_array_size(msg); i++)
        if (is_initialize(json_array_get(msg, i))) {
            json_decref(msg);
            return respond_error(c, r, 400, MCP_INVALID_REQUEST,
                                 "Invalid Request: initialize must be sent alone, not in a batch",
                                 NULL);
        }

    const char *version = header(c, "MCP-Protocol-Version");
    const char *sid = header(c, "Mcp-Session-Id");
    http_session *s = NULL;
    if (version && !mcp_version_supported(version))
        rc = respond_bad_version(c, r, version);
    else if (!sid || !*sid)
        rc = respond_error(c, r, 400, -32000,
                           "Bad Request: Mcp-Session-Id header is required (send initialize "
                           "first)", NULL);
    else if (!(s = session_acquire(sid)))
        rc = respond_error(c, r, 404, -32001, "Session not found", NULL);
    else {
        snprintf(r->session_id, sizeof r->session_id, "%s", s->core.id);
        rc = handle_in_session(c, r, &msg, s, version);
    }
    json_decref(msg);
    return rc;
}

/* ---- the other methods ---- */

static enum MHD_Result handle_delete(struct MHD_Connection *c, http_req *r)
{
    const char *version = header(c, "MCP-Protocol-Version");
    const char *sid = header(c, "Mcp-Session-Id");
    if (version && !mcp_version_supported(version))
        return respond_bad_version(c, r, version);
    if (!sid || !*sid)
        return respond_error(c, r, 400, -32000, "Bad Request: Mcp-Session-Id header is required",
                             NULL);
    if (session_end(sid) != 0)
        return respond_error(c, r, 404, -32001, "Session not found", NULL);
    return respond(c, r, 204, NULL, NULL, 0, NULL);
}

/* CORS preflight of a browser client on an accepted origin. GET is
 * allowed here so that the browser shows the client our 405. */
static enum MHD_Result respond_preflight(struct MHD_Connection *c, http_req *r)
{
    static const char *const extra[] = {
        "Allow", ALLOW,
        "Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS",
        "Access-Control-Allow-Headers",
        "Content-Type, Accept, Authorization, Mcp-Session-Id, MCP-Protocol-Version, Last-Event-ID",
        "Access-Control-Max-Age", "600",
        NULL,
    };
    return respond(c, r, 204, NULL, NULL, 0, extra);
}

static enum MHD_Result refuse_forbidden(struct MHD_Connection *c, http_req *r, const char *what,
                                        const char *value)
{
    buf_t m;
    buf_init(&m);
    buf_printf(&m, "Forbidden: %s '", what);
    put_quoted(&m, value, 100);
    buf_puts(&m, "' is not allowed");
    log_warn("refused a request: %s%s", m.data + strlen("Forbidden: "),
             strcmp(what, "Origin") == 0 ? " (see --allow-origin)" : "");
    enum MHD_Result rc = respond_error(c, r, 403, -32000, m.data, NULL);
    buf_free(&m);
    return rc;
}

/* The first call for a request: headers only. Answers at once, or sets up
 * a POST whose body follows. */
static enum MHD_Result begin_request(struct MHD_Connection *c, http_req *r, const char *url,
                                     const char *method)
{
    static const char *const allow[] = {"Allow", ALLOW, NULL};
    /* The endpoint is /mcp; "/" answers too, because configs in the wild
     * point at the bare server URL (mcp_server_url: http://localhost:8000). */
    if (strcmp(url, "/mcp") != 0 && strcmp(url, "/mcp/") != 0 && strcmp(url, "/") != 0)
        return respond_error(c, r, 404, -32000, "Not Found: the MCP endpoint is /mcp", NULL);
    const char *host = header(c, MHD_HTTP_HEADER_HOST), *origin = header(c, "Origin");
    if (!host_allowed(host))
        return refuse_forbidden(c, r, "Host", host);
    if (origin && !origin_allowed(origin))
        return refuse_forbidden(c, r, "Origin", origin);
    if (origin)
        r->origin = xstrdup(origin);
    if (strcmp(method, "OPTIONS") == 0)
        return respond_preflight(c, r);
    if (!auth_ok(header(c, MHD_HTTP_HEADER_AUTHORIZATION))) {
        static const char *const challenge[] = {"WWW-Authenticate", "Bearer", NULL};
        return respond_error(c, r, 401, -32000,
                             "Unauthorized: send the header 'Authorization: Bearer <token>'",
                             challenge);
    }
    lock();
    int stopping = g.stopping;
    unlock();
    if (stopping)
        return respond_error(c, r, 503, -32000, "Service Unavailable: the server is stopping",
                             NULL);
    if (strcmp(method, "DELETE") == 0)
        return handle_delete(c, r);
    if (strcmp(method, "GET") == 0)
        return respond_error(c, r, 405, -32000,
                             "Method Not Allowed: this server opens no stream of its own; send "
                             "requests with POST", allow);
    if (strcmp(method, "POST") != 0)
        return respond_error(c, r, 405, -32000, "Method Not Allowed", allow);

    int accepts = 0;
    MHD_get_connection_values(c, MHD_HEADER_KIND, accept_iter, &accepts);
    if (accepts != (ACCEPT_JSON | ACCEPT_SSE))
        return respond_error(c, r, 406, -32000,
                             "Not Acceptable: the Accept header must list both application/json "
                             "and text/event-stream", NULL);
    if (!is_json_type(header(c, MHD_HTTP_HEADER_CONTENT_TYPE)))
        return respond_error(c, r, 415, -32000,
                             "Unsupported Media Type: Content-Type must be application/json", NULL);
    const char *cl = header(c, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno == 0 && end != cl && n > MCP_MAX_MESSAGE) {
            r->too_large = 1;
            return finish_post(c, r);
        }
    }
    r->post = 1;
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *size, void **con_cls)
{
    (void)cls, (void)version;
    http_req *r = *con_cls;
    if (!r) {
        r = xcalloc(1, sizeof *r);
        buf_init(&r->body);
        *con_cls = r;
        return begin_request(c, r, url, method);
    }
    if (*size) {
        /* Past the limit the rest is read and dropped, so the client gets
         * its 413 rather than a reset connection. */
        if (!r->answered && !r->too_large) {
            if (r->body.len + *size > MCP_MAX_MESSAGE) {
                r->too_large = 1;
                buf_free(&r->body);
            } else {
                buf_append(&r->body, data, *size);
            }
        }
        *size = 0;
        return MHD_YES;
    }
    if (r->answered || !r->post)
        return MHD_YES;
    return finish_post(c, r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)toe;
    http_req *r = *con_cls;
    if (!r)
        return;
    if (r->long_running) /* idle again between requests */
        MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)HTTP_IDLE_TIMEOUT_S);
    buf_free(&r->body);
    free(r->origin);
    free(r);
    *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    if (log_get_level() > LOG_DEBUG)
        return;
    buf_t b;
    buf_init(&b);
    buf_vprintf(&b, fmt, ap);
    while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r'))
        b.data[--b.len] = 0;
    log_debug("libmicrohttpd: %s", b.data ? b.data : "");
    buf_free(&b);
}

/* ---- serving ---- */

static void on_signal(int sig)
{
    (void)sig;
    int fd = g_signal_fd;
    if (fd >= 0) {
        int saved = errno;
        ssize_t w = write(fd, "s", 1);
        (void)w;
        errno = saved;
    }
}

void mcp_http_stop(void)
{
    lock();
    if (g.running && g.wake_fd[1] >= 0) {
        ssize_t w = write(g.wake_fd[1], "x", 1);
        (void)w;
    }
    unlock();
}

/* A socket listening on ai's address, or -1 with *err set. */
static int bind_one(const struct addrinfo *ai, int *err)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        *err = errno;
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0) {
        *err = errno;
        close(fd);
        return -1;
    }
    return fd;
}

/* Binds and listens on host:port (port 0: the kernel picks one). Returns
 * the socket and fills *port and *family, or -1 with e filled. */
static int listen_on(const char *host, int *port, int *family, err_t *e)
{
    char where[300], ports[16];
    if (strchr(host, ':'))
        snprintf(where, sizeof where, "[%s]:%d", host, *port);
    else
        snprintf(where, sizeof where, "%s:%d", host, *port);
    snprintf(ports, sizeof ports, "%d", *port);
    struct addrinfo hints, *res;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
    int rc = getaddrinfo(host, ports, &hints, &res);
    if (rc != 0)
        return err_set(e, "cannot listen on %s: %s", where, gai_strerror(rc));
    /* A name such as localhost may stand for 127.0.0.1 and ::1; one socket
     * is all libmicrohttpd takes, and IPv4 is what every client tries. */
    int fd = -1, err = 0;
    for (int pass = 0; pass < 2 && fd < 0; pass++)
        for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next)
            if ((ai->ai_family == AF_INET) == (pass == 0) && (fd = bind_one(ai, &err)) >= 0)
                *family = ai->ai_family;
    freeaddrinfo(res);
    if (fd < 0)
        return err_set(e, "cannot listen on %s: %s", where, strerror(err));
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        *port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

/* Cancels what is in flight until nothing is: a request may reach the
 * core a moment after a cancellation went out. */
static void drain(void)
{
    for (;;) {
        lock();
        int busy = g.flights != NULL || g.workers > 0;
        unlock();
        if (!busy)
            return;
        cancel_flights(NULL, "server stopping");
        lock();
        if (g.flights || g.workers)
            cond_wait_ms(50);
        unlock();
    }
}

static void release_claim(void)
{
    lock();
    if (g.wake_fd[0] >= 0) {
        close(g.wake_fd[0]);
        close(g.wake_fd[1]);
    }
    g.wake_fd[0] = g.wake_fd[1] = -1;
    g.running = g.stopping = 0;
    g.server = NULL;
    unlock();
}

int mcp_http_serve(mcp_server *s, const mcp_http_options *o, err_t *e)
{
    const char *host = o->host && *o->host ? o->host : "127.0.0.1";
    if (o->port < 0 || o->port > 65535)
        return err_set(e, "invalid port %d (0 to 65535)", o->port);
    size_t hn = strlen(host);
    if (host[0] == '[' && hn >= 2 && host[hn - 1] == ']') { /* [::1] */
        host++;
        hn -= 2;
    }
    if (hn >= sizeof g.host)
        return err_set(e, "host name too long: %.40s...", host);

    lock();
    if (g.running) {
        unlock();
        return err_set(e, "the HTTP server is already running in this process");
    }
    if (pipe2(g.wake_fd, O_CLOEXEC | O_NONBLOCK) != 0) {
        int err = errno;
        g.wake_fd[0] = g.wake_fd[1] = -1;
        unlock();
        return err_set(e, "cannot create a pipe: %s", strerror(err));
    }
    g.running = 1;
    g.stopping = 0;
    g.server = s;
    memcpy(g.host, host, hn);
    g.host[hn] = 0;
    g.token = o->token && *o->token ? o->token : NULL;
    g.origins = o->allowed_origins;
    g.sse_replies = o->sse_replies;
    g.nsessions = 0;
    g.flights = NULL;
    g.workers = 0;
    unlock();

    int port = o->port, family = AF_INET;
    int fd = listen_on(g.host, &port, &family, e);
    if (fd < 0) {
        release_claim();
        return -1;
    }
    signal(SIGPIPE, SIG_IGN);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, NULL, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_MAX_CONNECTIONS,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_IDLE_TIMEOUT_S, MHD_OPTION_END);
    if (!d) {
        close(fd);
        release_claim();
        return err_set(e, "cannot start the HTTP server on %s port %d", g.host, port);
    }

    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    g_signal_fd = g.wake_fd[1];
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    if (o->on_listening)
        o->on_listening(port, o->ud);

    for (;;) {
        struct pollfd p = {.fd = g.wake_fd[0], .events = POLLIN};
        int n = poll(&p, 1, -1);
        if (n < 0 && errno != EINTR) {
            log_error("waiting for the stop signal failed: %s", strerror(errno));
            break;
        }
        char ch;
        if (n > 0 && read(g.wake_fd[0], &ch, 1) == 1)
            break;
    }

    lock();
    g.stopping = 1;
    pthread_cond_broadcast(&g.cond); /* open streams end */
    unlock();
    drain();
    MHD_stop_daemon(d); /* joins the connection threads; closes fd */
    drain();

    lock();
    http_session *left[MCP_HTTP_MAX_SESSIONS];
    size_t nleft = g.nsessions;
    memcpy(left, g.sessions, nleft * sizeof *left);
    g.nsessions = 0;
    unlock();
    for (size_t i = 0; i < nleft; i++)
        session_release(left[i]);

    g_signal_fd = -1;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    release_claim();
    return 0;
}
