/* Python's text forms of values (repr of float, bytes and str; json.dumps
 * of str). The MCP database tools print values the way mcp-alchemy, a
 * Python program, prints them, so clients see the same bytes. */
#include "base.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

void py_float_repr(buf_t *b, double v)
{
    if (isnan(v)) {
        buf_puts(b, "nan");
        return;
    }
    if (isinf(v)) {
        buf_puts(b, v < 0 ? "-inf" : "inf");
        return;
    }
    if (v == 0) {
        buf_puts(b, signbit(v) ? "-0.0" : "0.0");
        return;
    }
    /* The shortest correctly rounded digit string that reads back as v is
     * what Python's repr (David Gay's mode 0) prints. Any decimal of at
     * most 15 significant digits survives a trip through a double
     * (DBL_DIG), so if the shortest form has <= 15 digits it is the 15-digit
     * rounding without its trailing zeros; otherwise 16 or 17 digits. */
    char tmp[40];
    int prec;
    for (prec = fabs(v) < DBL_MIN ? 1 : 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    const char *p = tmp;
    int neg = 0;
    if (*p == '-')
        neg = 1, p++;
    char digits[24];
    int nd = 0;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            digits[nd++] = *p;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = 0;
    int exp10 = atoi(p + 1);
    int decpt = exp10 + 1; /* value = 0.digits * 10^decpt */
    if (neg)
        buf_putc(b, '-');
    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0) {
            buf_puts(b, "0.");
            for (int i = 0; i < -decpt; i++)
                buf_putc(b, '0');
            buf_append(b, digits, (size_t)nd);
        } else if (decpt >= nd) {
            buf_append(b, digits, (size_t)nd);
            for (int i = nd; i < decpt; i++)
                buf_putc(b, '0');
            buf_puts(b, ".0");
        } else {
            buf_append(b, digits, (size_t)decpt);
            buf_putc(b, '.');
            buf_append(b, digits + decpt, (size_t)(nd - decpt));
        }
    } else {
        buf_putc(b, digits[0]);
        if (nd > 1) {
            buf_putc(b, '.');
            buf_append(b, digits + 1, (size_t)(nd - 1));
        }
        int e = decpt - 1;
        buf_printf(b, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    }
}

/* Python picks single quotes unless the text has a single quote and no
 * double quote. */
static char pick_quote(const char *s, size_t n)
{
    if (!n)
        return '\'';
    return memchr(s, '\'', n) && !memchr(s, '"', n) ? '"' : '\'';
}

void py_bytes_repr(buf_t *b, const unsigned char *p, size_t n)
{
    char q = pick_quote((const char *)p, n);
    buf_putc(b, 'b');
    buf_putc(b, q);
    for (size_t i = 0; i < n; i++) {
        unsigned c = p[i];
        if (c == (unsigned char)q || c == '\\')
            buf_putc(b, '\\'), buf_putc(b, (char)c);
        else if (c == '\t')
            buf_puts(b, "\\t");
        else if (c == '\n')
            buf_puts(b, "\\n");
        else if (c == '\r')
            buf_puts(b, "\\r");
        else if (c < 0x20 || c >= 0x7f)
            buf_printf(b, "\\x%02x", c);
        else
            buf_putc(b, (char)c);
    }
    buf_putc(b, q);
}

/* str.isprintable() for one code point: everything but the "Other" and
 * "Separator" categories, except the ASCII space. */
static int py_printable(uint32_t cp)
{
    if (cp == ' ')
        return 1;
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
    case UTF8PROC_CATEGORY_ZS:
        return 0;
    default:
        return 1;
    }
}

void py_str_repr(buf_t *b, const char *s, size_t n)
{
    char q = pick_quote(s, n);
    buf_putc(b, q);
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t k = utf8_decode(s + i, n - i, &cp);
        if (cp == (uint32_t)q || cp == '\\')
            buf_putc(b, '\\'), buf_putc(b, (char)cp);
        else if (cp == '\t')
            buf_puts(b, "\\t");
        else if (cp == '\n')
            buf_puts(b, "\\n");
        else if (cp == '\r')
            buf_puts(b, "\\r");
        else if (cp < 0x7f && cp >= 0x20)
            buf_putc(b, (char)cp);
        else if (py_printable(cp))
            buf_append(b, s + i, k);
        else if (cp < 0x100)
            buf_printf(b, "\\x%02x", cp);
        else if (cp < 0x10000)
            buf_printf(b, "\\u%04x", cp);
        else
            buf_printf(b, "\\U%08x", cp);
        i += k;
    }
    buf_putc(b, q);
}

void py_json_str(buf_t *b, const char *s, size_t n)
{
    buf_putc(b, '"');
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t k = utf8_decode(s + i, n - i, &cp);
        switch (cp) {
        case '"': buf_puts(b, "\\\""); break;
        case '\\': buf_puts(b, "\\\\"); break;
        case '\n': buf_puts(b, "\\n"); break;
        case '\r': buf_puts(b, "\\r"); break;
        case '\t': buf_puts(b, "\\t"); break;
        case '\b': buf_puts(b, "\\b"); break;
        case '\f': buf_puts(b, "\\f"); break;
        default:
            if (cp >= 0x20 && cp < 0x7f)
                buf_putc(b, (char)cp);
            else if (cp < 0x10000)
                buf_printf(b, "\\u%04x", cp);
            else {
                uint32_t v = cp - 0x10000;
                buf_printf(b, "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
            }
        }
        i += k;
    }
    buf_putc(b, '"');
}
