/* PostgreSQL values in the text psycopg2 users see: the server's text
 * (DateStyle=ISO, IntervalStyle=postgres, bytea_output=hex) turned into
 * what str() or repr() of psycopg2's Python value prints. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "pg_internal.h"

/* Type OIDs (pg_type.dat); they are fixed for built-in types. */
enum {
    OID_BOOL = 16, OID_BYTEA = 17, OID_CHAR = 18, OID_NAME = 19, OID_INT8 = 20,
    OID_INT2 = 21, OID_INT4 = 23, OID_TEXT = 25, OID_OID = 26, OID_JSON = 114,
    OID_JSON_ARRAY = 199, OID_CIDR_ARRAY = 651, OID_FLOAT4 = 700, OID_FLOAT8 = 701,
    OID_UNKNOWN = 705, OID_BOOL_ARRAY = 1000, OID_BYTEA_ARRAY = 1001, OID_CHAR_ARRAY = 1002,
    OID_NAME_ARRAY = 1003, OID_INT2_ARRAY = 1005, OID_INT2VECTOR_ARRAY = 1006,
    OID_INT4_ARRAY = 1007, OID_TEXT_ARRAY = 1009, OID_OIDVECTOR_ARRAY = 1013,
    OID_BPCHAR_ARRAY = 1014, OID_VARCHAR_ARRAY = 1015, OID_INT8_ARRAY = 1016,
    OID_FLOAT4_ARRAY = 1021, OID_FLOAT8_ARRAY = 1022, OID_OID_ARRAY = 1028,
    OID_MACADDR_ARRAY = 1040, OID_INET_ARRAY = 1041, OID_BPCHAR = 1042, OID_VARCHAR = 1043,
    OID_DATE = 1082, OID_TIME = 1083, OID_TIMESTAMP = 1114, OID_TIMESTAMP_ARRAY = 1115,
    OID_DATE_ARRAY = 1182, OID_TIME_ARRAY = 1183, OID_TIMESTAMPTZ = 1184,
    OID_TIMESTAMPTZ_ARRAY = 1185, OID_INTERVAL = 1186, OID_INTERVAL_ARRAY = 1187,
    OID_NUMERIC_ARRAY = 1231, OID_TIMETZ = 1266, OID_TIMETZ_ARRAY = 1270, OID_NUMERIC = 1700,
    OID_UUID = 2950, OID_UUID_ARRAY = 2951, OID_JSONB = 3802, OID_JSONB_ARRAY = 3807,
    OID_INT4RANGE = 3904, OID_INT4RANGE_ARRAY = 3905, OID_NUMRANGE = 3906,
    OID_NUMRANGE_ARRAY = 3907, OID_TSRANGE = 3908, OID_TSRANGE_ARRAY = 3909,
    OID_TSTZRANGE = 3910, OID_TSTZRANGE_ARRAY = 3911, OID_DATERANGE = 3912,
    OID_DATERANGE_ARRAY = 3913, OID_INT8RANGE = 3926, OID_INT8RANGE_ARRAY = 3927,
};

/* The Python type psycopg2 makes (with SQLAlchemy's register_uuid). */
typedef enum pykind {
    K_RAW,      /* no typecaster: the server's text as a str */
    K_INT,
    K_FLOAT,
    K_DECIMAL,
    K_STR,
    K_BOOL,
    K_BYTES,
    K_DATE,
    K_TIME,     /* time, with tzinfo for timetz */
    K_DATETIME, /* datetime, with tzinfo for timestamptz */
    K_INTERVAL, /* timedelta */
    K_JSON,
    K_UUID,
    K_RANGE_INT,  /* NumericRange of ints */
    K_RANGE_DEC,  /* NumericRange of Decimals */
    K_RANGE_DATE, /* DateRange */
    K_RANGE_TS,   /* DateTimeRange */
    K_RANGE_TSTZ, /* DateTimeTZRange */
} pykind;

/* How a value is shown: mcp-alchemy's format_value() (isoformat() for
 * dates and datetimes, str() otherwise), plain str(), or repr() inside a
 * list or a range. */
typedef enum pymode { M_TOP, M_STR, M_REPR } pymode;

