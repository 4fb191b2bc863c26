/* db: URL parsing and :parameter binding. */
#include <stdlib.h>
#include <string.h>

#include "../../src/db/db.h"
#include "../test.h"

TEST(db_url_forms)
{
    db_url u;
    err_t e;
    CHECK(db_url_parse("sqlite:///relative.db", &u, &e) == 0);
    CHECK_STR(u.dialect, "sqlite");
    CHECK(u.host == NULL);
    CHECK_STR(u.database, "relative.db");
    db_url_free(&u);

    CHECK(db_url_parse("sqlite:////abs/path.db", &u, &e) == 0);
    CHECK_STR(u.database, "/abs/path.db");
    db_url_free(&u);

    CHECK(db_url_parse("sqlite:///file:/abs/path.db?mode=ro&uri=true", &u, &e) == 0);
    CHECK_STR(u.database, "file:/abs/path.db");
    CHECK_STR(db_url_query(&u, "mode"), "ro");
    CHECK_STR(db_url_query(&u, "uri"), "true");
    db_url_free(&u);

    CHECK(db_url_parse("postgresql+psycopg2://us%40er:p%3Ass@db.example:6543/shop?sslmode=disable",
                       &u, &e) == 0);
    CHECK_STR(u.dialect, "postgresql");
    CHECK_STR(u.driver, "psycopg2");
    CHECK_STR(u.user, "us@er");
    CHECK_STR(u.password, "p:ss");
    CHECK_STR(u.host, "db.example");
    CHECK(u.port == 6543);
    CHECK_STR(u.database, "shop");
    CHECK_STR(db_url_query(&u, "sslmode"), "disable");
    db_url_free(&u);

    CHECK(db_url_parse("postgresql://u@[::1]:5432/x", &u, &e) == 0);
    CHECK_STR(u.host, "::1");
    CHECK(u.port == 5432);
    db_url_free(&u);

    CHECK(db_url_parse("sqlite://", &u, &e) == 0);
    CHECK(u.database == NULL);
    db_url_free(&u);
}

TEST(db_url_bad)
{
    db_url u;
    err_t e;
    CHECK(db_url_parse("not a url", &u, &e) != 0);
    CHECK_CONTAINS(e.msg, "not a database URL");
    db_url_free(&u);
    CHECK(db_url_parse("postgresql://h:notaport/db", &u, &e) != 0);
    CHECK_CONTAINS(e.msg, "bad port");
    db_url_free(&u);
    CHECK(db_url_parse("po stgres://x", &u, &e) != 0);
    db_url_free(&u);
    db_options o = {0};
    CHECK(db_new("mysql://u@h/db", &o, &e) == NULL);
    CHECK_CONTAINS(e.msg, "unsupported database 'mysql'");
    db_options bad = {.engine_options = "[1,2"};
    CHECK(db_new("sqlite://", &bad, &e) == NULL);
    CHECK_CONTAINS(e.msg, "DB_ENGINE_OPTIONS");
}

static char *bind(const char *sql, const char *params_json, db_placeholder style, int *nvalues,
                  char **display, db_error *e)
{
    json_t *p = params_json ? json_loads(params_json, 0, NULL) : NULL;
    db_bound b;
    char *out = NULL;
    if (db_bind_params(sql, p, style, 0, 1, &b, e) == 0) {
        out = xstrdup(b.sql);
        *nvalues = (int)b.nvalues;
        if (display)
            *display = xstrdup(b.display_sql);
        db_bound_free(&b);
    }
    json_decref(p);
    return out;
}

TEST(db_params_rules)
{
    int n;
    db_error e;
    char *s = bind("SELECT * FROM t WHERE a = :a AND b = :b", "{\"a\":1,\"b\":2}", DB_PH_QMARK, &n,
                   NULL, &e);
    CHECK_STR(s, "SELECT * FROM t WHERE a = ? AND b = ?");
    CHECK(n == 2);
    free(s);
    /* repeated names: two ? but one $1 */
    s = bind("SELECT :x, :x, :y", "{\"x\":1,\"y\":2}", DB_PH_QMARK, &n, NULL, &e);
    CHECK_STR(s, "SELECT ?, ?, ?");
    CHECK(n == 3);
    free(s);
    s = bind("SELECT :x, :x, :y", "{\"x\":1,\"y\":2}", DB_PH_DOLLAR, &n, NULL, &e);
    CHECK_STR(s, "SELECT $1, $1, $2");
    CHECK(n == 2);
    free(s);
    /* :: casts, a colon after a word character, quoted text and comments
     * are not parameters; \: is a literal colon */
    s = bind("SELECT a::text, '10:30', \"x:y\", t.a:b, [c:d] -- :no\n/* :no */ FROM t WHERE z = \\:lit",
             "{}", DB_PH_QMARK, &n, NULL, &e);
    CHECK_STR(s, "SELECT a::text, '10:30', \"x:y\", t.a:b, [c:d] -- :no\n/* :no */ FROM t WHERE z = :lit");
    CHECK(n == 0);
    free(s);
    /* a name followed by ':' is not a parameter */
    s = bind("SELECT :a:", "{}", DB_PH_QMARK, &n, NULL, &e);
    CHECK_STR(s, "SELECT :a:");
    free(s);
    /* escaped quote inside a string */
    s = bind("SELECT 'it''s :x', :y", "{\"y\":1}", DB_PH_QMARK, &n, NULL, &e);
    CHECK_STR(s, "SELECT 'it''s :x', ?");
    free(s);
    /* PostgreSQL dollar quoting */
    s = bind("SELECT $$ :x $$, $tag$ :y $tag$, :z", "{\"z\":1}", DB_PH_DOLLAR, &n, NULL, &e);
    CHECK_STR(s, "SELECT $$ :x $$, $tag$ :y $tag$, $1");
    free(s);
    /* Unicode names are word characters */
    s = bind("SELECT :n\xc3\xa9", "{\"n\xc3\xa9\":1}", DB_PH_QMARK, &n, NULL, &e);
    CHECK_STR(s, "SELECT ?");
    free(s);
}

TEST(db_params_missing_value)
{
    int n;
    db_error e;
    char *s = bind("SELECT :a, :b", "{\"a\":1}", DB_PH_QMARK, &n, NULL, &e);
    CHECK(s == NULL);
    CHECK(e.kind == DB_ERR_PARAM);
    CHECK_STR(e.message, "A value is required for bind parameter 'b'");
    CHECK_STR(e.pyclass, "sqlalchemy.exc.InvalidRequestError");
    char *d = db_display_sql("SELECT :a, :b", 1, 0);
    CHECK_STR(d, "SELECT %(a)s, %(b)s");
    free(d);
}
