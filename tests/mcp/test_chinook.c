/* The four tools on the real chinook database of Spider 2.0, compared
 * byte for byte with what mcp-alchemy prints. The expectations are
 * mcp-alchemy's own test expectations (its tests use the same Chinook
 * data under CamelCase table names; this copy names them in lower case). */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../support/tool.h"
#include "../test.h"

static int chinook_copy(char *path, size_t n)
{
    char src[4200];
    snprintf(src, sizeof src, "%s/../shared/spider2/databases/chinook.sqlite", test_root());
    if (!file_exists(src)) {
        test_skip("%s is absent", src);
        return -1;
    }
    snprintf(path, n, "%s/chinook-copy.sqlite", test_tmpdir());
    size_t len;
    char *data = file_read(src, &len, NULL);
    err_t e;
    int rc = data ? file_write_atomic(path, data, len, &e) : -1;
    free(data);
    return rc;
}

static int open_chinook(tool_env *t, const mcp_db_config *cfg, char *path, size_t n)
{
    if (chinook_copy(path, n) != 0)
        return -1;
    char url[4300];
    snprintf(url, sizeof url, "sqlite:///%s", path);
    return tool_env_open(t, url, NULL, cfg);
}

static char *fixture(const char *name)
{
    char p[4300];
    snprintf(p, sizeof p, "%s/tests/fixtures/%s", test_root(), name);
    return file_read(p, NULL, NULL);
}

static const char *SCHEMA =
    "customers:\n"
    "    CustomerId: primary key, INTEGER, primary_key=1\n"
    "    FirstName: NVARCHAR(40)\n"
    "    LastName: NVARCHAR(20)\n"
    "    Company: NVARCHAR(80), nullable\n"
    "    Address: NVARCHAR(70), nullable\n"
    "    City: NVARCHAR(40), nullable\n"
    "    State: NVARCHAR(40), nullable\n"
    "    Country: NVARCHAR(40), nullable\n"
    "    PostalCode: NVARCHAR(10), nullable\n"
    "    Phone: NVARCHAR(24), nullable\n"
    "    Fax: NVARCHAR(24), nullable\n"
    "    Email: NVARCHAR(60)\n"
    "    SupportRepId: INTEGER, nullable\n"
    "\n"
    "    Relationships:\n"
    "      SupportRepId -> employees.EmployeeId\n"
    "tracks:\n"
    "    TrackId: primary key, INTEGER, primary_key=1\n"
    "    Name: NVARCHAR(200)\n"
    "    AlbumId: INTEGER, nullable\n"
    "    MediaTypeId: INTEGER\n"
    "    GenreId: INTEGER, nullable\n"
    "    Composer: NVARCHAR(220), nullable\n"
    "    Milliseconds: INTEGER\n"
    "    Bytes: INTEGER, nullable\n"
    "    UnitPrice: NUMERIC(10, 2)\n"
    "\n"
    "    Relationships:\n"
    "      MediaTypeId -> media_types.MediaTypeId\n"
    "      GenreId -> genres.GenreId\n"
    "      AlbumId -> albums.AlbumId";

