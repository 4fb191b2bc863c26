/* The MCP server core: JSON-RPC dispatch, initialize and version
 * negotiation, ping, logging, tools/list, tools/call, cancellation. */
#include <stdlib.h>
#include <string.h>

#include "mcp.h"

const char *const mcp_protocol_versions[] = {"2024-11-05", "2025-03-26", "2025-06-18",
                                             "2025-11-25"};
const size_t mcp_protocol_nversions = ARRAY_LEN(mcp_protocol_versions);

int mcp_version_supported(const char *v)
{
    for (size_t i = 0; i < mcp_protocol_nversions; i++)
        if (strcmp(v, mcp_protocol_versions[i]) == 0)
            return 1;
    return 0;
}

/* Log levels of the protocol (RFC 5424 names), lowest first. */
static const char *const log_levels[] = {"debug",    "info",  "notice", "warning",
                                         "error",    "critical", "alert", "emergency"};

/* ---- messages ---- */

json_t *mcp_error_reply(json_t *id, int code, const char *message, json_t *data)
{
    json_t *err = json_pack("{s:i, s:s}", "code", code, "message", message);
    if (data)
        json_object_set_new(err, "data", data);
    return json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id ? id : json_null(), "error",
                     err);
}

json_t *mcp_result_reply(json_t *id, json_t *result)
{
    return json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id, "result", result);
}

json_t *mcp_notification(const char *method, json_t *params)
{
    json_t *n = json_pack("{s:s, s:s}", "jsonrpc", "2.0", "method", method);
    if (params)
        json_object_set_new(n, "params", params);
    return n;
}

char *mcp_dump(const json_t *msg)
{
    buf_t b;
    buf_init(&b);
    mcp_dump_buf(msg, &b);
    return buf_take(&b);
}

json_t *mcp_parse(const char *text, size_t len, json_t **reply)
{
    *reply = NULL;
    if (len > MCP_MAX_MESSAGE) {
        char m[128];
        snprintf(m, sizeof m, "Parse error: message of %zu bytes exceeds the limit of %u bytes", len,
                 MCP_MAX_MESSAGE);
        *reply = mcp_error_reply(NULL, MCP_PARSE_ERROR, m, NULL);
        return NULL;
    }
    json_error_t je;
    json_t *msg = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!msg) {
        buf_t m;
        buf_init(&m);
        if (!utf8_valid(text, len))
            buf_puts(&m, "Parse error: message is not valid UTF-8");
        else
            buf_printf(&m, "Parse error: %s at line %d column %d", je.text, je.line, je.column);
        *reply = mcp_error_reply(NULL, MCP_PARSE_ERROR, m.data, NULL);
        buf_free(&m);
    }
    return msg;
}

void mcp_session_init(mcp_session *s)
{
    memset(s, 0, sizeof *s);
    snprintf(s->protocol_version, sizeof s->protocol_version, "%s", "2025-03-26");
    s->log_level = 8; /* nothing until the client asks */
}

/* ---- the server ---- */

typedef struct in_flight {
    mcp_session *session;
    json_t *id;
    int cancelled;
    int running;
    struct in_flight *next;
} in_flight;

struct mcp_server {
    char *name, *version;
    mcp_tool_def *tools;
    json_t **schemas; /* each tool's input schema, built once */
    size_t ntools;
    pthread_mutex_t call_lock;  /* one tool call at a time */
    pthread_mutex_t state_lock; /* guards the in-flight list */
    in_flight *flights;
    struct owned {
        void *p;
        void (*free_fn)(void *);
    } *owned;
    size_t nowned;
    void (*begin_hook)(void *);
    void (*cancel_hook)(void *);
    void *hook_ud;
};

mcp_server *mcp_server_new(const char *name, const char *version)
{
    mcp_server *s = xcalloc(1, sizeof *s);
    s->name = xstrdup(name);
    s->version = xstrdup(version);
    pthread_mutex_init(&s->call_lock, NULL);
    pthread_mutex_init(&s->state_lock, NULL);
    return s;
}

