/* The client's stdio transport: the server is our child process; we write
 * one JSON message per line to its stdin and read its stdout line by line.
 * Its stderr is drained by a thread into our log, so a chatty server never
 * blocks on a full pipe and never mixes its logs into the protocol.
 *
 * The child runs in a process group of its own: launchers such as npx or
 * uvx start the real server as a grandchild, and shutdown signals the
 * whole group so nothing is left behind. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client_internal.h"

extern char **environ;

/* What SDK clients pass on from their own environment. */
static const char *const inherited_env[] = {"HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER"};

static int is_executable(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* The PATH the child will see: the configured one, else ours. */
static const char *child_path(const client_stdio *io)
{
    for (size_t i = 0; i < io->env.len; i++)
        if (str_starts(io->env.items[i], "PATH="))
            return io->env.items[i] + 5;
    const char *p = getenv("PATH");
    return p ? p : "/usr/local/bin:/usr/bin:/bin";
}

/* Resolves cmd like execvp would, into out. 0 if found. */
static int find_command(const char *cmd, const char *path, char *out, size_t n)
{
    if (strchr(cmd, '/')) {
        snprintf(out, n, "%s", cmd);
        return is_executable(out) ? 0 : -1;
    }
    const char *p = path;
    while (*p) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        if (len == 0)
            snprintf(out, n, "./%s", cmd);
        else
            snprintf(out, n, "%.*s/%s", (int)len, p, cmd);
        if (is_executable(out))
            return 0;
        if (!colon)
            break;
        p = colon + 1;
    }
    /* The config says "retrain" and we are retrain, just not on PATH. */
    if (!strcmp(cmd, "retrain")) {
        ssize_t r = readlink("/proc/self/exe", out, n - 1);
        if (r > 0) {
            out[r] = 0;
            const char *base = strrchr(out, '/');
            if (base && !strcmp(base + 1, "retrain"))
                return 0;
        }
    }
    return -1;
}

static int not_found(mcp_client *c, err_t *e)
{
    client_stdio *io = &c->io;
    int alchemy = 0;
    for (size_t i = 0; i < io->args.len; i++)
        if (strstr(io->args.items[i], "mcp-alchemy"))
            alchemy = 1;
    if (alchemy || !strcmp(io->command, "uvx") || !strcmp(io->command, "uv"))
        return err_set(
            e,
            "MCP server '%s': command '%s' not found in PATH; for mcp-alchemy use "
            "`retrain mcp-db` instead (\"command\": \"retrain\", \"args\": [\"mcp-db\"], "
            "\"env\": {\"DB_URL\": ...})",
            c->name, io->command);
    return err_set(e, "MCP server '%s': command '%s' not found in PATH (%s)", c->name, io->command,
                   child_path(io));
}

static void *stderr_main(void *arg)
{
    mcp_client *c = arg;
    client_stdio *io = &c->io;
    buf_t line;
    buf_init(&line);
    char chunk[4096];
    for (;;) {
        struct pollfd p = {.fd = io->err_fd, .events = POLLIN};
        int pr = poll(&p, 1, 100);
        if (pr < 0 && errno != EINTR)
            break;
        if (pr <= 0) {
            if (io->err_stop)
                break;
            continue;
        }
        ssize_t r = read(io->err_fd, chunk, sizeof chunk);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        for (ssize_t i = 0; i < r; i++) {
            if (chunk[i] != '\n') {
                if (line.len < 4000)
                    buf_putc(&line, chunk[i]);
                continue;
            }
            if (line.len && line.data[line.len - 1] == '\r')
                line.data[--line.len] = 0;
            if (line.len) {
                log_info("[%s] %s", c->name, line.data);
                pthread_mutex_lock(&io->err_lock);
                snprintf(io->last_err, sizeof io->last_err, "%s", line.data);
                pthread_mutex_unlock(&io->err_lock);
            }
            buf_reset(&line);
        }
    }
    if (line.len) {
        log_info("[%s] %s", c->name, line.data);
        pthread_mutex_lock(&io->err_lock);
        snprintf(io->last_err, sizeof io->last_err, "%s", line.data);
        pthread_mutex_unlock(&io->err_lock);
    }
    buf_free(&line);
    return NULL;
}