TEST(chinook_tools_match_mcp_alchemy)
{
    char path[4300];
    tool_env t;
    if (open_chinook(&t, NULL, path, sizeof path) != 0)
        return;
    int err;
    char *s = tool_call(&t, "all_table_names", "{}", &err);
    CHECK_STR(s, "albums, artists, customers, employees, genres, invoice_items, invoices, "
                 "media_types, playlist_track, playlists, tracks");
    free(s);
    s = tool_call(&t, "filter_table_names", "{\"q\": \"a\"}", &err);
    CHECK_STR(s, "albums, artists, media_types, playlist_track, playlists, tracks");
    free(s);
    s = tool_call(&t, "schema_definitions", "{\"table_names\": [\"customers\", \"tracks\"]}", &err);
    CHECK_STR(s, SCHEMA);
    free(s);
    s = tool_call(&t, "execute_query", "{\"query\": \"SELECT * FROM albums LIMIT 2\"}", &err);
    CHECK_STR(s, "1. row\nAlbumId: 1\nTitle: For Those About To Rock We Salute You\nArtistId: 1\n\n"
                 "2. row\nAlbumId: 2\nTitle: Balls to the Wall\nArtistId: 2\n\nResult: 2 rows");
    free(s);
    s = tool_call(&t, "execute_query", "{\"query\": \"SELECT * FROM customers\"}", &err);
    char *base = fixture("chinook_customers_first15.txt");
    CHECK(base != NULL);
    buf_t want;
    buf_init(&want);
    buf_printf(&want, "%s\nResult: showing first 15 rows (output truncated)", base);
    CHECK_STR(s, want.data);
    free(s);
    s = tool_call(&t, "execute_query", "{\"query\": \"SELECT * FROM customers WHERE id=1\"}", &err);
    CHECK_STR(s, "Error: (sqlite3.OperationalError) no such column: id\n"
                 "[SQL: SELECT * FROM customers WHERE id=1]\n"
                 "(Background on this error at: https://sqlalche.me/e/20/e3q8)");
    free(s);
    s = tool_call(&t, "execute_query",
                  "{\"query\": \"SELECT * FROM albums WHERE AlbumId=:AlbumId\", \"params\": "
                  "{\"AlbumId\": 5}}",
                  &err);
    CHECK_STR(s, "1. row\nAlbumId: 5\nTitle: Big Ones\nArtistId: 3\n\nResult: 1 rows");
    free(s);
    s = tool_call(&t, "execute_query",
                  "{\"query\": \"SELECT * FROM albums WHERE AlbumId=:AlbumId\", \"params\": "
                  "{\"AlbumId\": -1}}",
                  &err);
    CHECK_STR(s, "No rows returned");
    free(s);
    s = tool_call(&t, "execute_query",
                  "{\"query\": \"UPDATE albums SET AlbumId=:AlbumId WHERE AlbumId=:AlbumId\", "
                  "\"params\": {\"AlbumId\": -1}}",
                  &err);
    CHECK_STR(s, "Success: 0 rows affected");
    free(s);
    s = tool_call(&t, "execute_query", "{\"query\": \"ZOOP BOOP LOOP\"}", &err);
    CHECK_STR(s, "Error: (sqlite3.OperationalError) near \"ZOOP\": syntax error\n"
                 "[SQL: ZOOP BOOP LOOP]\n"
                 "(Background on this error at: https://sqlalche.me/e/20/e3q8)");
    free(s);
    /* the connection line of every description */
    char *r = tool_rpc(&t, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}");
    char line[4500];
    snprintf(line, sizeof line, "Connected to sqlite version %s database %s.", sqlite3_libversion(),
             path);
    CHECK_CONTAINS(r, line);
    free(r);
    tool_env_close(&t);

    /* EXECUTE_QUERY_MAX_CHARS=100 */
    mcp_db_config small = {.max_chars = 100};
    CHECK(open_chinook(&t, &small, path, sizeof path) == 0);
    s = tool_call(&t, "execute_query", "{\"query\": \"SELECT * FROM albums LIMIT 2\"}", &err);
    CHECK_STR(s, "1. row\nAlbumId: 1\nTitle: For Those About To Rock We Salute You\nArtistId: 1\n\n"
                 "Result: showing first 1 rows (output truncated)");
    free(s);
    tool_env_close(&t);

    /* CLAUDE_LOCAL_FILES_PATH: the same file name (the SHA-256 of
     * json.dumps of the rows) that mcp-alchemy's test expects */
    char dir[4300];
    snprintf(dir, sizeof dir, "%s/claude-local-files", test_tmpdir());
    CHECK(mkdir(dir, 0755) == 0);
    mcp_db_config files = {.max_chars = 4000, .local_files_path = dir};
    CHECK(open_chinook(&t, &files, path, sizeof path) == 0);
    s = tool_call(&t, "execute_query", "{\"query\": \"SELECT * FROM customers\"}", &err);
    buf_reset(&want);
    buf_printf(&want,
               "%s\nResult: 59 rows (output truncated)\nFull result set url: "
               "https://cdn.jsdelivr.net/pyodide/claude-local-files/"
               "38d911af2df61f48ae5850491aaa32aff40569233d6aa2a870960a45108067ff.json (format: "
               "[[row1_value1, row1_value2, ...], [row2_value1, row2_value2, ...], ...]]) (ALWAYS "
               "prefer fetching this url in artifacts instead of hardcoding the values if at all "
               "possible)",
               base);
    CHECK_STR(s, want.data);
    free(s);
    char json_path[4500];
    snprintf(json_path, sizeof json_path,
             "%s/38d911af2df61f48ae5850491aaa32aff40569233d6aa2a870960a45108067ff.json", dir);
    size_t n;
    char *json = file_read(json_path, &n, NULL);
    CHECK(json && str_starts(json, "[[\"1\", \"Lu\\u00eds\", \"Gon\\u00e7alves\", \"Embraer"));
    free(json);
    r = tool_rpc(&t, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}");
    CHECK_CONTAINS(r, "characters. Claude Desktop may fetch the full result set via an url for "
                      "analysis and artifacts. IMPORTANT:");
    free(r);
    tool_env_close(&t);
    buf_free(&want);
    free(base);
}