void mcp_server_free(mcp_server *s)
{
    if (!s)
        return;
    free(s->name);
    free(s->version);
    for (size_t i = 0; i < s->ntools; i++)
        json_decref(s->schemas[i]);
    free(s->schemas);
    free(s->tools);
    for (size_t i = 0; i < s->nowned; i++)
        s->owned[i].free_fn(s->owned[i].p);
    free(s->owned);
    pthread_mutex_destroy(&s->call_lock);
    pthread_mutex_destroy(&s->state_lock);
    free(s);
}

void mcp_server_add_tool(mcp_server *s, const mcp_tool_def *def)
{
    s->tools = xrealloc(s->tools, (s->ntools + 1) * sizeof *s->tools);
    s->schemas = xrealloc(s->schemas, (s->ntools + 1) * sizeof *s->schemas);
    s->tools[s->ntools] = *def;
    s->schemas[s->ntools] = def->input_schema(def->ud);
    s->ntools++;
}

void mcp_server_own(mcp_server *s, void *p, void (*free_fn)(void *))
{
    s->owned = xrealloc(s->owned, (s->nowned + 1) * sizeof *s->owned);
    s->owned[s->nowned].p = p;
    s->owned[s->nowned].free_fn = free_fn;
    s->nowned++;
}

void mcp_server_set_call_hooks(mcp_server *s, void (*begin)(void *), void (*cancel)(void *),
                               void *ud)
{
    s->begin_hook = begin;
    s->cancel_hook = cancel;
    s->hook_ud = ud;
}

static int ids_equal(json_t *a, json_t *b)
{
    return a && b && json_equal(a, b);
}

/* ---- logging to the client ---- */

void mcp_log_to_client(const mcp_call *call, int level, const char *logger, const char *fmt, ...)
{
    if (!call || !call->emitter || !call->session || level < call->session->log_level)
        return;
    buf_t b;
    buf_init(&b);
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    json_t *n = mcp_notification("notifications/message",
                                 json_pack("{s:s, s:s, s:s}", "level", log_levels[level], "logger",
                                           logger, "data", b.data));
    char *line = mcp_dump(n);
    call->emitter->send(call->emitter->ctx, line);
    free(line);
    json_decref(n);
    buf_free(&b);
}

/* ---- methods ---- */

static json_t *do_initialize(mcp_server *s, mcp_session *sess, json_t *id, json_t *params)
{
    json_t *pv = json_object_get(params, "protocolVersion");
    if (!json_is_string(pv))
        return mcp_error_reply(id, MCP_INVALID_PARAMS,
                               "Invalid params: initialize needs a string protocolVersion", NULL);
    const char *want = json_string_value(pv);
    const char *use;
    if (mcp_version_supported(want)) {
        use = want;
    } else {
        /* A dated version we do not know (older or newer): answer with our
         * latest and let the client decide. Anything else is not a
         * protocol version at all. */
        int dated = strlen(want) == 10 && want[4] == '-' && want[7] == '-';
        for (int i = 0; dated && i < 10; i++)
            if (i != 4 && i != 7 && (want[i] < '0' || want[i] > '9'))
                dated = 0;
        if (!dated) {
            json_t *sup = json_array();
            for (size_t i = 0; i < mcp_protocol_nversions; i++)
                json_array_append_new(sup, json_string(mcp_protocol_versions[i]));
            return mcp_error_reply(id, MCP_INVALID_PARAMS, "Unsupported protocol version",
                                   json_pack("{s:o, s:s}", "supported", sup, "requested", want));
        }
        use = MCP_LATEST_VERSION;
    }
    snprintf(sess->protocol_version, sizeof sess->protocol_version, "%s", use);
    sess->initialize_seen = 1;
    json_t *ci = json_object_get(params, "clientInfo");
    if (json_is_string(json_object_get(ci, "name")))
        snprintf(sess->client_name, sizeof sess->client_name, "%s",
                 json_string_value(json_object_get(ci, "name")));
    json_t *result = json_pack("{s:s, s:{s:{}, s:{s:b}}, s:{s:s, s:s}}", "protocolVersion", use,
                               "capabilities", "logging", "tools", "listChanged", 0, "serverInfo",
                               "name", s->name, "version", s->version);
    return mcp_result_reply(id, result);
}