static pykind scalar_kind(uint32_t oid)
{
    switch (oid) {
    case OID_INT2: case OID_INT4: case OID_INT8: case OID_OID: return K_INT;
    case OID_FLOAT4: case OID_FLOAT8: return K_FLOAT;
    case OID_NUMERIC: return K_DECIMAL;
    case OID_BOOL: return K_BOOL;
    case OID_BYTEA: return K_BYTES;
    case OID_CHAR: case OID_NAME: case OID_TEXT: case OID_BPCHAR: case OID_VARCHAR:
    case OID_UNKNOWN: return K_STR;
    case OID_DATE: return K_DATE;
    case OID_TIME: case OID_TIMETZ: return K_TIME;
    case OID_TIMESTAMP: case OID_TIMESTAMPTZ: return K_DATETIME;
    case OID_INTERVAL: return K_INTERVAL;
    case OID_JSON: case OID_JSONB: return K_JSON;
    case OID_UUID: return K_UUID;
    case OID_INT4RANGE: case OID_INT8RANGE: return K_RANGE_INT;
    case OID_NUMRANGE: return K_RANGE_DEC;
    case OID_DATERANGE: return K_RANGE_DATE;
    case OID_TSRANGE: return K_RANGE_TS;
    case OID_TSTZRANGE: return K_RANGE_TSTZ;
    default: return K_RAW;
    }
}

/* Element kind of the array types psycopg2 parses into lists; -1 for
 * the others, which stay text. */
static int array_elem_kind(uint32_t oid)
{
    switch (oid) {
    case OID_INT2_ARRAY: case OID_INT2VECTOR_ARRAY: case OID_INT4_ARRAY: case OID_INT8_ARRAY:
    case OID_OID_ARRAY: case OID_OIDVECTOR_ARRAY: return K_INT;
    case OID_FLOAT4_ARRAY: case OID_FLOAT8_ARRAY: return K_FLOAT;
    case OID_NUMERIC_ARRAY: return K_DECIMAL;
    case OID_BOOL_ARRAY: return K_BOOL;
    case OID_BYTEA_ARRAY: return K_BYTES;
    case OID_CHAR_ARRAY: case OID_NAME_ARRAY: case OID_TEXT_ARRAY: case OID_BPCHAR_ARRAY:
    case OID_VARCHAR_ARRAY: case OID_INET_ARRAY: case OID_CIDR_ARRAY: case OID_MACADDR_ARRAY:
        return K_STR;
    case OID_DATE_ARRAY: return K_DATE;
    case OID_TIME_ARRAY: case OID_TIMETZ_ARRAY: return K_TIME;
    case OID_TIMESTAMP_ARRAY: case OID_TIMESTAMPTZ_ARRAY: return K_DATETIME;
    case OID_INTERVAL_ARRAY: return K_INTERVAL;
    case OID_JSON_ARRAY: case OID_JSONB_ARRAY: return K_JSON;
    case OID_UUID_ARRAY: return K_UUID;
    case OID_INT4RANGE_ARRAY: case OID_INT8RANGE_ARRAY: return K_RANGE_INT;
    case OID_NUMRANGE_ARRAY: return K_RANGE_DEC;
    case OID_DATERANGE_ARRAY: return K_RANGE_DATE;
    case OID_TSRANGE_ARRAY: return K_RANGE_TS;
    case OID_TSTZRANGE_ARRAY: return K_RANGE_TSTZ;
    default: return -1;
    }
}

typedef struct perr {
    char *msg;
    size_t len;
} perr;

