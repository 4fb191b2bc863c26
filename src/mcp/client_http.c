/* The client's Streamable HTTP transport, through libcurl: every message
 * is one POST that accepts JSON and SSE; a request's response comes back
 * as a JSON body or inside an SSE stream (`event: message`, `data:`
 * lines), which we read only until our response has come. The session id
 * the server gives at initialize goes with every later request, with the
 * negotiated MCP-Protocol-Version; a 404 on it means the session is gone
 * (the core initializes again). Closing DELETEs the session. */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client_internal.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* One POST's state, filled by curl's callbacks. */
typedef struct exchange {
    mcp_client *c;
    json_t *id;   /* the request's id; NULL for a notification */
    json_t *resp; /* our response, once seen */
    buf_t body;   /* the body (JSON), or the SSE bytes not yet parsed */
    int sse;      /* the reply is text/event-stream */
    int ctype_seen;
    char session_id[256];
    buf_t data;     /* the current SSE event's data lines */
    char event[64]; /* the current SSE event's type */
    int too_big;
} exchange;

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    exchange *x = ud;
    size_t len = size * n;
    const char *colon = memchr(p, ':', len);
    if (!colon)
        return len;
    size_t kl = (size_t)(colon - p);
    const char *v = colon + 1;
    size_t vl = len - kl - 1;
    while (vl && (*v == ' ' || *v == '\t'))
        v++, vl--;
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
        vl--;
    if (kl == 14 && !strncasecmp(p, "mcp-session-id", 14)) {
        if (vl < sizeof x->session_id)
            snprintf(x->session_id, sizeof x->session_id, "%.*s", (int)vl, v);
    } else if (kl == 12 && !strncasecmp(p, "content-type", 12)) {
        x->ctype_seen = 1;
        x->sse = vl >= 17 && !strncasecmp(v, "text/event-stream", 17);
    }
    return len;
}

/* One complete SSE event: a JSON-RPC message unless its type says
 * otherwise. 1 when it was our response. */
static int sse_event(exchange *x)
{
    int ours = 0;
    if (x->data.len && (!x->event[0] || !strcmp(x->event, "message"))) {
        json_t *msg = json_loadb(x->data.data, x->data.len, 0, NULL);
        if (!msg) {
            log_warn("MCP server '%s' sent an SSE event that is not JSON: %.200s", x->c->name,
                     x->data.data);
        } else {
            json_t *r = x->id ? client_match_response(msg, x->id) : NULL;
            if (r) {
                x->resp = json_incref(r);
                ours = 1;
            } else {
                /* Server requests on a POST stream would need their answer
                 * POSTed back; we declare no capability that invites them. */
                const char *m = json_string_value(json_object_get(msg, "method"));
                log_debug("MCP server '%s': %s on the stream", x->c->name, m ? m : "a message");
            }
            json_decref(msg);
        }
    }
    buf_reset(&x->data);
    x->event[0] = 0;
    return ours;
}

/* Parses the SSE lines in x->body; 1 once our response has come. */
static int sse_parse(exchange *x)
{
    size_t off = 0;
    int done = 0;
    while (!done) {
        char *start = x->body.data + off;
        char *nl = memchr(start, '\n', x->body.len - off);
        if (!nl)
            break;
        size_t n = (size_t)(nl - start);
        off += n + 1;
        if (n && start[n - 1] == '\r')
            n--;
        if (n == 0) {
            done = sse_event(x);
        } else if (n >= 5 && !strncmp(start, "data:", 5)) {
            size_t s = 5 + (n > 5 && start[5] == ' ');
            if (x->data.len)
                buf_putc(&x->data, '\n');
            buf_append(&x->data, start + s, n - s);
        } else if (n >= 6 && !strncmp(start, "event:", 6)) {
            size_t s = 6 + (n > 6 && start[6] == ' ');
            snprintf(x->event, sizeof x->event, "%.*s", (int)(n - s), start + s);
        } /* id:, retry:, comments: nothing to do */
    }
    memmove(x->body.data, x->body.data + off, x->body.len - off);
    x->body.len -= off;
    x->body.data[x->body.len] = 0;
    return done;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    exchange *x = ud;
    size_t len = size * n;
    if (x->body.len + x->data.len + len > MCP_MAX_MESSAGE) {
        x->too_big = 1;
        return 0;
    }
    buf_append(&x->body, p, len);
    /* Stop reading a stream once our response is in: a server may keep it
     * open for notifications. */
    if (x->sse && x->id && sse_parse(x))
        return 0;
    return len;
}

static CURL *handle(mcp_client *c)
{
    pthread_once(&curl_once, curl_init_once);
    if (!c->http.curl)
        c->http.curl = curl_easy_init();
    CURL *h = c->http.curl;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, c->http.url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    return h;
}