static json_t *do_set_level(mcp_session *sess, json_t *id, json_t *params)
{
    const char *lvl = json_string_value(json_object_get(params, "level"));
    if (lvl)
        for (int i = 0; i < (int)ARRAY_LEN(log_levels); i++)
            if (strcmp(lvl, log_levels[i]) == 0) {
                sess->log_level = i;
                return mcp_result_reply(id, json_object());
            }
    return mcp_error_reply(id, MCP_INVALID_PARAMS,
                           "Invalid params: level must be one of debug, info, notice, warning, "
                           "error, critical, alert, emergency",
                           NULL);
}

/* Versions from 2025-06-18 on know structured tool output. */
static int has_structured_output(const mcp_session *sess)
{
    return strcmp(sess->protocol_version, "2025-06-18") >= 0;
}

static json_t *tool_json(mcp_tool_def *t, json_t *schema, const mcp_session *sess)
{
    char *desc = t->description(t->ud);
    json_t *tool = json_pack("{s:s, s:s, s:O}", "name", t->name, "description", desc, "inputSchema",
                             schema);
    free(desc);
    if (has_structured_output(sess)) {
        char title[160];
        snprintf(title, sizeof title, "%sOutput", t->name);
        json_object_set_new(tool, "outputSchema",
                            json_pack("{s:{s:{s:s, s:s}}, s:[s], s:s, s:s}", "properties", "result",
                                      "title", "Result", "type", "string", "required", "result",
                                      "title", title, "type", "object"));
    }
    if (t->annotations) {
        json_t *a = t->annotations(t->ud);
        if (a)
            json_object_set_new(tool, "annotations", a);
    }
    return tool;
}

static json_t *do_tools_list(mcp_server *s, mcp_session *sess, json_t *id, json_t *params)
{
    json_t *cursor = json_object_get(params, "cursor");
    if (cursor && !json_is_null(cursor))
        /* Every tool fits on the first page, so no cursor is ever valid. */
        return mcp_error_reply(id, MCP_INVALID_PARAMS, "Invalid params: unknown cursor", NULL);
    /* Descriptions name the database version, which may connect or
     * rebuild the cached line: not while a tool uses the connection, nor
     * two at once (the HTTP transport serves requests concurrently). */
    json_t *tools = json_array();
    pthread_mutex_lock(&s->call_lock);
    for (size_t i = 0; i < s->ntools; i++)
        json_array_append_new(tools, tool_json(&s->tools[i], s->schemas[i], sess));
    pthread_mutex_unlock(&s->call_lock);
    return mcp_result_reply(id, json_pack("{s:o}", "tools", tools));
}

/* extra: structuredContent the tool made (stolen), or NULL. */
static json_t *tool_result_with(const char *text, int is_error, int structured, json_t *extra)
{
    json_t *r = json_pack("{s:[{s:s, s:s}], s:b}", "content", "type", "text", "text", text,
                          "isError", is_error);
    if (extra) {
        if (structured)
            json_object_set_new(extra, "result", json_string(text));
        json_object_set_new(r, "structuredContent", extra);
    } else if (structured && !is_error) {
        json_object_set_new(r, "structuredContent", json_pack("{s:s}", "result", text));
    }
    return r;
}

static json_t *tool_result(const char *text, int is_error, int structured)
{
    return tool_result_with(text, is_error, structured, NULL);
}

static in_flight *flight_add(mcp_server *s, mcp_session *sess, json_t *id)
{
    in_flight *f = xcalloc(1, sizeof *f);
    f->session = sess;
    f->id = json_incref(id);
    pthread_mutex_lock(&s->state_lock);
    f->next = s->flights;
    s->flights = f;
    pthread_mutex_unlock(&s->state_lock);
    return f;
}

