/* The CSV reader and writer: pandas' rules, and every malformed input
 * reported with file:line. Expected values were checked with pandas. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/env/env.h"
#include "../test.h"

static int parse(const char *csv, env_table *t, err_t *e)
{
    env_table_init(t);
    return env_csv_parse(csv, strlen(csv), "x.csv", t, e);
}

static char *keys(const env_table *t, size_t col, int sorted)
{
    buf_t b;
    buf_init(&b);
    buf_reserve(&b, 1);
    env_column_keys(t, col, sorted, &b);
    return buf_take(&b);
}

TEST(env_csv_types_follow_pandas)
{
    env_table t;
    err_t e;
    /* int64; int with a missing value -> float64; decimals; text; bool */
    CHECK(parse("a,b,c,d,e\n1,1,1.5,x,True\n2,,2,y,false\n", &t, &e) == 0);
    CHECK(t.cols.len == 5 && t.nrows == 2);
    CHECK(t.dtypes[0] == ENV_DT_INT && t.dtypes[1] == ENV_DT_FLOAT && t.dtypes[2] == ENV_DT_FLOAT);
    CHECK(t.dtypes[3] == ENV_DT_OBJECT && t.dtypes[4] == ENV_DT_BOOL);
    CHECK(env_table_cell(&t, 1, 1)->kind == ENV_NULL);
    CHECK(env_table_cell(&t, 0, 4)->kind == ENV_BOOL && env_table_cell(&t, 0, 4)->i == 1);
    /* The frame mixes types, so each column keeps its own: 1 stays "1". */
    char *k = keys(&t, 0, 0);
    CHECK_STR(k, "1\n2");
    free(k);
    k = keys(&t, 1, 0); /* missing -> 0 (an int) */
    CHECK_STR(k, "1.0\n0");
    free(k);
    env_table_free(&t);

    /* All int64 and float64: the frame's values are all floats. */
    CHECK(parse("a,b\n1,2.5\n", &t, &e) == 0);
    k = keys(&t, 0, 0);
    CHECK_STR(k, "1.0");
    free(k);
    env_table_free(&t);

    /* NA tokens (pandas 2 includes None); spaces around numbers; inf. */
    CHECK(parse("a,b,c\nNA,\" 5 \",inf\nNone,6,-Infinity\nnull,7,1e5\n", &t, &e) == 0);
    CHECK(t.dtypes[0] == ENV_DT_FLOAT && t.dtypes[1] == ENV_DT_INT && t.dtypes[2] == ENV_DT_FLOAT);
    CHECK(env_table_cell(&t, 0, 0)->kind == ENV_NULL);
    CHECK(isinf(env_table_cell(&t, 1, 2)->f) && env_table_cell(&t, 1, 2)->f < 0);
    env_table_free(&t);

    /* True/False with a missing value: object, bools kept; a column with
     * other text stays text. */
    CHECK(parse("a,b\nTrue,True\n,yes\nFALSE,1\n", &t, &e) == 0);
    CHECK(t.dtypes[0] == ENV_DT_OBJECT && env_table_cell(&t, 2, 0)->kind == ENV_BOOL);
    CHECK(t.dtypes[1] == ENV_DT_OBJECT && env_table_cell(&t, 0, 1)->kind == ENV_TEXT);
    env_table_free(&t);

    /* Numbers pandas does not take: 1e, 1_0, 0x10, beyond uint64, 1e400. */
    const char *texts[] = {"1e", "1_0", "0x10", "99999999999999999999", "1e400", "5 5", "."};
    for (size_t i = 0; i < ARRAY_LEN(texts); i++) {
        char csv[64];
        snprintf(csv, sizeof csv, "a\n%s\n", texts[i]);
        CHECK(parse(csv, &t, &e) == 0);
        CHECK_MSG(t.dtypes[0] == ENV_DT_OBJECT, "'%s' should stay text", texts[i]);
        env_table_free(&t);
    }
    /* pandas' float converter: 17 digits in a double, then a power of ten. */
    CHECK(parse("a\n213.08749295774646\n.5\n5.\n", &t, &e) == 0);
    k = keys(&t, 0, 0);
    CHECK_STR(k, "213.0874929577465\n0.5\n5.0");
    free(k);
    env_table_free(&t);
}

