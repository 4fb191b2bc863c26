/* Task files: the three Spider 2.0 variants as shipped, databases mapped to
 * connections, unavailable engines counted, malformed input reported. */
#include <stdlib.h>
#include <string.h>

#include "../../src/env/env.h"
#include "../test.h"

static const char *shared(void)
{
    static char p[1024];
    snprintf(p, sizeof p, "%s/../shared/spider2", test_root());
    return p;
}

static size_t skipped(const env_tasks *ts, const char *reason)
{
    int k = strlist_index(&ts->skip_reasons, reason);
    return k < 0 ? 0 : ts->skip_counts[k];
}

TEST(env_tasks_lite_snow_dbt)
{
    char f[1200], db[1200], docs[1200];
    snprintf(f, sizeof f, "%s/spider2-lite.jsonl", shared());
    if (!file_exists(f)) {
        test_skip("%s is absent", f);
        return;
    }
    snprintf(db, sizeof db, "%s/databases", shared());
    snprintf(docs, sizeof docs, "%s/documents", shared());
    env_tasks ts;
    err_t e;
    env_task_opts o = {.sqlite_dir = db, .documents_dir = docs};
    CHECK_MSG(env_tasks_load(f, &o, &ts, &e) == 0, "%s", e.msg);
    CHECK(ts.n == 547);
    CHECK(skipped(&ts, "bigquery: engine not available here") == 205);
    CHECK(skipped(&ts, "snowflake: engine not available here") == 207);
    CHECK(skipped(&ts, "sqlite: database file not present") == 115);
    size_t runnable = 0;
    for (size_t i = 0; i < ts.n; i++)
        runnable += ts.items[i].url != NULL;
    CHECK(runnable == 20);
    const env_task *t = env_tasks_find(&ts, "local244");
    CHECK(t && !strcmp(t->db, "music") && !strcmp(t->engine, "sqlite"));
    CHECK_STR(t->knowledge_file, "music_length_type.md");
    CHECK(t->knowledge && strlen(t->knowledge) > 50); /* the text, not the name */
    CHECK(str_starts(t->url, "sqlite:///") && str_ends(t->url, "/databases/music.sqlite"));
    t = env_tasks_find(&ts, "bq011");
    CHECK(t && !t->url && !strcmp(t->engine, "bigquery") && !t->knowledge);
    CHECK_CONTAINS(t->question, "pseudo users");
    env_tasks_free(&ts);

    /* without a SQLite folder, the local tasks are skipped for that reason */
    CHECK(env_tasks_load(f, NULL, &ts, &e) == 0);
    CHECK(skipped(&ts, "sqlite: no database folder given") == 135);
    env_tasks_free(&ts);

    snprintf(f, sizeof f, "%s/spider2-snow.jsonl", shared());
    CHECK_MSG(env_tasks_load(f, &o, &ts, &e) == 0, "%s", e.msg);
    CHECK(ts.n == 547 && skipped(&ts, "snowflake: engine not available here") == 547);
    t = env_tasks_find(&ts, "sf_bq011");
    CHECK(t && !strcmp(t->db, "GA4") && strstr(t->question, "pseudo users"));
    env_tasks_free(&ts);

    snprintf(f, sizeof f, "%s/spider2-dbt.jsonl", shared());
    CHECK_MSG(env_tasks_load(f, &o, &ts, &e) == 0, "%s", e.msg);
    CHECK(ts.n == 68 && skipped(&ts, "dbt: projects not available here") == 68);
    CHECK(!ts.items[0].db && ts.items[0].question);
    env_tasks_free(&ts);
}

static const char *write_tmp(const char *name, const char *text)
{
    static char p[8][1024];
    static int k;
    char *path = p[k++ % 8];
    snprintf(path, 1024, "%s/%s", test_tmpdir(), name);
    err_t e;
    file_write_atomic(path, text, strlen(text), &e);
    return path;
}

TEST(env_tasks_database_map)
{
    char db[1200];
    snprintf(db, sizeof db, "%s/databases/chinook.sqlite", shared());
    const char *f = write_tmp("map.jsonl",
                              "{\"instance_id\": \"local1\", \"db\": \"shop\", \"question\": \"q\"}\n"
                              "{\"instance_id\": \"sf1\", \"db_id\": \"WH\", \"instruction\": \"q\"}\n"
                              "\n"
                              "{\"instance_id\": \"local2\", \"db\": \"other\", \"question\": \"q\"}\n");
    strlist_t names, urls;
    strlist_init(&names);
    strlist_init(&urls);
    strlist_push(&names, "shop");
    strlist_push(&urls, "duckdb:///tmp/shop.duckdb");
    strlist_push(&names, "WH");
    strlist_push(&urls, "postgresql://u@127.0.0.1:5/wh");
    env_task_opts o = {.db_names = &names, .db_urls = &urls};
    env_tasks ts;
    err_t e;
    CHECK_MSG(env_tasks_load(f, &o, &ts, &e) == 0, "%s", e.msg);
    CHECK(ts.n == 3);
    CHECK_STR(ts.items[0].engine, "duckdb");
    CHECK_STR(ts.items[0].url, "duckdb:///tmp/shop.duckdb");
    CHECK_STR(ts.items[1].engine, "postgresql"); /* a Snow task served elsewhere */
    CHECK(ts.items[2].skip && ts.items[2].line == 4);
    env_tasks_free(&ts);

    /* a name no task uses: a typo, not silently ignored */
    strlist_push(&names, "shopp");
    strlist_push(&urls, "sqlite:///x.db");
    CHECK(env_tasks_load(f, &o, &ts, &e) == -1);
    CHECK_CONTAINS(e.msg, "database map: 'shopp' is no task's database in ");
    free(names.items[2]);
    names.items[2] = xstrdup("other");
    free(urls.items[2]);
    urls.items[2] = xstrdup("oracle://x/y");
    CHECK(env_tasks_load(f, &o, &ts, &e) == -1);
    CHECK_CONTAINS(e.msg, "map.jsonl:4: database 'other': URL 'oracle://x/y' is not sqlite, "
                          "postgresql or duckdb");
    free(urls.items[2]);
    urls.items[2] = xstrdup("no url");
    CHECK(env_tasks_load(f, &o, &ts, &e) == -1);
    CHECK_CONTAINS(e.msg, "map.jsonl:4: database 'other': ");
    strlist_free(&names);
    strlist_free(&urls);
}