static int flight_remove(mcp_server *s, in_flight *f)
{
    pthread_mutex_lock(&s->state_lock);
    for (in_flight **p = &s->flights; *p; p = &(*p)->next)
        if (*p == f) {
            *p = f->next;
            break;
        }
    int cancelled = f->cancelled;
    pthread_mutex_unlock(&s->state_lock);
    json_decref(f->id);
    free(f);
    return cancelled;
}

static void do_cancel(mcp_server *s, mcp_session *sess, json_t *params)
{
    json_t *rid = json_object_get(params, "requestId");
    pthread_mutex_lock(&s->state_lock);
    for (in_flight *f = s->flights; f; f = f->next)
        if (f->session == sess && ids_equal(f->id, rid)) {
            f->cancelled = 1;
            if (f->running && s->cancel_hook)
                s->cancel_hook(s->hook_ud);
            log_debug("request %s cancelled by the client",
                      json_is_string(rid) ? json_string_value(rid) : "(number)");
        }
    pthread_mutex_unlock(&s->state_lock);
}

static json_t *do_tools_call(mcp_server *s, mcp_session *sess, json_t *id, json_t *params,
                             const mcp_emitter *em)
{
    json_t *jname = json_object_get(params, "name");
    if (!json_is_string(jname))
        return mcp_error_reply(id, MCP_INVALID_PARAMS, "Invalid params: tools/call needs a string name",
                               NULL);
    const char *name = json_string_value(jname);
    json_t *args = json_object_get(params, "arguments");
    mcp_tool_def *tool = NULL;
    json_t *schema = NULL;
    for (size_t i = 0; i < s->ntools; i++)
        if (strcmp(s->tools[i].name, name) == 0) {
            tool = &s->tools[i];
            schema = s->schemas[i];
        }
    int structured = has_structured_output(sess);
    if (!tool) {
        buf_t m;
        buf_init(&m);
        buf_printf(&m, "Unknown tool: %s", name);
        json_t *r = mcp_result_reply(id, tool_result(m.data, 1, structured));
        buf_free(&m);
        return r;
    }
    json_t *owned_args = args && !json_is_null(args) ? json_deep_copy(args) : json_object();
    buf_t why;
    buf_init(&why);
    if (mcp_validate_args(schema, owned_args, &why) != 0) {
        buf_t m;
        buf_init(&m);
        buf_printf(&m, "Invalid arguments for tool %s: %s", name, why.data);
        json_t *r = mcp_result_reply(id, tool_result(m.data, 1, structured));
        buf_free(&m);
        buf_free(&why);
        json_decref(owned_args);
        return r;
    }
    buf_free(&why);

    json_t *extra = NULL;
    mcp_call call = {.server = s, .session = sess, .emitter = em, .structured = &extra};
    json_t *meta = json_object_get(params, "_meta");
    if (json_is_object(meta)) {
        call.meta = meta;
        call.progress_token = json_object_get(meta, "progressToken");
    }

    in_flight *f = flight_add(s, sess, id);
    pthread_mutex_lock(&s->call_lock);
    pthread_mutex_lock(&s->state_lock);
    int skip = f->cancelled;
    if (!skip) {
        f->running = 1;
        if (s->begin_hook)
            s->begin_hook(s->hook_ud);
    }
    pthread_mutex_unlock(&s->state_lock);
    buf_t text;
    buf_init(&text);
    int is_error = 0;
    if (!skip)
        is_error = tool->call(tool->ud, &call, owned_args, &text);
    pthread_mutex_lock(&s->state_lock);
    f->running = 0;
    pthread_mutex_unlock(&s->state_lock);
    pthread_mutex_unlock(&s->call_lock);
    json_decref(owned_args);
    if (flight_remove(s, f)) {
        /* The client gave up on it: no reply, as the protocol asks. */
        buf_free(&text);
        json_decref(extra);
        return NULL;
    }
    json_t *r = mcp_result_reply(
        id, tool_result_with(text.data ? text.data : "", is_error, structured, extra));
    buf_free(&text);
    return r;
}