TEST(env_csv_quotes_lines_and_blanks)
{
    env_table t;
    err_t e;
    /* BOM, CRLF, quoted commas/quotes/newlines, a quote after text, blank
     * and whitespace-only lines skipped, a short row padded. */
    const char *csv = "\xEF\xBB\xBFname,v\r\n\"a,b\",1\r\n\r\n   \n\"say \"\"hi\"\"\",2\n"
                      "\"two\nlines\",3\nab\"c,4\n\"ab\"c,5\nshort\n";
    CHECK(parse(csv, &t, &e) == 0);
    CHECK_STR(t.cols.items[0], "name");
    CHECK(t.nrows == 6);
    CHECK_STR(env_cell_text(&t, env_table_cell(&t, 0, 0)), "a,b");
    CHECK_STR(env_cell_text(&t, env_table_cell(&t, 1, 0)), "say \"hi\"");
    CHECK_STR(env_cell_text(&t, env_table_cell(&t, 2, 0)), "two\nlines");
    CHECK_STR(env_cell_text(&t, env_table_cell(&t, 3, 0)), "ab\"c");
    CHECK_STR(env_cell_text(&t, env_table_cell(&t, 4, 0)), "abc");
    CHECK(t.dtypes[1] == ENV_DT_FLOAT && env_table_cell(&t, 5, 1)->kind == ENV_NULL);
    env_table_free(&t);
    /* header only: no rows, object columns */
    CHECK(parse("a,b\n", &t, &e) == 0);
    CHECK(t.nrows == 0 && t.dtypes[0] == ENV_DT_OBJECT);
    env_table_free(&t);
    /* "" is a missing value; a one-column file of them keeps its rows */
    CHECK(parse("a\n\"\"\n\"\"\n", &t, &e) == 0);
    CHECK(t.nrows == 2 && t.dtypes[0] == ENV_DT_FLOAT);
    env_table_free(&t);
}

TEST(env_csv_malformed_inputs_name_file_and_line)
{
    env_table t;
    err_t e;
    CHECK(parse("a,b\n1,2\n\"open,3\n4,5\n", &t, &e) == -1);
    CHECK_STR(e.msg, "x.csv:3: unterminated quoted field (end of file inside a quote)");
    env_table_free(&t);
    CHECK(parse("a,b\n1,2\n1,2,3\n", &t, &e) == -1);
    CHECK_STR(e.msg, "x.csv:3: 3 fields where the header has 2");
    env_table_free(&t);
    CHECK(parse("", &t, &e) == -1);
    CHECK_STR(e.msg, "x.csv: no header row (an empty CSV file)");
    env_table_free(&t);
    CHECK(parse("\n  \n", &t, &e) == -1);
    env_table_free(&t);
    env_table_init(&t);
    char path[1024];
    snprintf(path, sizeof path, "%s/nope.csv", test_tmpdir());
    CHECK(env_csv_read_file(path, &t, &e) == -1);
    CHECK_CONTAINS(e.msg, "nope.csv: No such file or directory");
    env_table_free(&t);
}