TEST(env_tasks_malformed_lines)
{
    static const struct {
        const char *line, *err;
    } cases[] = {
        {"{\"instance_id\": \"a\", \"db\": \"d\", \"question\": \"q\"", "bad.jsonl:2: not a JSON object ("},
        {"[1, 2]", "bad.jsonl:2: not a JSON object (another JSON value)"},
        {"{\"db\": \"d\", \"question\": \"q\"}", "bad.jsonl:2: no instance_id"},
        {"{\"instance_id\": 7, \"db\": \"d\", \"question\": \"q\"}", "bad.jsonl:2: instance_id: expected a non-empty string"},
        {"{\"instance_id\": \"b\", \"db\": \"d\", \"question\": 5}", "bad.jsonl:2: question: expected a string"},
        {"{\"instance_id\": \"b\", \"db\": \"d\"}", "bad.jsonl:2: no question (or instruction)"},
        {"{\"instance_id\": \"b\", \"question\": \"q\"}", "bad.jsonl:2: no db (or db_id)"},
        {"{\"instance_id\": \"b\", \"db\": [\"d\"], \"question\": \"q\"}", "bad.jsonl:2: db: expected a string"},
        {"{\"instance_id\": \"b\", \"db\": \"../d\", \"question\": \"q\"}", "bad.jsonl:2: db '../d' is not a plain database name"},
        {"{\"instance_id\": \"b\", \"db\": \"d\", \"question\": \"q\", \"external_knowledge\": 3}", "bad.jsonl:2: external_knowledge: expected a string"},
        {"{\"instance_id\": \"a\", \"db\": \"d\", \"question\": \"q\"}", "bad.jsonl:2: instance_id 'a' also on line 1"},
        {"{\"instance_id\": \"b\", \"db\": \"d\", \"question\": \"q\", \"instruction\": \"i\"}", "bad.jsonl:2: both question and instruction"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char text[1024];
        snprintf(text, sizeof text, "{\"instance_id\": \"a\", \"db\": \"d\", \"question\": \"q\"}\n%s\n",
                 cases[i].line);
        const char *f = write_tmp("bad.jsonl", text);
        env_tasks ts;
        err_t e;
        CHECK(env_tasks_load(f, NULL, &ts, &e) == -1);
        const char *msg = strstr(e.msg, "bad.jsonl");
        CHECK_MSG(msg && str_starts(msg, cases[i].err), "line %zu: got '%s', want '%s...'", i,
                  e.msg, cases[i].err);
    }
    env_tasks ts;
    err_t e;
    char missing[1100];
    snprintf(missing, sizeof missing, "%s/none.jsonl", test_tmpdir());
    CHECK(env_tasks_load(missing, NULL, &ts, &e) == -1);
    CHECK_CONTAINS(e.msg, "none.jsonl: No such file or directory");
}

TEST(env_tasks_missing_document)
{
    char db[1200], docs[1200];
    snprintf(db, sizeof db, "%s/databases", shared());
    snprintf(docs, sizeof docs, "%s/documents", shared());
    if (!file_exists(db)) {
        test_skip("%s is absent", db);
        return;
    }
    const char *f = write_tmp("docs.jsonl",
                              "{\"instance_id\": \"bq1\", \"db\": \"x\", \"question\": \"q\", "
                              "\"external_knowledge\": \"nowhere.md\"}\n"
                              "{\"instance_id\": \"local1\", \"db\": \"music\", \"question\": \"q\", "
                              "\"external_knowledge\": \"nowhere.md\"}\n");
    env_task_opts o = {.sqlite_dir = db, .documents_dir = docs};
    env_tasks ts;
    err_t e;
    /* the skipped BigQuery task's document is not needed; the runnable one's is */
    CHECK(env_tasks_load(f, &o, &ts, &e) == -1);
    CHECK_CONTAINS(e.msg, "docs.jsonl:2: external_knowledge 'nowhere.md' not found in ");
}
