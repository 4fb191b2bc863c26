/* A private PostgreSQL server for tests: initdb into a temporary
 * directory, postgres as a child process on a free loopback port. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pg_server.h"

static struct {
    int started;
    char bindir[512];
    char dir[512];  /* temporary directory: data/, log, socket */
    char url[256];
    int port;
    pid_t pid;      /* the postmaster, 0 when stopped */
    uid_t uid;      /* user to run as when we are root */
    gid_t gid;
    int as_other;   /* 1 when switching to uid/gid */
    char failed[512]; /* a failed first start is not retried */
} g;

static void set_why(char *why, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_why(char *why, size_t n, const char *fmt, ...)
{
    if (!why || !n)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, n, fmt, ap);
    va_end(ap);
}

/* The newest installed PostgreSQL, as Debian lays it out. */
static int find_bindir(void)
{
    DIR *d = opendir("/usr/lib/postgresql");
    if (!d)
        return -1;
    long best = -1;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char *end;
        long v = strtol(de->d_name, &end, 10);
        char path[600];
        snprintf(path, sizeof path, "/usr/lib/postgresql/%s/bin/postgres", de->d_name);
        if (*end == 0 && end != de->d_name && v > best && access(path, X_OK) == 0)
            best = v;
    }
    closedir(d);
    if (best < 0)
        return -1;
    snprintf(g.bindir, sizeof g.bindir, "/usr/lib/postgresql/%ld/bin", best);
    return 0;
}

/* Becomes the postgres user (when root) and sends output to the log. */
static void child_setup(void)
{
    char log[600];
    snprintf(log, sizeof log, "%s/log", g.dir);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
    }
    int null = open("/dev/null", O_RDONLY);
    if (null >= 0) {
        dup2(null, 0);
        close(null);
    }
    if (g.as_other && (setgroups(0, NULL) != 0 || setgid(g.gid) != 0 || setuid(g.uid) != 0)) {
        perror("cannot switch to the postgres user");
        _exit(126);
    }
    if (chdir(g.dir) != 0)
        _exit(126);
}

/* Runs a program to completion; its exit status, or -1. */
static int run_wait(char *const argv[])
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        child_setup();
        execv(argv[0], argv);
        perror(argv[0]);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The last lines of the server's log, for a failure message. */
static void log_tail(char *out, size_t n)
{
    char path[600];
    snprintf(path, sizeof path, "%s/log", g.dir);
    FILE *f = fopen(path, "r");
    if (!out || !n)
        return;
    out[0] = 0;
    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    long from = size > (long)n - 1 ? size - (long)n + 1 : 0;
    fseek(f, from, SEEK_SET);
    size_t got = fread(out, 1, n - 1, f);
    out[got] = 0;
    fclose(f);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static void ignore_notice(void *arg, const char *msg)
{
    (void)arg, (void)msg;
}

static void conninfo(char *out, size_t n, const char *db)
{
    snprintf(out, n, "host=127.0.0.1 port=%d user=postgres dbname=%s connect_timeout=5", g.port,
             db);
}

/* Starts postgres as a child that dies with us, and waits until it takes
 * connections. */
static int spawn_postmaster(char *why, size_t whylen)
{
    char postgres[600], data[600], port[16], sockdir[600];
    snprintf(postgres, sizeof postgres, "%s/postgres", g.bindir);
    snprintf(data, sizeof data, "%s/data", g.dir);
    snprintf(port, sizeof port, "port=%d", g.port);
    snprintf(sockdir, sizeof sockdir, "unix_socket_directories=%s", g.dir);
    char *argv[] = {postgres, "-D", data, "-c", "listen_addresses=127.0.0.1", "-c", port,
                    "-c", sockdir, "-c", "fsync=off", "-c", "synchronous_commit=off",
                    "-c", "full_page_writes=off", "-c", "max_connections=40",
                    "-c", "TimeZone=UTC", NULL};
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        set_why(why, whylen, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        child_setup();
        /* after the user switch, which would clear it */
        prctl(PR_SET_PDEATHSIG, SIGQUIT);
        if (getppid() != parent)
            _exit(1);
        execv(argv[0], argv);
        perror(argv[0]);
        _exit(127);
    }
    g.pid = pid;
    char ci[256];
    conninfo(ci, sizeof ci, "postgres");
    for (int i = 0; i < 600; i++) { /* up to 30 s */
        if (PQping(ci) == PQPING_OK)
            return 0;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            g.pid = 0;
            char tail[400];
            log_tail(tail, sizeof tail);
            set_why(why, whylen, "postgres exited during start: %s", tail);
            return -1;
        }
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    set_why(why, whylen, "postgres did not accept connections within 30 s");
    kill(pid, SIGQUIT);
    waitpid(pid, NULL, 0);
    g.pid = 0;
    return -1;
}

static void cleanup(void)
{
    if (g.pid > 0) {
        kill(g.pid, SIGQUIT); /* immediate shutdown: nothing to keep */
        waitpid(g.pid, NULL, 0);
        g.pid = 0;
    }
    if (g.dir[0]) {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g.dir);
        if (system(cmd) != 0)
            fprintf(stderr, "pg_server: could not remove %s\n", g.dir);
        g.dir[0] = 0;
    }
}

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int ok = fputs(text, f) >= 0;
    ok &= fclose(f) == 0;
    return ok ? 0 : -1;
}