TEST(env_csv_write_as_pandas_writes)
{
    env_table t;
    env_table_init(&t);
    env_table_add_col(&t, "id");
    env_table_add_col(&t, "name, full");
    env_table_add_col(&t, "x");
    env_table_add_col(&t, "flag");
    env_cell *r = env_table_add_row(&t);
    r[0].kind = ENV_INT, r[0].i = 5;
    env_cell_set_text(&t, &r[1], "say \"hi\"", 8);
    r[2].kind = ENV_FLOAT, r[2].f = 1e-5;
    r[3].kind = ENV_BOOL, r[3].i = 1;
    r = env_table_add_row(&t);
    r[0].kind = ENV_INT, r[0].i = 7;
    env_cell_set_text(&t, &r[1], "", 0);
    r[2].kind = ENV_INT, r[2].i = 3;
    r[3].kind = ENV_BOOL, r[3].i = 0;
    buf_t b;
    buf_init(&b);
    env_csv_write(&t, &b);
    CHECK_STR(b.data, "id,\"name, full\",x,flag\n5,\"say \"\"hi\"\"\",1e-05,True\n7,,3.0,False\n");
    env_table_free(&t);

    /* One column: an empty field is written "" (not a blank line); an
     * integer column with a NULL is float64 in that 500-row chunk only. */
    env_table_init(&t);
    env_table_add_col(&t, "n");
    for (int i = 0; i < 501; i++) {
        r = env_table_add_row(&t);
        if (i == 0)
            r[0].kind = ENV_NULL;
        else
            r[0].kind = ENV_INT, r[0].i = i;
    }
    buf_reset(&b);
    env_csv_write(&t, &b);
    CHECK(str_starts(b.data, "n\n\"\"\n1.0\n2.0\n"));
    CHECK(str_ends(b.data, "\n499.0\n500\n"));
    /* and it reads back as pandas would: float64, the NULL missing */
    env_table back;
    err_t e;
    CHECK(parse(b.data, &back, &e) == 0);
    CHECK(back.nrows == 501 && back.dtypes[0] == ENV_DT_FLOAT);
    CHECK(env_table_cell(&back, 0, 0)->kind == ENV_NULL);
    env_table_free(&back);
    env_table_free(&t);
    buf_free(&b);
}

TEST(env_table_from_mcp_json)
{
    json_error_t je;
    json_t *o = json_loads("{\"columns\": [\"a\", \"b\", \"c\", \"d\", \"e\", \"f\"], \"rows\": "
                           "[[1, 2.5, \"x\", null, true, [1, 2]]], \"truncated\": true}",
                           0, &je);
    CHECK(o);
    env_table t;
    env_table_init(&t);
    err_t e;
    CHECK(env_table_from_json(o, &t, &e) == 0);
    CHECK(t.cols.len == 6 && t.nrows == 1 && t.truncated);
    CHECK(env_table_cell(&t, 0, 0)->kind == ENV_INT && env_table_cell(&t, 0, 0)->i == 1);
    CHECK(env_table_cell(&t, 0, 1)->kind == ENV_FLOAT && env_table_cell(&t, 0, 1)->f == 2.5);
    CHECK_STR(env_cell_text(&t, env_table_cell(&t, 0, 2)), "x");
    CHECK(env_table_cell(&t, 0, 3)->kind == ENV_NULL);
    CHECK(env_table_cell(&t, 0, 4)->kind == ENV_BOOL);
    CHECK_STR(env_cell_text(&t, env_table_cell(&t, 0, 5)), "[1,2]");
    buf_t b;
    buf_init(&b);
    env_csv_write(&t, &b);
    CHECK_STR(b.data, "a,b,c,d,e,f\n1,2.5,x,,True,\"[1,2]\"\n");
    buf_free(&b);
    env_table_free(&t);
    json_decref(o);

    static const struct {
        const char *json, *err;
    } bad[] = {
        {"[]", "result: expected an object with columns and rows"},
        {"{\"rows\": []}", "result.columns: expected an array of names"},
        {"{\"columns\": [1], \"rows\": []}", "result.columns[0]: expected a string"},
        {"{\"columns\": [\"a\"]}", "result.rows: expected an array of rows"},
        {"{\"columns\": [\"a\"], \"rows\": [[1, 2]]}", "result.rows[0]: expected an array of 1 values"},
        {"{\"columns\": [\"a\"], \"rows\": [], \"truncated\": 1}", "result.truncated: expected true or false"},
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        o = json_loads(bad[i].json, JSON_DECODE_ANY, &je);
        env_table_init(&t);
        CHECK(env_table_from_json(o, &t, &e) == -1);
        CHECK_STR(e.msg, bad[i].err);
        env_table_free(&t);
        json_decref(o);
    }
}