int stdio_start(mcp_client *c, err_t *e)
{
    client_stdio *io = &c->io;
    char path[4096];
    if (find_command(io->command, child_path(io), path, sizeof path) != 0) {
        not_found(c, e);
        return RPC_FAIL;
    }

    /* argv and envp, built before the child exists */
    size_t argc = io->args.len + 1;
    char **argv = xcalloc(argc + 1, sizeof *argv);
    argv[0] = io->command;
    for (size_t i = 0; i < io->args.len; i++)
        argv[i + 1] = io->args.items[i];
    strlist_t env;
    strlist_init(&env);
    for (size_t i = 0; i < ARRAY_LEN(inherited_env); i++) {
        const char *k = inherited_env[i], *v = getenv(k);
        int configured = 0;
        size_t kl = strlen(k);
        for (size_t j = 0; j < io->env.len; j++)
            if (!strncmp(io->env.items[j], k, kl) && io->env.items[j][kl] == '=')
                configured = 1;
        if (v && !configured) {
            buf_t kv;
            buf_init(&kv);
            buf_printf(&kv, "%s=%s", k, v);
            strlist_push(&env, kv.data);
            buf_free(&kv);
        }
    }
    for (size_t i = 0; i < io->env.len; i++)
        strlist_push(&env, io->env.items[i]);
    char **envp = xcalloc(env.len + 1, sizeof *envp);
    for (size_t i = 0; i < env.len; i++)
        envp[i] = env.items[i];

    int in[2] = {-1, -1}, out[2] = {-1, -1}, er[2] = {-1, -1};
    int rc = RPC_FAIL;
    if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(er, O_CLOEXEC)) {
        err_set(e, "MCP server '%s': cannot make pipes: %s", c->name, strerror(errno));
        goto done;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, er[1], 2);
    if (io->cwd)
        posix_spawn_file_actions_addchdir_np(&fa, io->cwd);
    posix_spawnattr_t sa;
    posix_spawnattr_init(&sa);
    sigset_t none, dflt;
    sigemptyset(&none);
    sigemptyset(&dflt);
    sigaddset(&dflt, SIGPIPE); /* we ignore it; the child must not inherit that */
    sigaddset(&dflt, SIGINT);
    sigaddset(&dflt, SIGTERM);
    posix_spawnattr_setsigmask(&sa, &none);
    posix_spawnattr_setsigdefault(&sa, &dflt);
    posix_spawnattr_setpgroup(&sa, 0);
    posix_spawnattr_setflags(&sa, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                      POSIX_SPAWN_SETPGROUP);
    pid_t pid;
    int sr = posix_spawn(&pid, path, &fa, &sa, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&sa);
    if (sr != 0) {
        err_set(e, "MCP server '%s': cannot run %s: %s", c->name, path, strerror(sr));
        goto done;
    }
    io->pid = pid;
    io->in_fd = in[1];
    io->out_fd = out[0];
    io->err_fd = er[0];
    in[1] = out[0] = er[0] = -1;
    io->exit_status = -1;
    io->garbage[0] = 0;
    io->last_err[0] = 0;
    buf_reset(&io->rbuf);
    io->roff = 0;
    io->err_stop = 0;
    io->err_thread_on = pthread_create(&io->err_thread, NULL, stderr_main, c) == 0;
    log_debug("MCP server '%s': started %s (pid %d)", c->name, path, (int)pid);
    rc = RPC_OK;
