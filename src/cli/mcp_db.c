/* retrain mcp-db: the MCP database server, a drop-in for mcp-alchemy. */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../mcp/mcp.h"
#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: retrain mcp-db [--http [HOST:]PORT] [--read-only] [--token TOKEN]\n"
            "                      [--sse] [--allow-origin ORIGIN]... [--log-level LEVEL]\n"
            "\n"
            "Serves the database at DB_URL over MCP: stdio by default, Streamable HTTP at\n"
            "http://HOST:PORT/mcp with --http (HOST defaults to 127.0.0.1).\n"
            "\n"
            "options:\n"
            "  --http [HOST:]PORT        serve Streamable HTTP instead of stdio (PORT 0: any free port)\n"
            "  --read-only               refuse every write (also MCP_DB_READ_ONLY=1)\n"
            "  --token TOKEN             HTTP clients must send 'Authorization: Bearer TOKEN'\n"
            "                            (also MCP_TOKEN)\n"
            "  --sse                     answer HTTP requests as SSE streams instead of JSON bodies\n"
            "  --allow-origin ORIGIN     also accept browser requests from ORIGIN (local origins\n"
            "                            such as http://localhost:6274 are always accepted)\n"
            "  --log-level LEVEL         stderr logging: debug, info (default), warning, error\n"
            "\n"
            "environment (as mcp-alchemy):\n"
            "  DB_URL                    sqlite:///file.db, sqlite:////abs/file.db,\n"
            "                            sqlite:///file:/abs/file.db?mode=ro&uri=true,\n"
            "                            postgresql://user:pass@host:5432/db, duckdb:///file.duckdb\n"
            "  EXECUTE_QUERY_MAX_CHARS   output limit of execute_query (default 4000)\n"
            "  CLAUDE_LOCAL_FILES_PATH   also write full results there as <sha256>.json\n"
            "  DB_ENGINE_OPTIONS         JSON object of create_engine() arguments (isolation_level,\n"
            "                            connect_args, echo, hide_parameters; pool_* accepted)\n"
            "beyond mcp-alchemy:\n"
            "  MCP_DB_READ_ONLY=1        refuse every write (same as --read-only)\n"
            "  QUERY_TIMEOUT_MS          stop any statement that runs longer\n"
            "  MCP_TOKEN                 require 'Authorization: Bearer TOKEN' over HTTP\n");
}

static int env_truthy(const char *name)
{
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0 && strcasecmp(v, "false") != 0 && strcasecmp(v, "no") != 0;
}

static int env_long(const char *name, long def, long min, long *out)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        *out = def;
        return 0;
    }
    long x;
    if (parse_long(v, &x) != 0 || x < min) {
        fprintf(stderr, "retrain mcp-db: %s must be an integer >= %ld, got '%s'\n", name, min, v);
        return -1;
    }
    *out = x;
    return 0;
}

static void on_listening(int port, void *ud)
{
    const char *host = ud;
    int v6 = strchr(host, ':') != NULL; /* an IPv6 address goes in brackets */
    fprintf(stderr, "retrain mcp-db: serving MCP at http://%s%s%s:%d/mcp\n", v6 ? "[" : "", host,
            v6 ? "]" : "", port);
}