/* id must be a string or an integer (JSON-RPC 2.0 as MCP restricts it). */
static int valid_id(json_t *id)
{
    return json_is_string(id) || json_is_integer(id);
}

static json_t *handle_one(mcp_server *s, mcp_session *sess, json_t *msg, const mcp_emitter *em)
{
    if (!json_is_object(msg))
        return mcp_error_reply(NULL, MCP_INVALID_REQUEST,
                               "Invalid Request: a message must be a JSON object", NULL);
    json_t *id = json_object_get(msg, "id");
    json_t *jv = json_object_get(msg, "jsonrpc");
    json_t *jm = json_object_get(msg, "method");
    json_t *reply_id = id && valid_id(id) ? id : NULL;
    if (!json_is_string(jv) || strcmp(json_string_value(jv), "2.0") != 0)
        return mcp_error_reply(reply_id, MCP_INVALID_REQUEST,
                               "Invalid Request: \"jsonrpc\" must be \"2.0\"", NULL);
    if (!jm) {
        /* A response from the client (we send no requests): nothing to do,
         * unless it is not even a response. */
        if (id && (json_object_get(msg, "result") || json_object_get(msg, "error")))
            return NULL;
        return mcp_error_reply(reply_id, MCP_INVALID_REQUEST,
                               "Invalid Request: missing \"method\"", NULL);
    }
    if (!json_is_string(jm))
        return mcp_error_reply(reply_id, MCP_INVALID_REQUEST,
                               "Invalid Request: \"method\" must be a string", NULL);
    if (id && !valid_id(id))
        return mcp_error_reply(NULL, MCP_INVALID_REQUEST,
                               "Invalid Request: \"id\" must be a string or an integer", NULL);
    const char *method = json_string_value(jm);
    json_t *params = json_object_get(msg, "params");
    if (params && !json_is_object(params) && !json_is_null(params)) {
        if (!id)
            return NULL;
        return mcp_error_reply(id, MCP_INVALID_PARAMS, "Invalid params: \"params\" must be an object",
                               NULL);
    }

    if (!id) { /* notification */
        if (!strcmp(method, "notifications/initialized"))
            sess->initialized = 1;
        else if (!strcmp(method, "notifications/cancelled"))
            do_cancel(s, sess, params);
        /* other notifications (roots changed, progress...) need nothing */
        return NULL;
    }

    if (!strcmp(method, "initialize"))
        return do_initialize(s, sess, id, params);
    if (!strcmp(method, "ping"))
        return mcp_result_reply(id, json_object());
    if (!strcmp(method, "logging/setLevel"))
        return do_set_level(sess, id, params);
    if (!strcmp(method, "tools/list"))
        return do_tools_list(s, sess, id, params);
    if (!strcmp(method, "tools/call"))
        return do_tools_call(s, sess, id, params, em);
    buf_t m;
    buf_init(&m);
    buf_printf(&m, "Method not found: %s", method);
    json_t *r = mcp_error_reply(id, MCP_METHOD_NOT_FOUND, m.data, NULL);
    buf_free(&m);
    return r;
}

json_t *mcp_server_handle(mcp_server *s, mcp_session *sess, json_t *msg, const mcp_emitter *em)
{
    if (!json_is_array(msg))
        return handle_one(s, sess, msg, em);
    /* A JSON-RPC batch (protocol 2025-03-26): one reply array, without
     * the notifications' absent replies. */
    if (json_array_size(msg) == 0)
        return mcp_error_reply(NULL, MCP_INVALID_REQUEST, "Invalid Request: empty batch", NULL);
    json_t *out = json_array();
    for (size_t i = 0; i < json_array_size(msg); i++) {
        json_t *r = handle_one(s, sess, json_array_get(msg, i), em);
        if (r)
            json_array_append_new(out, r);
    }
    if (json_array_size(out) == 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}
