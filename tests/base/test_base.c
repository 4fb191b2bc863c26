/* base: Python text forms, UTF-8, buffers, files. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/base/base.h"
#include "../test.h"

static char *float_repr(double v)
{
    buf_t b;
    buf_init(&b);
    py_float_repr(&b, v);
    return buf_take(&b);
}

TEST(base_float_repr_matches_python)
{
    /* Expected strings are what CPython's repr() prints. */
    static const struct {
        double v;
        const char *want;
    } cases[] = {
        {0.1, "0.1"},         {1.5, "1.5"},          {3.0, "3.0"},
        {1e-05, "1e-05"},     {0.0001, "0.0001"},    {1e16, "1e+16"},
        {1e15, "1000000000000000.0"},                {123456789012345678.0, "1.2345678901234568e+17"},
        {-2.5, "-2.5"},       {10.0 / 3, "3.3333333333333335"},
        {1.5e-7, "1.5e-07"},  {1e100, "1e+100"},     {2.2250738585072014e-308, "2.2250738585072014e-308"},
        {5e-324, "5e-324"},   {0.3, "0.3"},          {100.0, "100.0"},
        {1.7976931348623157e308, "1.7976931348623157e+308"},
        {-0.0, "-0.0"},       {0.0, "0.0"},          {12345.678, "12345.678"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char *got = float_repr(cases[i].v);
        CHECK_MSG(strcmp(got, cases[i].want) == 0, "repr(%.17g): got %s want %s", cases[i].v, got,
                  cases[i].want);
        free(got);
    }
    char *s = float_repr(INFINITY);
    CHECK_STR(s, "inf");
    free(s);
    s = float_repr(-INFINITY);
    CHECK_STR(s, "-inf");
    free(s);
    s = float_repr(NAN);
    CHECK_STR(s, "nan");
    free(s);
}

TEST(base_bytes_and_str_repr)
{
    buf_t b;
    buf_init(&b);
    py_bytes_repr(&b, (const unsigned char *)"\x00\xff'", 3);
    CHECK_STR(b.data, "b\"\\x00\\xff'\"");
    buf_reset(&b);
    py_bytes_repr(&b, (const unsigned char *)"a'\"\\\n\t\r\x7f", 8);
    CHECK_STR(b.data, "b'a\\'\"\\\\\\n\\t\\r\\x7f'");
    buf_reset(&b);
    py_bytes_repr(&b, (const unsigned char *)"", 0);
    CHECK_STR(b.data, "b''");
    buf_reset(&b);
    py_str_repr(&b, "it's", 4);
    CHECK_STR(b.data, "\"it's\"");
    buf_reset(&b);
    py_str_repr(&b, "caf\xc3\xa9 \xe2\x80\x8b\x01", 10);
    /* é is printable; U+200B (Cf) and \x01 are escaped as Python does */
    CHECK_STR(b.data, "'caf\xc3\xa9 \\u200b\\x01'");
    buf_reset(&b);
    py_json_str(&b, "Lu\xc3\xads \"q\"\n\xf0\x9f\x98\x80\x7f", 15);
    CHECK_STR(b.data, "\"Lu\\u00eds \\\"q\\\"\\n\\ud83d\\ude00\\u007f\"");
    buf_free(&b);
}

TEST(base_utf8)
{
    CHECK(utf8_valid("abc", 3));
    CHECK(utf8_valid("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9));
    CHECK(!utf8_valid("\xc3", 1));           /* truncated */
    CHECK(!utf8_valid("\xc0\xaf", 2));       /* overlong */
    CHECK(!utf8_valid("\xed\xa0\x80", 3));   /* surrogate */
    CHECK(!utf8_valid("\xf4\x90\x80\x80", 4)); /* above U+10FFFF */
    CHECK(!utf8_valid("\xff", 1));
    CHECK(utf8_count("h\xc3\xa9llo\xf0\x9f\x98\x80", 10) == 6);
    buf_t b;
    buf_init(&b);
    utf8_append_lossy(&b, "a\xffz\xc3", 4);
    CHECK_STR(b.data, "a\xef\xbf\xbdz\xef\xbf\xbd");
    buf_free(&b);
}

TEST(base_buf_and_strlist)
{
    buf_t b;
    buf_init(&b);
    for (int i = 0; i < 1000; i++)
        buf_printf(&b, "%d,", i);
    CHECK(b.len == strlen(b.data));
    CHECK(str_starts(b.data, "0,1,2,"));
    CHECK(str_ends(b.data, "998,999,"));
    /* a formatted piece longer than the internal small buffer */
    buf_reset(&b);
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    buf_printf(&b, "<%s>", big);
    CHECK(b.len == 1001);
    buf_free(&b);
    strlist_t l;
    strlist_init(&l);
    strlist_push(&l, "b");
    strlist_push(&l, "B");
    strlist_push(&l, "a");
    strlist_sort(&l);
    CHECK_STR(l.items[0], "B"); /* byte order, like SQL BINARY */
    CHECK_STR(l.items[2], "b");
    CHECK(strlist_index(&l, "a") == 1);
    CHECK(strlist_index(&l, "z") == -1);
    strlist_free(&l);
    long v;
    CHECK(parse_long("42", &v) == 0 && v == 42);
    CHECK(parse_long("42x", &v) != 0);
    CHECK(parse_long("", &v) != 0);
    CHECK(parse_long("99999999999999999999999", &v) != 0);
}

TEST(base_files_and_sha256)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/atomic.txt", test_tmpdir());
    err_t e;
    CHECK(file_write_atomic(path, "hello", 5, &e) == 0);
    size_t n;
    char *s = file_read(path, &n, &e);
    CHECK(s && n == 5 && !strcmp(s, "hello"));
    free(s);
    CHECK(file_read("/nonexistent/x", &n, &e) == NULL);
    CHECK_CONTAINS(e.msg, "/nonexistent/x");
    sha256_ctx *c = sha256_new();
    sha256_update(c, "abc", 3);
    char hex[65];
    sha256_final_hex(c, hex);
    CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
