/* retrain tools: list and call the tools of the MCP servers a config names
 * (what a training run will see), and a client mode for the official
 * conformance suite. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../mcp/mcp.h"
#include "../mcp/mcp_client.h"
#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: retrain tools CONFIG.json [--server NAME] [--call TOOL [--args JSON]]\n"
            "                     [--meta JSON] [--raw] [--timeout-ms N] [--log-level LEVEL]\n"
            "       retrain tools --conformance URL\n"
            "\n"
            "Starts the MCP servers of CONFIG.json ({\"mcpServers\": {NAME: {\"command\": ...,\n"
            "\"args\": [...], \"env\": {...}} or {\"url\": \"http://...\"}}}, or a config with\n"
            "\"mcp_server_url\") and lists every tool: name, arguments, description.\n"
            "\n"
            "options:\n"
            "  --server NAME      only this server\n"
            "  --call TOOL        call TOOL and print its text; exit 1 if the result is an error\n"
            "  --args JSON        the call's arguments, a JSON object (default {})\n"
            "  --meta JSON        the call's _meta object, e.g. '{\"retrain/rows\": true}'\n"
            "  --raw              print the whole result as JSON instead of its text\n"
            "  --timeout-ms N     time limit of the call (default 30000)\n"
            "  --log-level LEVEL  stderr logging, servers' stderr included: debug, info,\n"
            "                     warning, error, quiet\n"
            "  --conformance URL  a client for the conformance suite's scenarios: initialize,\n"
            "                     list the tools, call each with sample arguments from its schema\n"
            "exit status: 0 ok, 1 the tool's result is an error, 2 anything else\n");
}

static int fail(const char *msg)
{
    fprintf(stderr, "retrain tools: %s\n", msg);
    return 2;
}

/* "type" of a property schema as a short word. */
static const char *prop_type(json_t *ps)
{
    json_t *t = json_object_get(ps, "type");
    if (json_is_string(t))
        return json_string_value(t);
    if (json_is_array(t) && json_is_string(json_array_get(t, 0)))
        return json_string_value(json_array_get(t, 0));
    return "any";
}

static int required(json_t *schema, const char *k)
{
    json_t *req = json_object_get(schema, "required");
    for (size_t i = 0; i < json_array_size(req); i++)
        if (json_is_string(json_array_get(req, i)) &&
            !strcmp(json_string_value(json_array_get(req, i)), k))
            return 1;
    return 0;
}

static void print_tool(const mcp_tool *t)
{
    printf("  %s(", t->name);
    json_t *props = json_object_get(t->input_schema, "properties");
    const char *k;
    json_t *ps;
    int first = 1;
    json_object_foreach(props, k, ps) {
        printf("%s%s%s: %s", first ? "" : ", ", k, required(t->input_schema, k) ? "" : "?",
               prop_type(ps));
        first = 0;
    }
    printf(")\n");
    const char *d = t->description;
    size_t n = strcspn(d, "\n");
    if (n)
        printf("      %.*s\n", (int)n, d);
}

static int list_server(mcp_servers *m, const char *name)
{
    err_t e;
    mcp_client *c = mcp_client_get(m, name, &e);
    const mcp_tool *tools;
    size_t n;
    if (!c || mcp_client_tools(c, &tools, &n, &e))
        return fail(e.msg);
    printf("%s: %zu tool%s (protocol %s)\n", mcp_client_name(c), n, n == 1 ? "" : "s",
           mcp_client_protocol_version(c));
    for (size_t i = 0; i < n; i++)
        print_tool(&tools[i]);
    return 0;
}

static int print_result(const mcp_result *r, int raw)
{
    if (raw && r->raw) {
        char *s = mcp_dump(r->raw); /* floats in their shortest round-trip form */
        printf("%s\n", s);
        free(s);
    } else {
        printf("%s\n", r->text);
    }
    fflush(stdout);
    return r->is_error ? 1 : 0;
}

/* A sample value for a property schema (for the conformance client). */
static json_t *sample(json_t *ps, int n)
{
    const char *t = prop_type(ps);
    json_t *en = json_object_get(ps, "enum");
    if (json_array_size(en))
        return json_incref(json_array_get(en, 0));
    if (!strcmp(t, "number") || !strcmp(t, "integer"))
        return json_integer(n + 1);
    if (!strcmp(t, "boolean"))
        return json_true();
    if (!strcmp(t, "array"))
        return json_array();
    if (!strcmp(t, "object"))
        return json_object();
    if (!strcmp(t, "null"))
        return json_null();
    return json_string("test");
}