static int fail(perr *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(perr *e, const char *fmt, ...)
{
    if (e->msg && e->len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, e->len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Python's floor division and modulo for int64. */
static int64_t floordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

static int64_t floormod(int64_t a, int64_t b)
{
    return a - floordiv(a, b) * b;
}

/* Reads decimal digits at *p (at most 18); -1 if there are none. */
static int64_t read_digits(const char **p, const char *end, int *ndigits)
{
    int64_t v = 0;
    int nd = 0;
    while (*p < end && isdigit((unsigned char)**p) && nd < 18) {
        v = v * 10 + (**p - '0');
        (*p)++;
        nd++;
    }
    if (ndigits)
        *ndigits = nd;
    return nd ? v : -1;
}

/* ---- numbers ---- */

/* str(Decimal(s)) for the server's numeric text: plain notation unless
 * the number is smaller than 1e-6, where Python switches to exponents
 * ("1E-7", "1.0E-7", "0E-7"). */
static void decimal_str(buf_t *out, const char *s, size_t n)
{
    size_t i = 0;
    int neg = 0;
    if (i < n && (s[i] == '-' || s[i] == '+')) {
        neg = s[i] == '-';
        i++;
    }
    if (n - i == 3 && strncmp(s + i, "NaN", 3) == 0) {
        buf_puts(out, "NaN");
        return;
    }
    if (n - i == 8 && strncmp(s + i, "Infinity", 8) == 0) {
        buf_puts(out, neg ? "-Infinity" : "Infinity");
        return;
    }
    /* coefficient digits and exponent */
    buf_t digits;
    buf_init(&digits);
    long exp = 0;
    int seen_dot = 0;
    for (; i < n; i++) {
        char c = s[i];
        if (c == '.') {
            seen_dot = 1;
        } else if (isdigit((unsigned char)c)) {
            buf_putc(&digits, c);
            if (seen_dot)
                exp--;
        } else if (c == 'e' || c == 'E') {
            exp += strtol(s + i + 1, NULL, 10);
            break;
        }
    }
    const char *d = digits.data ? digits.data : "0";
    size_t dl = digits.len;
    while (dl > 1 && *d == '0') {
        d++;
        dl--;
    }
    if (dl == 0) {
        d = "0";
        dl = 1;
    }
    long leftdigits = exp + (long)dl;
    long dotplace = (exp <= 0 && leftdigits > -6) ? leftdigits : 1;
    if (neg)
        buf_putc(out, '-');
    if (dotplace <= 0) {
        buf_puts(out, "0.");
        for (long k = 0; k < -dotplace; k++)
            buf_putc(out, '0');
        buf_append(out, d, dl);
    } else if ((size_t)dotplace >= dl) {
        buf_append(out, d, dl);
        for (long k = 0; k < dotplace - (long)dl; k++)
            buf_putc(out, '0');
    } else {
        buf_append(out, d, (size_t)dotplace);
        buf_putc(out, '.');
        buf_append(out, d + dotplace, dl - (size_t)dotplace);
    }
    if (leftdigits != dotplace)
        buf_printf(out, "E%+ld", leftdigits - dotplace);
    buf_free(&digits);
}

static double parse_double(const char *s, size_t n)
{
    char tmp[64];
    if (n >= sizeof tmp)
        n = sizeof tmp - 1;
    memcpy(tmp, s, n);
    tmp[n] = 0;
    return strtod(tmp, NULL);
}

static int64_t parse_int(const char *s, size_t n)
{
    char tmp[32];
    if (n >= sizeof tmp)
        n = sizeof tmp - 1;
    memcpy(tmp, s, n);
    tmp[n] = 0;
    return strtoll(tmp, NULL, 10);
}

/* ---- dates and times ---- */

typedef struct pg_dt {
    long year;
    int month, day;
    int hour, minute, second, usec;
    int has_tz;
    long tz; /* seconds east of UTC */
} pg_dt;

/* "+HH[:MM[:SS]]" */
static int parse_offset(const char **pp, const char *end, long *out)
{
    const char *p = *pp;
    if (p >= end || (*p != '+' && *p != '-'))
        return -1;
    int sign = *p++ == '-' ? -1 : 1;
    int64_t h = read_digits(&p, end, NULL), m = 0, sec = 0;
    if (h < 0)
        return -1;
    if (p < end && *p == ':') {
        p++;
        m = read_digits(&p, end, NULL);
        if (m < 0)
            return -1;
        if (p < end && *p == ':') {
            p++;
            sec = read_digits(&p, end, NULL);
            if (sec < 0)
                return -1;
        }
    }
    *out = sign * (long)(h * 3600 + m * 60 + sec);
    *pp = p;
    return 0;
}

/* "HH:MM:SS[.ffffff]" */
static int parse_clock(const char **pp, const char *end, pg_dt *dt)
{
    const char *p = *pp;
    int64_t h = read_digits(&p, end, NULL);
    if (h < 0 || p >= end || *p++ != ':')
        return -1;
    int64_t m = read_digits(&p, end, NULL);
    if (m < 0 || p >= end || *p++ != ':')
        return -1;
    int64_t s = read_digits(&p, end, NULL);
    if (s < 0)
        return -1;
    int us = 0;
    if (p < end && *p == '.') {
        p++;
        int nd = 0;
        while (p < end && isdigit((unsigned char)*p)) {
            if (nd < 6)
                us = us * 10 + (*p - '0');
            nd++;
            p++;
        }
        for (; nd < 6; nd++)
            us *= 10;
    }
    dt->hour = (int)h;
    dt->minute = (int)m;
    dt->second = (int)s;
    dt->usec = us;
    *pp = p;
    return 0;
}

static int parse_date_part(const char **pp, const char *end, pg_dt *dt)
{
    const char *p = *pp;
    int64_t y = read_digits(&p, end, NULL);
    if (y < 0 || p >= end || *p++ != '-')
        return -1;
    int64_t m = read_digits(&p, end, NULL);
    if (m < 0 || p >= end || *p++ != '-')
        return -1;
    int64_t d = read_digits(&p, end, NULL);
    if (d < 0)
        return -1;
    dt->year = (long)y;
    dt->month = (int)m;
    dt->day = (int)d;
    *pp = p;
    return 0;
}

static int ends_with_bc(const char *s, size_t n)
{
    return n >= 3 && memcmp(s + n - 3, " BC", 3) == 0;
}

/* Parses a date, time or timestamp of the given kind as psycopg2 does:
 * infinity becomes the largest or smallest value Python has, and years
 * Python cannot hold are errors. */
static int parse_temporal(pykind kind, const char *s, size_t n, pg_dt *dt, perr *e)
{
    memset(dt, 0, sizeof *dt);
    const char *p = s, *end = s + n;
    int inf = 0;
    if (n == 8 && memcmp(s, "infinity", 8) == 0)
        inf = 1;
    else if (n == 9 && memcmp(s, "-infinity", 9) == 0)
        inf = -1;
    if (inf && kind != K_TIME) {
        dt->year = inf > 0 ? 9999 : 1;
        dt->month = inf > 0 ? 12 : 1;
        dt->day = inf > 0 ? 31 : 1;
        if (kind == K_DATETIME && inf > 0) {
            dt->hour = 23;
            dt->minute = 59;
            dt->second = 59;
            dt->usec = 999999;
        }
        return 1; /* caller decides about the tzinfo */
    }
    if (kind == K_DATE || kind == K_DATETIME) {
        if (parse_date_part(&p, end, dt) != 0)
            return fail(e, "unable to parse date '%.*s'", (int)n, s);
        if (ends_with_bc(s, n))
            return fail(e, "year %ld is out of range", -dt->year);
        if (dt->year < 1 || dt->year > 9999)
            return fail(e, "year %ld is out of range", dt->year);
        if (kind == K_DATE)
            return 0;
        if (p >= end || *p++ != ' ')
            return fail(e, "unable to parse timestamp '%.*s'", (int)n, s);
    }
    if (parse_clock(&p, end, dt) != 0)
        return fail(e, "unable to parse time '%.*s'", (int)n, s);
    if (kind == K_TIME && dt->hour == 24)
        dt->hour = 0;
    if (p < end && (*p == '+' || *p == '-')) {
        if (parse_offset(&p, end, &dt->tz) != 0)
            return fail(e, "unable to parse time zone in '%.*s'", (int)n, s);
        dt->has_tz = 1;
    }
    return 0;
}

/* repr(timedelta) of a normalized (days, seconds, microseconds). */
static void timedelta_repr(buf_t *out, int64_t days, int64_t secs, int64_t us)
{
    buf_puts(out, "datetime.timedelta(");
    int any = 0;
    if (days) {
        buf_printf(out, "days=%lld", (long long)days);
        any = 1;
    }
    if (secs) {
        buf_printf(out, "%sseconds=%lld", any ? ", " : "", (long long)secs);
        any = 1;
    }
    if (us) {
        buf_printf(out, "%smicroseconds=%lld", any ? ", " : "", (long long)us);
        any = 1;
    }
    if (!any)
        buf_putc(out, '0');
    buf_putc(out, ')');
}

static void tz_iso(buf_t *out, long tz)
{
    long a = tz < 0 ? -tz : tz;
    buf_printf(out, "%c%02ld:%02ld", tz < 0 ? '-' : '+', a / 3600, a / 60 % 60);
    if (a % 60)
        buf_printf(out, ":%02ld", a % 60);
}

static void tz_repr(buf_t *out, long tz)
{
    if (tz == 0) {
        buf_puts(out, "datetime.timezone.utc");
        return;
    }
    buf_puts(out, "datetime.timezone(");
    timedelta_repr(out, floordiv(tz, 86400), floormod(tz, 86400), 0);
    buf_putc(out, ')');
}

static void clock_iso(buf_t *out, const pg_dt *dt)
{
    buf_printf(out, "%02d:%02d:%02d", dt->hour, dt->minute, dt->second);
    if (dt->usec)
        buf_printf(out, ".%06d", dt->usec);
    if (dt->has_tz)
        tz_iso(out, dt->tz);
}

static void render_temporal(buf_t *out, pykind kind, const pg_dt *dt, pymode mode)
{
    if (mode == M_REPR) {
        if (kind == K_DATE) {
            buf_printf(out, "datetime.date(%ld, %d, %d)", dt->year, dt->month, dt->day);
            return;
        }
        if (kind == K_DATETIME)
            buf_printf(out, "datetime.datetime(%ld, %d, %d, %d, %d", dt->year, dt->month, dt->day,
                       dt->hour, dt->minute);
        else
            buf_printf(out, "datetime.time(%d, %d", dt->hour, dt->minute);
        if (dt->usec)
            buf_printf(out, ", %d, %d", dt->second, dt->usec);
        else if (dt->second)
            buf_printf(out, ", %d", dt->second);
        if (dt->has_tz) {
            buf_puts(out, ", tzinfo=");
            tz_repr(out, dt->tz);
        }
        buf_putc(out, ')');
        return;
    }
    if (kind == K_DATE || kind == K_DATETIME)
        buf_printf(out, "%04ld-%02d-%02d", dt->year, dt->month, dt->day);
    if (kind == K_DATETIME)
        buf_putc(out, mode == M_TOP ? 'T' : ' ');
    if (kind != K_DATE)
        clock_iso(out, dt);
}

/* ---- intervals: timedelta with a month of 30 days and a year of 365 ---- */

typedef struct pg_td {
    int64_t days, secs, us; /* normalized: 0 <= secs < 86400, 0 <= us < 1e6 */
} pg_td;

static int parse_interval(const char *s, size_t n, pg_td *td, perr *e)
{
    const char *p = s, *end = s + n;
    int64_t days = 0, secs = 0, us = 0;
    while (p < end) {
        while (p < end && *p == ' ')
            p++;
        if (p >= end)
            break;
        const char *tok = p;
        int sign = 1;
        if (*p == '-' || *p == '+') {
            sign = *p == '-' ? -1 : 1;
            p++;
        }
        const char *num = p;
        while (p < end && isdigit((unsigned char)*p))
            p++;
        if (p < end && *p == ':') {
            /* time part: H:MM:SS[.ffffff], the hours unbounded */
            pg_dt clock;
            const char *q = num;
            if (parse_clock(&q, end, &clock) != 0)
                return fail(e, "unable to parse interval '%.*s'", (int)n, s);
            int64_t h = parse_int(num, (size_t)(strchr(num, ':') - num));
            int64_t t = h * 3600 + clock.minute * 60 + clock.second;
            secs += sign * t;
            us += sign * clock.usec;
            p = q;
            continue;
        }
        if (p == num)
            return fail(e, "unable to parse interval '%.*s'", (int)n, s);
        int64_t v = sign * parse_int(num, (size_t)(p - num));
        while (p < end && *p == ' ')
            p++;
        const char *unit = p;
        while (p < end && *p != ' ')
            p++;
        if (unit == p)
            return fail(e, "unable to parse interval '%.*s'", (int)n, s);
        if (*unit == 'y')
            days += v * 365;
        else if (*unit == 'm')
            days += v * 30;
        else if (*unit == 'd')
            days += v;
        else
            return fail(e, "unable to parse interval '%.*s'", (int)(p - tok), tok);
    }
    /* timedelta's normalization */
    secs += floordiv(us, 1000000);
    us = floormod(us, 1000000);
    days += floordiv(secs, 86400);
    secs = floormod(secs, 86400);
    if (days > 999999999 || days < -999999999)
        return fail(e, "days=%lld; must have magnitude <= 999999999", (long long)days);
    td->days = days;
    td->secs = secs;
    td->us = us;
    return 0;
}

static void render_interval(buf_t *out, const pg_td *td, pymode mode)
{
    if (mode == M_REPR) {
        timedelta_repr(out, td->days, td->secs, td->us);
        return;
    }
    if (td->days)
        buf_printf(out, "%lld day%s, ", (long long)td->days,
                   (td->days == 1 || td->days == -1) ? "" : "s");
    buf_printf(out, "%lld:%02lld:%02lld", (long long)(td->secs / 3600),
               (long long)(td->secs / 60 % 60), (long long)(td->secs % 60));
    if (td->us)
        buf_printf(out, ".%06lld", (long long)td->us);
}

/* ---- JSON: repr() of what json.loads() returns ---- */

/* psycopg2 hands json/jsonb to json.loads(); we parse with jansson and
 * print the value as Python's repr would (db_json_pyrepr). At the top
 * level a string prints as str() and null is returned as 1 (None). A
 * number jansson cannot hold (an integer beyond 64 bits, which Python
 * keeps exact) leaves the document as the server wrote it. Returns 0, 1
 * for a top-level null, or -1 for text that is not JSON. */
int pg_json_pyrepr(buf_t *out, const char *s, size_t n, int top_level)
{
    json_error_t je;
    json_t *v = json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!v) {
        if (json_error_code(&je) == json_error_numeric_overflow) {
            buf_append(out, s, n);
            return 0;
        }
        return -1;
    }
    int rc = 0;
    if (top_level && json_is_string(v))
        buf_append(out, json_string_value(v), json_string_length(v));
    else if (top_level && json_is_null(v))
        rc = 1;
    else
        db_json_pyrepr(out, v);
    json_decref(v);
    return rc;
}

/* ---- ranges: psycopg2's Range objects ---- */

static int render_scalar(buf_t *out, pykind kind, const char *s, size_t n, pymode mode, perr *e);

static const char *range_class(pykind k)
{
    switch (k) {
    case K_RANGE_DATE: return "DateRange";
    case K_RANGE_TS: return "DateTimeRange";
    case K_RANGE_TSTZ: return "DateTimeTZRange";
    default: return "NumericRange";
    }
}

static pykind range_subtype(pykind k)
{
    switch (k) {
    case K_RANGE_INT: return K_INT;
    case K_RANGE_DEC: return K_DECIMAL;
    case K_RANGE_DATE: return K_DATE;
    default: return K_DATETIME;
    }
}

/* One bound of "[lo,hi)": empty (unbounded), "quoted" or bare. */
static const char *range_bound(const char *p, const char *end, buf_t *val, int *present)
{
    *present = 0;
    buf_reset(val);
    if (p < end && *p == '"') {
        *present = 1;
        p++;
        while (p < end) {
            if (*p == '\\' && p + 1 < end) {
                buf_putc(val, p[1]);
                p += 2;
            } else if (*p == '"' && p + 1 < end && p[1] == '"') {
                buf_putc(val, '"');
                p += 2;
            } else if (*p == '"') {
                p++;
                break;
            } else {
                buf_putc(val, *p++);
            }
        }
        return p;
    }
    const char *start = p;
    while (p < end && *p != ',' && *p != ')' && *p != ']')
        p++;
    if (p > start) {
        *present = 1;
        buf_append(val, start, (size_t)(p - start));
    }
    return p;
}

static int render_range(buf_t *out, pykind kind, const char *s, size_t n, pymode mode, perr *e)
{
    if (n == 5 && memcmp(s, "empty", 5) == 0) {
        if (mode == M_REPR)
            buf_printf(out, "%s(empty=True)", range_class(kind));
        else
            buf_puts(out, "empty");
        return 0;
    }
    const char *p = s, *end = s + n;
    if (n < 3 || (*p != '[' && *p != '('))
        return fail(e, "unable to parse range '%.*s'", (int)n, s);
    char lb = *p++;
    buf_t lo, hi;
    buf_init(&lo);
    buf_init(&hi);
    int has_lo, has_hi, rc = -1;
    p = range_bound(p, end, &lo, &has_lo);
    if (p >= end || *p++ != ',') {
        fail(e, "unable to parse range '%.*s'", (int)n, s);
        goto out;
    }
    p = range_bound(p, end, &hi, &has_hi);
    if (p >= end || (*p != ')' && *p != ']')) {
        fail(e, "unable to parse range '%.*s'", (int)n, s);
        goto out;
    }
    char ub = *p;
    pykind sub = range_subtype(kind);
    pymode bm = mode == M_REPR ? M_REPR : M_STR;
    if (mode == M_REPR)
        buf_printf(out, "%s(", range_class(kind));
    else
        buf_putc(out, lb);
    if (!has_lo)
        buf_puts(out, "None");
    else if (render_scalar(out, sub, lo.data, lo.len, bm, e) != 0)
        goto out;
    buf_puts(out, ", ");
    if (!has_hi)
        buf_puts(out, "None");
    else if (render_scalar(out, sub, hi.data, hi.len, bm, e) != 0)
        goto out;
    if (mode == M_REPR)
        buf_printf(out, ", '%c%c')", lb, ub);
    else
        buf_putc(out, ub);
    rc = 0;
out:
    buf_free(&lo);
    buf_free(&hi);
    return rc;
}

/* ---- one value of a known kind ---- */

static int hexdigit(char c)
{
    return isdigit((unsigned char)c) ? c - '0' : tolower((unsigned char)c) - 'a' + 10;
}

/* bytea's hex output: "\x0a1b..." */
static void hex_decode(buf_t *out, const char *s, size_t n)
{
    size_t i = (n >= 2 && s[0] == '\\' && s[1] == 'x') ? 2 : 0;
    for (; i + 1 < n; i += 2)
        buf_putc(out, (char)(hexdigit(s[i]) * 16 + hexdigit(s[i + 1])));
}

static int render_scalar(buf_t *out, pykind kind, const char *s, size_t n, pymode mode, perr *e)
{
    switch (kind) {
    case K_INT:
        buf_printf(out, "%lld", (long long)parse_int(s, n));
        return 0;
    case K_FLOAT:
        py_float_repr(out, parse_double(s, n));
        return 0;
    case K_DECIMAL:
        if (mode == M_REPR)
            buf_puts(out, "Decimal('");
        decimal_str(out, s, n);
        if (mode == M_REPR)
            buf_puts(out, "')");
        return 0;
    case K_BOOL:
        buf_puts(out, n && s[0] == 't' ? "True" : "False");
        return 0;
    case K_BYTES: {
        buf_t raw;
        buf_init(&raw);
        hex_decode(&raw, s, n);
        py_bytes_repr(out, (const unsigned char *)(raw.data ? raw.data : ""), raw.len);
        buf_free(&raw);
        return 0;
    }
    case K_DATE:
    case K_TIME:
    case K_DATETIME: {
        pg_dt dt;
        int rc = parse_temporal(kind, s, n, &dt, e);
        if (rc < 0)
            return -1;
        render_temporal(out, kind, &dt, mode);
        return 0;
    }
    case K_INTERVAL: {
        pg_td td = {0, 0, 0};
        if (parse_interval(s, n, &td, e) != 0)
            return -1;
        render_interval(out, &td, mode);
        return 0;
    }
    case K_JSON: {
        int rc = pg_json_pyrepr(out, s, n, mode != M_REPR);
        if (rc < 0)
            return fail(e, "invalid JSON from the server: %.*s", (int)(n > 60 ? 60 : n), s);
        if (rc == 1)
            buf_puts(out, "None"); /* only reached inside a range or list */
        return 0;
    }
    case K_UUID:
        if (mode == M_REPR)
            buf_puts(out, "UUID('");
        buf_append(out, s, n);
        if (mode == M_REPR)
            buf_puts(out, "')");
        return 0;
    case K_RANGE_INT:
    case K_RANGE_DEC:
    case K_RANGE_DATE:
    case K_RANGE_TS:
    case K_RANGE_TSTZ:
        return render_range(out, kind, s, n, mode, e);
    case K_STR:
    case K_RAW:
        if (mode == M_REPR)
            py_str_repr(out, s, n);
        else
            buf_append(out, s, n);
        return 0;
    }
    return 0;
}

/* Infinity of a timestamptz keeps a UTC tzinfo in psycopg2. */
static int render_top_temporal(buf_t *out, uint32_t oid, pykind kind, const char *s, size_t n,
                               perr *e)
{
    pg_dt dt;
    int rc = parse_temporal(kind, s, n, &dt, e);
    if (rc < 0)
        return -1;
    if (rc == 1 && oid == OID_TIMESTAMPTZ)
        dt.has_tz = 1;
    render_temporal(out, kind, &dt, M_TOP);
    return 0;
}

/* ---- arrays: "{1,2}", "{{\"a\",NULL}}", "[0:1]={5,6}" into Python lists ---- */

static int array_list(const char **pp, const char *end, pykind ek, buf_t *out, buf_t *tmp,
                      int depth, perr *e)
{
    const char *p = *pp;
    if (depth > 64 || p >= end || *p != '{')
        return fail(e, "malformed array literal from the server");
    p++;
    buf_putc(out, '[');
    int first = 1;
    while (p < end && *p != '}') {
        if (!first) {
            if (*p != ',')
                return fail(e, "malformed array literal from the server");
            p++;
            buf_puts(out, ", ");
        }
        first = 0;
        if (p < end && *p == '{') {
            if (array_list(&p, end, ek, out, tmp, depth + 1, e) != 0)
                return -1;
            continue;
        }
        buf_reset(tmp);
        int quoted = 0;
        if (p < end && *p == '"') {
            quoted = 1;
            p++;
            while (p < end && *p != '"') {
                if (*p == '\\' && p + 1 < end)
                    p++;
                buf_putc(tmp, *p++);
            }
            if (p >= end)
                return fail(e, "malformed array literal from the server");
            p++;
        } else {
            const char *st = p;
            while (p < end && *p != ',' && *p != '}')
                p++;
            buf_append(tmp, st, (size_t)(p - st));
        }
        if (!quoted && tmp->len == 4 && strncasecmp(tmp->data, "NULL", 4) == 0) {
            buf_puts(out, "None");
            continue;
        }
        if (render_scalar(out, ek, tmp->data ? tmp->data : "", tmp->len, M_REPR, e) != 0)
            return -1;
    }
    if (p >= end)
        return fail(e, "malformed array literal from the server");
    p++;
    buf_putc(out, ']');
    *pp = p;
    return 0;
}

static int render_array(buf_t *out, pykind ek, const char *s, size_t n, perr *e)
{
    const char *p = s, *end = s + n;
    if (p < end && *p == '[') {
        const char *eq = memchr(p, '=', n);
        if (!eq)
            return fail(e, "malformed array literal from the server");
        p = eq + 1;
    }
    buf_t tmp;
    buf_init(&tmp);
    int rc = array_list(&p, end, ek, out, &tmp, 0, e);
    buf_free(&tmp);
    return rc;
}

/* ---- the entry point ---- */

int pg_value_from_text(uint32_t oid, const char *s, size_t n, db_value *v, buf_t *scratch,
                       char *err, size_t errlen)
{
    perr e = {err, errlen};
    memset(v, 0, sizeof *v);
    int ek = array_elem_kind(oid);
    pykind k = scalar_kind(oid);
    if (ek < 0) {
        switch (k) {
        case K_INT:
            v->kind = DBV_INT;
            v->i = parse_int(s, n);
            return 0;
        case K_FLOAT:
            v->kind = DBV_FLOAT;
            v->f = parse_double(s, n);
            return 0;
        case K_BOOL:
            v->kind = DBV_BOOL;
            v->i = n && s[0] == 't';
            return 0;
        case K_STR:
        case K_RAW:
        case K_UUID:
            v->kind = DBV_TEXT;
            v->s = s;
            v->len = n;
            return 0;
        default:
            break;
        }
    }
    size_t start = scratch->len;
    int rc;
    if (ek >= 0) {
        rc = render_array(scratch, (pykind)ek, s, n, &e);
        v->kind = DBV_OTHER;
    } else if (k == K_BYTES) {
        hex_decode(scratch, s, n);
        rc = 0;
        v->kind = DBV_BLOB;
    } else if (k == K_JSON) {
        rc = pg_json_pyrepr(scratch, s, n, 1);
        if (rc == 1) {
            v->kind = DBV_NULL; /* json 'null' is Python's None */
            return 0;
        }
        if (rc < 0)
            fail(&e, "invalid JSON from the server: %.*s", (int)(n > 60 ? 60 : n), s);
        v->kind = DBV_OTHER;
    } else if (k == K_DATE || k == K_TIME || k == K_DATETIME) {
        rc = render_top_temporal(scratch, oid, k, s, n, &e);
        v->kind = DBV_OTHER;
    } else {
        rc = render_scalar(scratch, k, s, n, M_TOP, &e);
        v->kind = DBV_OTHER;
    }
    if (rc < 0) {
        scratch->len = start;
        if (scratch->data)
            scratch->data[start] = 0;
        v->kind = DBV_NULL;
        return -1;
    }
    /* make sure scratch->data exists even for an empty text */
    buf_reserve(scratch, 1);
    v->s = NULL;
    v->i = (int64_t)start;
    v->len = scratch->len - start;
    return 0;
}