static int first_start(char *why, size_t whylen)
{
    if (find_bindir() != 0) {
        set_why(why, whylen, "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres; "
                             "scripts/install-deps installs it)");
        return -1;
    }
    if (geteuid() == 0) {
        /* initdb and postgres refuse to run as root */
        struct passwd *pw = getpwnam("postgres");
        if (!pw) {
            set_why(why, whylen, "running as root and there is no postgres user to run the "
                                 "server as");
            return -1;
        }
        g.uid = pw->pw_uid;
        g.gid = pw->pw_gid;
        g.as_other = 1;
    }
    const char *tmp = getenv("TMPDIR");
    /* the postgres user must reach the directory: /tmp when we switch */
    snprintf(g.dir, sizeof g.dir, "%s/retrain-pg-XXXXXX", tmp && *tmp && !g.as_other ? tmp : "/tmp");
    if (!mkdtemp(g.dir)) {
        set_why(why, whylen, "mkdtemp %s: %s", g.dir, strerror(errno));
        g.dir[0] = 0;
        return -1;
    }
    atexit(cleanup);
    if (g.as_other && chown(g.dir, g.uid, g.gid) != 0) {
        set_why(why, whylen, "chown %s: %s", g.dir, strerror(errno));
        return -1;
    }
    char initdb[600], data[600];
    snprintf(initdb, sizeof initdb, "%s/initdb", g.bindir);
    snprintf(data, sizeof data, "%s/data", g.dir);
    char *argv[] = {initdb, "-D", data, "-U", "postgres", "--auth=trust", "--no-sync",
                    "--no-locale", "-E", "UTF8", NULL};
    if (run_wait(argv) != 0) {
        char tail[400];
        log_tail(tail, sizeof tail);
        set_why(why, whylen, "initdb failed: %s", tail);
        return -1;
    }
    char hba[700];
    snprintf(hba, sizeof hba, "%s/pg_hba.conf", data);
    if (write_file(hba, "local all all trust\n"
                        "host all pw_user 127.0.0.1/32 scram-sha-256\n"
                        "host all all 127.0.0.1/32 trust\n") != 0) {
        set_why(why, whylen, "cannot write %s: %s", hba, strerror(errno));
        return -1;
    }
    if (g.as_other && chown(hba, g.uid, g.gid) != 0) {
        set_why(why, whylen, "chown %s: %s", hba, strerror(errno));
        return -1;
    }
    /* a port taken between our probe and the server's bind: try again */
    for (int attempt = 0; attempt < 3; attempt++) {
        g.port = free_port();
        if (g.port <= 0) {
            set_why(why, whylen, "no free loopback port");
            return -1;
        }
        if (spawn_postmaster(why, whylen) == 0)
            break;
        if (attempt == 2)
            return -1;
    }
    char ci[256];
    conninfo(ci, sizeof ci, "postgres");
    PGconn *c = PQconnectdb(ci);
    PGresult *r = PQexec(c, "CREATE DATABASE retrain_test");
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        set_why(why, whylen, "CREATE DATABASE retrain_test: %s", PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    if (!ok)
        return -1;
    snprintf(g.url, sizeof g.url, "postgresql://postgres@127.0.0.1:%d/retrain_test", g.port);
    return 0;
}

int pg_server_start(char *why, size_t whylen)
{
    if (g.started)
        return 0;
    if (g.failed[0]) {
        set_why(why, whylen, "%s", g.failed);
        return -1;
    }
    char reason[512] = "";
    if (first_start(reason, sizeof reason) != 0) {
        snprintf(g.failed, sizeof g.failed, "%s", reason[0] ? reason : "could not start");
        set_why(why, whylen, "%s", g.failed);
        cleanup();
        return -1;
    }
    g.started = 1;
    return 0;
}

const char *pg_server_url(void)
{
    return g.url;
}

int pg_server_port(void)
{
    return g.port;
}

int pg_server_stop(void)
{
    if (g.pid <= 0)
        return 0;
    if (kill(g.pid, SIGINT) != 0) /* fast shutdown */
        return -1;
    int st;
    while (waitpid(g.pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    g.pid = 0;
    return 0;
}

int pg_server_restart(void)
{
    if (!g.started)
        return -1;
    if (g.pid > 0)
        return 0;
    return spawn_postmaster(NULL, 0);
}

int pg_server_exec(const char *sql, char *why, size_t whylen)
{
    if (!g.started) {
        set_why(why, whylen, "the test server is not running");
        return -1;
    }
    char ci[256];
    conninfo(ci, sizeof ci, "retrain_test");
    PGconn *c = PQconnectdb(ci);
    if (PQstatus(c) != CONNECTION_OK) {
        set_why(why, whylen, "%s", PQerrorMessage(c));
        PQfinish(c);
        return -1;
    }
    PQsetNoticeProcessor(c, ignore_notice, NULL);
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? 0 : -1;
    if (rc != 0)
        set_why(why, whylen, "%s", PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return rc;
}