int cmd_mcp_db(int argc, char **argv)
{
    /* Replies of a few hundred kilobytes are built and freed on every
     * call; keep such blocks on the heap instead of mapping and unmapping
     * fresh pages each time (page faults cost more than the query). */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 128 << 20);
    const char *http = NULL, *token = getenv("MCP_TOKEN"), *level = NULL;
    int read_only = env_truthy("MCP_DB_READ_ONLY"), sse = 0;
    const char **origins = xcalloc((size_t)argc + 1, sizeof *origins);
    size_t norigins = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            free(origins);
            return 0;
        } else if (!strcmp(a, "--http") && i + 1 < argc) {
            http = argv[++i];
        } else if (!strcmp(a, "--read-only")) {
            read_only = 1;
        } else if (!strcmp(a, "--token") && i + 1 < argc) {
            token = argv[++i];
        } else if (!strcmp(a, "--sse")) {
            sse = 1;
        } else if (!strcmp(a, "--allow-origin") && i + 1 < argc) {
            origins[norigins++] = argv[++i];
        } else if (!strcmp(a, "--log-level") && i + 1 < argc) {
            level = argv[++i];
        } else {
            fprintf(stderr, "retrain mcp-db: unknown or incomplete option '%s' (see --help)\n", a);
            free(origins);
            return 2;
        }
    }
    if (level) {
        enum log_level lv;
        if (log_level_parse(level, &lv) != 0) {
            fprintf(stderr, "retrain mcp-db: --log-level must be debug, info, warning or error\n");
            free(origins);
            return 2;
        }
        log_set_level(lv);
    }
    const char *url = getenv("DB_URL");
    if (!url || !*url) {
        fprintf(stderr, "retrain mcp-db: DB_URL is not set (for example DB_URL=sqlite:///file.db)\n");
        free(origins);
        return 2;
    }
    long max_chars, timeout_ms;
    if (env_long("EXECUTE_QUERY_MAX_CHARS", 4000, 1, &max_chars) != 0 ||
        env_long("QUERY_TIMEOUT_MS", 0, 0, &timeout_ms) != 0) {
        free(origins);
        return 2;
    }
    const char *files = getenv("CLAUDE_LOCAL_FILES_PATH");
    if (files && !*files)
        files = NULL;
    if (files) {
        struct stat st;
        if (stat(files, &st) != 0 || !S_ISDIR(st.st_mode) || access(files, W_OK) != 0) {
            fprintf(stderr, "retrain mcp-db: CLAUDE_LOCAL_FILES_PATH '%s' is not a writable "
                            "directory\n", files);
            free(origins);
            return 2;
        }
    }
    db_options opts = {.read_only = read_only,
                       .timeout_ms = timeout_ms,
                       .engine_options = getenv("DB_ENGINE_OPTIONS")};
    if (opts.engine_options && !*opts.engine_options)
        opts.engine_options = NULL;
    err_t e;
    db_conn *conn = db_new(url, &opts, &e);
    if (!conn) {
        fprintf(stderr, "retrain mcp-db: %s\n", e.msg);
        free(origins);
        return 2;
    }
    db_error de;
    if (db_connect(conn, &de) != 0)
        log_warn("cannot connect to the database yet (%s); serving anyway and retrying on each "
                 "call", de.message);

    mcp_server *server = mcp_server_new("retrain-mcp-db", RETRAIN_VERSION);
    mcp_db_config cfg = {.max_chars = max_chars, .local_files_path = files};
    mcp_db_tools_register(server, conn, &cfg);

    int rc;
    if (http) {
        char host[256] = "127.0.0.1";
        const char *colon = strrchr(http, ':');
        const char *port_s = http;
        if (colon) {
            size_t n = (size_t)(colon - http);
            if (n >= sizeof host)
                n = sizeof host - 1;
            memcpy(host, http, n);
            host[n] = 0;
            if (host[0] == '[' && n >= 2 && host[n - 1] == ']') {
                memmove(host, host + 1, n - 2);
                host[n - 2] = 0;
            }
            port_s = colon + 1;
        }
        long port;
        if (parse_long(port_s, &port) != 0 || port < 0 || port > 65535 || !host[0]) {
            fprintf(stderr, "retrain mcp-db: --http takes [HOST:]PORT, got '%s'\n", http);
            rc = 2;
        } else {
            mcp_http_options ho = {.host = host,
                                   .port = (int)port,
                                   .token = token && *token ? token : NULL,
                                   .allowed_origins = origins,
                                   .sse_replies = sse,
                                   .on_listening = on_listening,
                                   .ud = host};
            if (mcp_http_serve(server, &ho, &e) != 0) {
                fprintf(stderr, "retrain mcp-db: %s\n", e.msg);
                rc = 1;
            } else {
                rc = 0;
            }
        }
    } else {
        rc = mcp_stdio_serve(server, 0, 1);
    }
    mcp_server_free(server);
    db_free(conn);
    free(origins);
    return rc;
}