done:
    for (int i = 0; i < 2; i++) {
        if (in[i] >= 0)
            close(in[i]);
        if (out[i] >= 0)
            close(out[i]);
        if (er[i] >= 0)
            close(er[i]);
    }
    free(argv);
    free(envp);
    strlist_free(&env);
    return rc;
}

/* Reaps the child if it has exited, waiting up to ms. 1 if reaped. */
static int reap(client_stdio *io, int ms)
{
    if (!io->pid)
        return 1;
    for (int waited = 0;; waited += 10) {
        int st;
        pid_t r = waitpid(io->pid, &st, WNOHANG);
        if (r == io->pid || (r < 0 && errno == ECHILD)) {
            io->exit_status = r == io->pid ? st : 0;
            io->pid = 0;
            return 1;
        }
        if (waited >= ms)
            return 0;
        usleep(10000);
    }
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Joins the stderr thread once the child is gone and closes its pipe. */
static void finish_child(client_stdio *io)
{
    if (io->err_thread_on) {
        io->err_stop = 1;
        pthread_join(io->err_thread, NULL);
        io->err_thread_on = 0;
    }
    close_fd(&io->in_fd);
    close_fd(&io->out_fd);
    close_fd(&io->err_fd);
}

void stdio_stop(mcp_client *c)
{
    client_stdio *io = &c->io;
    close_fd(&io->in_fd); /* a well-behaved server exits on EOF */
    if (io->pid && !reap(io, 2000)) {
        kill(-io->pid, SIGTERM);
        kill(io->pid, SIGTERM);
        if (!reap(io, 2000)) {
            log_warn("MCP server '%s' did not stop on SIGTERM; killing it", c->name);
            kill(-io->pid, SIGKILL);
            kill(io->pid, SIGKILL);
            reap(io, 5000);
        }
    }
    /* Whatever the server started and left behind in its group goes too. */
    finish_child(io);
}

/* The child is gone (EOF, EPIPE): reap it and say how it ended. */
static int child_died(mcp_client *c, err_t *e)
{
    client_stdio *io = &c->io;
    if (io->pid && !reap(io, 1000)) {
        kill(-io->pid, SIGKILL);
        kill(io->pid, SIGKILL);
        reap(io, 5000);
    }
    finish_child(io);
    buf_t m;
    buf_init(&m);
    int st = io->exit_status;
    if (st >= 0 && WIFEXITED(st))
        buf_printf(&m, "MCP server '%s' exited with status %d", c->name, WEXITSTATUS(st));
    else if (st >= 0 && WIFSIGNALED(st))
        buf_printf(&m, "MCP server '%s' was killed by signal %d", c->name, WTERMSIG(st));
    else
        buf_printf(&m, "MCP server '%s' closed its output", c->name);
    pthread_mutex_lock(&io->err_lock);
    if (io->last_err[0])
        buf_printf(&m, " (its last message: %s)", io->last_err);
    pthread_mutex_unlock(&io->err_lock);
    if (io->garbage[0])
        buf_printf(&m, " (it wrote non-protocol output on stdout: '%s')", io->garbage);
    err_set(e, "%s", m.data);
    buf_free(&m);
    return RPC_DEAD;
}

int stdio_send(mcp_client *c, const json_t *msg, err_t *e)
{
    client_stdio *io = &c->io;
    if (io->in_fd < 0)
        return child_died(c, e);
    buf_t b;
    buf_init(&b);
    mcp_dump_buf(msg, &b);
    buf_putc(&b, '\n');
    size_t off = 0;
    int rc = RPC_OK;
    while (off < b.len) {
        ssize_t w = write(io->in_fd, b.data + off, b.len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = child_died(c, e);
            break;
        }
        off += (size_t)w;
    }
    buf_free(&b);
    return rc;
}

/* Handles one stdout line; 1 and *resp set when it is the response to id. */
static int take_line(mcp_client *c, char *line, size_t len, json_t *id, json_t **resp)
{
    client_stdio *io = &c->io;
    while (len && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
        len--;
    if (!len)
        return 0;
    json_t *msg = json_loadb(line, len, JSON_DECODE_ANY, NULL);
    if (!msg || (!json_is_object(msg) && !json_is_array(msg))) {
        /* stdout must carry only protocol messages; SDK clients skip what
         * is not, and so do we, keeping the first one for error messages */
        if (!io->garbage[0])
            snprintf(io->garbage, sizeof io->garbage, "%.*s", (int)(len < 120 ? len : 120), line);
        log_warn("MCP server '%s' wrote a line that is not JSON-RPC on stdout: %.*s", c->name,
                 (int)(len < 200 ? len : 200), line);
        json_decref(msg);
        return 0;
    }
    json_t *r = client_match_response(msg, id);
    if (r) {
        *resp = json_incref(r);
        json_decref(msg);
        return 1;
    }
    json_t *answer = client_answer_server_request(c, msg);
    if (answer) {
        err_t ignore;
        stdio_send(c, answer, &ignore);
        json_decref(answer);
    }
    json_decref(msg);
    return 0;
}

int stdio_wait(mcp_client *c, json_t *id, uint64_t deadline_ns, json_t **resp, err_t *e)
{
    client_stdio *io = &c->io;
    *resp = NULL;
    for (;;) {
        /* whole lines already read first */
        for (;;) {
            char *start = io->rbuf.data ? io->rbuf.data + io->roff : NULL;
            size_t avail = io->rbuf.len - io->roff;
            char *nl = avail ? memchr(start, '\n', avail) : NULL;
            if (!nl)
                break;
            io->roff += (size_t)(nl - start) + 1;
            if (take_line(c, start, (size_t)(nl - start), id, resp))
                return RPC_OK;
        }
        if (io->roff) {
            size_t avail = io->rbuf.len - io->roff;
            memmove(io->rbuf.data, io->rbuf.data + io->roff, avail);
            io->rbuf.len = avail;
            io->roff = 0;
        }
        if (io->rbuf.len > MCP_MAX_MESSAGE) {
            /* The stream cannot be resynchronised: stop the server, so the
             * next call starts a fresh one. */
            err_set(e, "MCP server '%s' sent a message over %u bytes", c->name, MCP_MAX_MESSAGE);
            if (io->pid > 0) {
                kill(-io->pid, SIGKILL);
                kill(io->pid, SIGKILL);
                reap(io, 5000);
            }
            finish_child(io);
            buf_reset(&io->rbuf);
            io->roff = 0;
            return RPC_FAIL;
        }
        if (io->out_fd < 0)
            return child_died(c, e);
        uint64_t now = time_now_ns();
        if (now >= deadline_ns)
            return RPC_TIMEOUT;
        int ms = (int)((deadline_ns - now + 999999) / 1000000);
        struct pollfd p = {.fd = io->out_fd, .events = POLLIN};
        int pr = poll(&p, 1, ms);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr < 0) {
            err_set(e, "MCP server '%s': poll: %s", c->name, strerror(errno));
            return RPC_FAIL;
        }
        if (pr == 0)
            continue;
        buf_reserve(&io->rbuf, 65536);
        ssize_t r = read(io->out_fd, io->rbuf.data + io->rbuf.len, 65536);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            /* a last message without its newline still counts */
            if (io->rbuf.len) {
                size_t n = io->rbuf.len;
                io->rbuf.len = 0;
                if (take_line(c, io->rbuf.data, n, id, resp))
                    return RPC_OK;
            }
            return child_died(c, e);
        }
        io->rbuf.len += (size_t)r;
        io->rbuf.data[io->rbuf.len] = 0;
    }
}

void stdio_deinit(client_stdio *io)
{
    free(io->command);
    free(io->cwd);
    strlist_free(&io->args);
    strlist_free(&io->env);
    buf_free(&io->rbuf);
    pthread_mutex_destroy(&io->err_lock);
}