static struct curl_slist *base_headers(mcp_client *c)
{
    struct curl_slist *hl = NULL;
    char line[400];
    if (c->http.session_id[0]) {
        snprintf(line, sizeof line, "Mcp-Session-Id: %s", c->http.session_id);
        hl = curl_slist_append(hl, line);
    }
    if (c->running || c->protocol_version[0]) {
        snprintf(line, sizeof line, "MCP-Protocol-Version: %s", c->protocol_version);
        hl = curl_slist_append(hl, line);
    }
    for (size_t i = 0; i < c->http.headers.len; i++)
        hl = curl_slist_append(hl, c->http.headers.items[i]);
    return hl;
}

int http_post(mcp_client *c, const json_t *msg, json_t *id, uint64_t deadline_ns, json_t **resp,
              err_t *e)
{
    *resp = NULL;
    uint64_t now = time_now_ns();
    if (now >= deadline_ns)
        return RPC_TIMEOUT;
    long ms = (long)((deadline_ns - now) / 1000000) + 1;
    CURL *h = handle(c);
    if (!h) {
        err_set(e, "MCP server '%s': cannot start libcurl", c->name);
        return RPC_FAIL;
    }
    char *payload = mcp_dump(msg);
    struct curl_slist *hl = base_headers(c);
    hl = curl_slist_append(hl, "Content-Type: application/json");
    hl = curl_slist_append(hl, "Accept: application/json, text/event-stream");
    exchange x;
    memset(&x, 0, sizeof x);
    x.c = c;
    x.id = id;
    buf_init(&x.body);
    buf_init(&x.data);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(payload));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, ms);
    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hl);
    free(payload);

    int rc = RPC_OK;
    const char *method = json_string_value(json_object_get(msg, "method"));
    if (x.session_id[0] && method && !strcmp(method, "initialize"))
        snprintf(c->http.session_id, sizeof c->http.session_id, "%s", x.session_id);
    if (x.resp) {
        *resp = x.resp; /* an SSE stream we left once our response came */
        x.resp = NULL;
    } else if (x.too_big) {
        rc = err_set(e, "MCP server '%s' sent a reply over %u bytes", c->name, MCP_MAX_MESSAGE);
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        rc = RPC_TIMEOUT;
    } else if (cc != CURLE_OK) {
        err_set(e, "MCP server '%s': %s: %s", c->name, c->http.url, curl_easy_strerror(cc));
        rc = RPC_FAIL;
    } else if (status == 404 && c->http.session_id[0] &&
               !(method && !strcmp(method, "initialize"))) {
        err_set(e, "MCP server '%s': %s answered 404: the session has ended", c->name, c->http.url);
        c->http.session_id[0] = 0;
        rc = RPC_GONE;
    } else if (!id && (status == 202 || status == 200 || status == 204)) {
        rc = RPC_OK; /* a notification: nothing to read (some servers send a body anyway) */
    } else {
        json_t *body = NULL;
        if (x.sse) {
            /* the stream ended; a last event without its blank line counts */
            buf_putc(&x.body, '\n');
            if (sse_parse(&x) || (x.data.len && sse_event(&x))) {
                *resp = x.resp;
                x.resp = NULL;
            }
        } else if (x.body.len) {
            body = json_loadb(x.body.data, x.body.len, JSON_DECODE_ANY, NULL);
            json_t *r = body ? client_match_response(body, id) : NULL;
            if (r)
                *resp = json_incref(r);
        }
        if (!*resp) {
            /* a JSON-RPC error with an HTTP error status, or no answer at all */
            json_t *err = json_object_get(body, "error");
            const char *m = json_string_value(json_object_get(err, "message"));
            if (m)
                err_set(e, "MCP server '%s': %s answered HTTP %ld: %s", c->name, c->http.url,
                        status, m);
            else if (status < 200 || status >= 300)
                err_set(e, "MCP server '%s': %s answered HTTP %ld%s%.200s", c->name, c->http.url,
                        status, x.body.len && !x.sse ? ": " : "",
                        x.sse         ? ""
                        : x.body.data ? x.body.data
                                      : "");
            else
                err_set(e, "MCP server '%s': %s sent no response to the %s request", c->name,
                        c->http.url, method ? method : "");
            rc = RPC_FAIL;
        }
        json_decref(body);
    }
    json_decref(x.resp);
    buf_free(&x.body);
    buf_free(&x.data);
    return rc;
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p, (void)ud;
    return size * n;
}

void http_stop(mcp_client *c)
{
    if (!c->http.session_id[0] || !c->http.curl) {
        c->http.session_id[0] = 0;
        return;
    }
    CURL *h = handle(c);
    struct curl_slist *hl = base_headers(c);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 2000L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    /* 405: the server does not let clients end sessions; fine */
    if (cc != CURLE_OK)
        log_debug("MCP server '%s': DELETE of the session failed: %s", c->name,
                  curl_easy_strerror(cc));
    curl_slist_free_all(hl);
    c->http.session_id[0] = 0;
}

void http_deinit(client_http *h)
{
    if (h->curl)
        curl_easy_cleanup(h->curl);
    h->curl = NULL;
    free(h->url);
    strlist_free(&h->headers);
}