static int conformance(const char *url)
{
    json_t *cfg = json_pack("{s:s}", "mcp_server_url", url);
    err_t e;
    mcp_servers *m = mcp_servers_from_json(cfg, "--conformance", &e);
    json_decref(cfg);
    if (!m)
        return fail(e.msg);
    int rc = 0;
    mcp_client *c = mcp_client_get(m, NULL, &e);
    const mcp_tool *tools;
    size_t n;
    if (!c || mcp_client_tools(c, &tools, &n, &e)) {
        rc = fail(e.msg);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *args = json_object();
        const char *k;
        json_t *ps;
        int j = 0;
        json_object_foreach(json_object_get(tools[i].input_schema, "properties"), k, ps) {
            if (required(tools[i].input_schema, k))
                json_object_set_new(args, k, sample(ps, j++));
        }
        mcp_result r;
        if (mcp_client_call_json(c, tools[i].name, args, NULL, 0, &r, &e)) {
            json_decref(args);
            rc = fail(e.msg);
            goto done;
        }
        printf("%s: %s\n", tools[i].name, r.text);
        mcp_result_free(&r);
        json_decref(args);
    }
done:
    mcp_servers_free(m);
    return rc;
}

int cmd_tools(int argc, char **argv)
{
    const char *config = NULL, *server = NULL, *call = NULL, *args = NULL, *meta = NULL;
    const char *level = NULL;
    long timeout_ms = 30000;
    int raw = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--conformance") && i + 1 < argc) {
            return conformance(argv[argc - 1]);
        } else if (!strcmp(a, "--server") && i + 1 < argc) {
            server = argv[++i];
        } else if (!strcmp(a, "--call") && i + 1 < argc) {
            call = argv[++i];
        } else if (!strcmp(a, "--args") && i + 1 < argc) {
            args = argv[++i];
        } else if (!strcmp(a, "--meta") && i + 1 < argc) {
            meta = argv[++i];
        } else if (!strcmp(a, "--raw")) {
            raw = 1;
        } else if (!strcmp(a, "--log-level") && i + 1 < argc) {
            level = argv[++i];
        } else if (!strcmp(a, "--timeout-ms") && i + 1 < argc) {
            if (parse_long(argv[++i], &timeout_ms) != 0 || timeout_ms <= 0 || timeout_ms > 86400000)
                return fail("--timeout-ms takes a number of milliseconds (1 to 86400000)");
        } else if (a[0] == '-' || config) {
            char m[300];
            snprintf(m, sizeof m, "unknown or incomplete option '%s' (see --help)", a);
            return fail(m);
        } else {
            config = a;
        }
    }
    if (level) {
        enum log_level lv;
        if (log_level_parse(level, &lv) != 0)
            return fail("--log-level must be debug, info, warning, error or quiet");
        log_set_level(lv);
    }
    if (!config)
        return fail("no config file given (retrain tools CONFIG.json; see --help)");
    if ((args || meta || raw) && !call)
        return fail("--args, --meta and --raw go with --call TOOL");
    err_t e;
    mcp_servers *m = mcp_servers_load(config, &e);
    if (!m)
        return fail(e.msg);
    mcp_servers_set_request_timeout(m, (int)timeout_ms);
    int rc = 0;
    if (!call) {
        if (server) {
            rc = list_server(m, server);
        } else {
            for (size_t i = 0; i < mcp_servers_count(m) && rc == 0; i++)
                rc = list_server(m, mcp_servers_name(m, i));
        }
        mcp_servers_free(m);
        return rc;
    }
    json_t *jargs = NULL, *jmeta = NULL;
    json_error_t je;
    if (args && !(jargs = json_loads(args, JSON_DECODE_ANY, &je))) {
        char msg[400];
        snprintf(msg, sizeof msg, "--args is not valid JSON: %s (column %d)", je.text, je.column);
        mcp_servers_free(m);
        return fail(msg);
    }
    if (meta && (!(jmeta = json_loads(meta, 0, &je)) || !json_is_object(jmeta))) {
        json_decref(jargs);
        json_decref(jmeta);
        mcp_servers_free(m);
        return fail("--meta must be a JSON object");
    }
    mcp_client *c = server ? mcp_client_get(m, server, &e) : mcp_tools_find(m, call, &e);
    mcp_result r;
    if (!c || mcp_client_call_json(c, call, jargs, jmeta, (int)timeout_ms, &r, &e)) {
        rc = fail(e.msg);
    } else {
        rc = print_result(&r, raw);
        mcp_result_free(&r);
    }
    json_decref(jargs);
    json_decref(jmeta);
    mcp_servers_free(m);
    return rc;
}
