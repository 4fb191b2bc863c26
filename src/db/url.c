/* SQLAlchemy-style database URLs:
 *   dialect[+driver]://[user[:password]@][host][:port][/database][?k=v&...]
 * parsed as sqlalchemy.engine.make_url does, so the DB_URL values users
 * already have mean the same thing here. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Percent-decoding; with plus_space, '+' means ' ' (query strings). */
static char *pct_decode(const char *s, size_t n, int plus_space)
{
    buf_t b;
    buf_init(&b);
    buf_reserve(&b, n);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 &&
            hexval(s[i + 2]) >= 0) {
            buf_putc(&b, (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2])));
            i += 2;
        } else if (plus_space && s[i] == '+')
            buf_putc(&b, ' ');
        else
            buf_putc(&b, s[i]);
    }
    return buf_take(&b);
}

void db_url_free(db_url *u)
{
    free(u->dialect);
    free(u->driver);
    free(u->user);
    free(u->password);
    free(u->host);
    free(u->database);
    strlist_free(&u->qkeys);
    strlist_free(&u->qvals);
    memset(u, 0, sizeof *u);
}

const char *db_url_query(const db_url *u, const char *key)
{
    int i = strlist_index(&u->qkeys, key);
    return i < 0 ? NULL : u->qvals.items[i];
}

static int parse_url(const char *s, db_url *u, err_t *e)
{
    memset(u, 0, sizeof *u);
    strlist_init(&u->qkeys);
    strlist_init(&u->qvals);

    const char *sep = strstr(s, "://");
    if (!sep || sep == s)
        return err_set(e, "DB_URL '%s' is not a database URL (expected dialect://..., "
                          "for example sqlite:///file.db)", s);
    for (const char *p = s; p < sep; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '+')
            return err_set(e, "DB_URL '%s': bad dialect name", s);
    const char *plus = memchr(s, '+', (size_t)(sep - s));
    u->dialect = xstrndup(s, (size_t)((plus ? plus : sep) - s));
    for (char *p = u->dialect; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    if (plus)
        u->driver = xstrndup(plus + 1, (size_t)(sep - plus - 1));

    const char *rest = sep + 3;
    /* The query starts at the first '?'; the database at the first '/'
     * before it. */
    const char *q = strchr(rest, '?');
    const char *end = q ? q : rest + strlen(rest);
    const char *slash = memchr(rest, '/', (size_t)(end - rest));
    const char *auth_end = slash ? slash : end;

    /* user:password@ - the last '@' before the path separates it, since
     * passwords may contain '@' when users do not percent-encode them. */
    const char *at = NULL;
    for (const char *p = rest; p < auth_end; p++)
        if (*p == '@')
            at = p;
    const char *hostpart = rest;
    if (at) {
        const char *colon = memchr(rest, ':', (size_t)(at - rest));
        if (colon) {
            u->user = pct_decode(rest, (size_t)(colon - rest), 0);
            u->password = pct_decode(colon + 1, (size_t)(at - colon - 1), 0);
        } else {
            u->user = pct_decode(rest, (size_t)(at - rest), 0);
        }
        hostpart = at + 1;
    }
    /* host[:port], host may be [ipv6] */
    const char *hp_end = auth_end;
    const char *port = NULL;
    if (hostpart < hp_end && *hostpart == '[') {
        const char *close = memchr(hostpart, ']', (size_t)(hp_end - hostpart));
        if (!close)
            return err_set(e, "DB_URL '%s': unterminated [ipv6] host", s);
        u->host = xstrndup(hostpart + 1, (size_t)(close - hostpart - 1));
        if (close + 1 < hp_end) {
            if (close[1] != ':')
                return err_set(e, "DB_URL '%s': unexpected text after ]", s);
            port = close + 2;
        }
    } else {
        const char *colon = memchr(hostpart, ':', (size_t)(hp_end - hostpart));
        const char *h_end = colon ? colon : hp_end;
        if (h_end > hostpart)
            u->host = pct_decode(hostpart, (size_t)(h_end - hostpart), 0);
        if (colon)
            port = colon + 1;
    }
    if (port && port < hp_end) {
        char tmp[16];
        size_t n = (size_t)(hp_end - port);
        long v;
        if (n >= sizeof tmp)
            return err_set(e, "DB_URL '%s': bad port", s);
        memcpy(tmp, port, n);
        tmp[n] = 0;
        if (parse_long(tmp, &v) != 0 || v < 0 || v > 65535)
            return err_set(e, "DB_URL '%s': bad port '%s'", s, tmp);
        u->port = (int)v;
    }
    if (slash)
        u->database = xstrndup(slash + 1, (size_t)(end - slash - 1));
    if (u->database && !*u->database) {
        free(u->database);
        u->database = NULL;
    }
    if (q) {
        const char *p = q + 1;
        while (*p) {
            const char *amp = strchr(p, '&');
            const char *pe = amp ? amp : p + strlen(p);
            if (pe > p) {
                const char *eq = memchr(p, '=', (size_t)(pe - p));
                char *k = pct_decode(p, (size_t)((eq ? eq : pe) - p), 1);
                char *v = eq ? pct_decode(eq + 1, (size_t)(pe - eq - 1), 1) : xstrdup("");
                strlist_push(&u->qkeys, k);
                strlist_push(&u->qvals, v);
                free(k);
                free(v);
            }
            p = amp ? amp + 1 : pe;
        }
    }
    return 0;
}

int db_url_parse(const char *s, db_url *u, err_t *e)
{
    /* a URL refused half way leaves nothing allocated */
    if (parse_url(s, u, e) != 0) {
        db_url_free(u);
        return -1;
    }
    return 0;
}
