/* A private PostgreSQL server for tests.
 *
 * The first pg_server_start() of a process runs initdb in a fresh
 * temporary directory and starts the server on a free loopback port
 * (listen_addresses=127.0.0.1, its unix socket inside that directory), as
 * the postgres user when running as root. It creates the database
 * retrain_test; the superuser "postgres" logs in without a password, and
 * a role named "pw_user" (which tests create) must give its password
 * (scram-sha-256), for tests of bad credentials. The server's TimeZone is
 * UTC. It stops and its directory goes away at exit; if the test process
 * dies, the server gets SIGQUIT.
 *
 * Without PostgreSQL installed (Debian's postgresql package) start fails
 * with a reason to pass to test_skip(). */
#ifndef RETRAIN_TEST_PG_SERVER_H
#define RETRAIN_TEST_PG_SERVER_H

#include <stddef.h>

/* 0 when the server runs (started now or earlier), -1 with why filled. */
int pg_server_start(char *why, size_t whylen);

/* postgresql://postgres@127.0.0.1:PORT/retrain_test */
const char *pg_server_url(void);
int pg_server_port(void);

/* Fast shutdown (connected clients are cut off), and a start again on the
 * same port and data. Both return 0 on success. */
int pg_server_stop(void);
int pg_server_restart(void);

/* Runs SQL (several statements allowed) in retrain_test as postgres on a
 * connection of its own. 0, or -1 with why filled. */
int pg_server_exec(const char *sql, char *why, size_t whylen);

#endif
