/* UTF-8 validation and counting. */
#include "base.h"

/* Length of the well-formed sequence at s (at most n bytes), or 0 if the
 * bytes there are not well-formed UTF-8 (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF). */
static size_t seq_len(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2, v = c & 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, v = c & 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, v = c & 0x07, min = 0x10000;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

int utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        size_t k = seq_len(p + i, n - i, &cp);
        if (!k)
            return 0;
        i += k;
    }
    return 1;
}

size_t utf8_count(const char *s, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            count++;
    return count;
}

void utf8_append_lossy(buf_t *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, start = 0;
    while (i < n) {
        uint32_t cp;
        size_t k = p[i] < 0x80 ? 1 : seq_len(p + i, n - i, &cp);
        if (k) {
            i += k;
            continue;
        }
        buf_append(b, s + start, i - start);
        buf_puts(b, "\xEF\xBF\xBD");
        i++;
        start = i;
    }
    buf_append(b, s + start, n - start);
}

/* Decodes one code point of well-formed UTF-8; used by the Python-text
 * helpers, which only see valid text. */
size_t utf8_decode(const char *s, size_t n, uint32_t *cp)
{
    size_t k = seq_len((const unsigned char *)s, n, cp);
    if (!k) {
        *cp = (unsigned char)s[0];
        k = 1;
    }
    return k;
}
