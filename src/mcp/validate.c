/* Tool arguments checked against the tool's JSON Schema: the subset our
 * tool schemas use (object with typed properties, required members,
 * arrays with typed items). Members the schema does not name are ignored,
 * as FastMCP's pydantic models ignore them. */
#include <stdlib.h>
#include <string.h>

#include "mcp.h"

static const char *json_type_name(json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    default:
        return "null";
    }
}

static int type_ok(const char *want, json_t *v)
{
    if (!strcmp(want, "string"))
        return json_is_string(v);
    if (!strcmp(want, "integer"))
        return json_is_integer(v);
    if (!strcmp(want, "number"))
        return json_is_number(v);
    if (!strcmp(want, "boolean"))
        return json_is_boolean(v);
    if (!strcmp(want, "object"))
        return json_is_object(v);
    if (!strcmp(want, "array"))
        return json_is_array(v);
    if (!strcmp(want, "null"))
        return json_is_null(v);
    return 1;
}

static int is_required(json_t *req, const char *k)
{
    for (size_t i = 0; i < json_array_size(req); i++)
        if (!strcmp(json_string_value(json_array_get(req, i))
                        ? json_string_value(json_array_get(req, i))
                        : "",
                    k))
            return 1;
    return 0;
}

/* Checks v against schema; *slot may be replaced by a parsed value when
 * an object or array came as JSON text. path names v in messages. */
static int check(json_t *schema, json_t **slot, const char *path, buf_t *why)
{
    json_t *v = *slot;
    const char *want = json_string_value(json_object_get(schema, "type"));
    if (!want)
        return 0;
    if (!type_ok(want, v)) {
        if (json_is_string(v) && (!strcmp(want, "object") || !strcmp(want, "array"))) {
            json_t *parsed = json_loads(json_string_value(v), 0, NULL);
            if (parsed && type_ok(want, parsed)) {
                *slot = parsed;
                v = parsed;
                goto typed;
            }
            json_decref(parsed);
        }
        int vowel = strchr("aeiou", want[0]) != NULL;
        buf_printf(why, "'%s' must be %s %s, got %s", path, vowel ? "an" : "a", want,
                   json_type_name(v));
        return -1;
    }
typed:
    if (json_is_array(v)) {
        json_t *items = json_object_get(schema, "items");
        for (size_t i = 0; items && i < json_array_size(v); i++) {
            json_t *item = json_array_get(v, i), *orig = item;
            char sub[256];
            snprintf(sub, sizeof sub, "%s[%zu]", path, i);
            int rc = check(items, &item, sub, why);
            if (item != orig)
                json_array_set_new(v, i, item);
            if (rc)
                return -1;
        }
    }
    if (json_is_object(v)) {
        json_t *req = json_object_get(schema, "required");
        for (size_t i = 0; i < json_array_size(req); i++) {
            const char *k = json_string_value(json_array_get(req, i));
            if (k && !json_object_get(v, k)) {
                if (path[0])
                    buf_printf(why, "'%s.%s' is required", path, k);
                else
                    buf_printf(why, "'%s' is required", k);
                return -1;
            }
        }
        json_t *props = json_object_get(schema, "properties");
        const char *k;
        json_t *ps;
        json_object_foreach(props, k, ps)
        {
            json_t *member = json_object_get(v, k);
            if (!member)
                continue;
            /* An optional member given as null means "not given": agents
             * often write params: null. */
            if (json_is_null(member) && !is_required(req, k)) {
                json_object_del(v, k);
                continue;
            }
            json_t *orig = member;
            char sub[256];
            snprintf(sub, sizeof sub, "%s%s%s", path, path[0] ? "." : "", k);
            int rc = check(ps, &member, sub, why);
            if (member != orig)
                json_object_set_new(v, k, member);
            if (rc)
                return -1;
        }
    }
    return 0;
}

int mcp_validate_args(json_t *schema, json_t *args, buf_t *why)
{
    if (!json_is_object(args)) {
        buf_printf(why, "arguments must be an object, got %s", json_type_name(args));
        return -1;
    }
    json_t *slot = args;
    return check(schema, &slot, "", why);
}

/* ---- the client's check: strict, never changes the arguments ---- */

/* "integer" also takes 3.0 (JSON Schema counts a number by its value). */
static int strict_type_ok(const char *want, json_t *v)
{
    if (!strcmp(want, "integer") && json_is_real(v)) {
        double d = json_real_value(v);
        return d == (double)(long long)d;
    }
    return type_ok(want, v);
}

/* type may be one name or an array of names. */
static int types_ok(json_t *type, json_t *v, buf_t *names)
{
    if (json_is_string(type)) {
        buf_puts(names, json_string_value(type));
        return strict_type_ok(json_string_value(type), v);
    }
    int ok = 0;
    for (size_t i = 0; i < json_array_size(type); i++) {
        const char *t = json_string_value(json_array_get(type, i));
        if (!t)
            continue;
        buf_printf(names, "%s%s", i ? " or " : "", t);
        ok |= strict_type_ok(t, v);
    }
    return ok || !json_is_array(type) || json_array_size(type) == 0;
}

static int strict_check(json_t *schema, json_t *v, const char *path, buf_t *why)
{
    if (!json_is_object(schema))
        return 0;
    json_t *type = json_object_get(schema, "type");
    if (type) {
        buf_t names;
        buf_init(&names);
        int ok = types_ok(type, v, &names);
        if (!ok) {
            int vowel = names.data && strchr("aeiou", names.data[0]) != NULL;
            buf_printf(why, "'%s' must be %s %s, got %s", path[0] ? path : "arguments",
                       vowel ? "an" : "a", names.data ? names.data : "?", json_type_name(v));
        }
        buf_free(&names);
        if (!ok)
            return -1;
    }
    json_t *en = json_object_get(schema, "enum");
    if (json_is_array(en)) {
        int found = 0;
        for (size_t i = 0; i < json_array_size(en) && !found; i++)
            found = json_equal(json_array_get(en, i), v);
        if (!found) {
            char *allowed = json_dumps(en, JSON_COMPACT);
            buf_printf(why, "'%s' must be one of %s", path[0] ? path : "arguments",
                       allowed ? allowed : "[]");
            free(allowed);
            return -1;
        }
    }
    if (json_is_array(v)) {
        json_t *items = json_object_get(schema, "items");
        for (size_t i = 0; json_is_object(items) && i < json_array_size(v); i++) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s[%zu]", path, i);
            if (strict_check(items, json_array_get(v, i), sub, why))
                return -1;
        }
    }
    if (json_is_object(v)) {
        json_t *req = json_object_get(schema, "required");
        for (size_t i = 0; i < json_array_size(req); i++) {
            const char *k = json_string_value(json_array_get(req, i));
            if (k && !json_object_get(v, k)) {
                buf_printf(why, "'%s%s%s' is required", path, path[0] ? "." : "", k);
                return -1;
            }
        }
        json_t *props = json_object_get(schema, "properties");
        json_t *extra = json_object_get(schema, "additionalProperties");
        const char *k;
        json_t *member;
        json_object_foreach(v, k, member) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s%s%s", path, path[0] ? "." : "", k);
            json_t *ps = json_object_get(props, k);
            if (ps) {
                if (strict_check(ps, member, sub, why))
                    return -1;
            } else if (json_is_false(extra)) {
                buf_printf(why, "'%s' is not an allowed argument", sub);
                const char *pk;
                json_t *pv;
                int first = 1;
                json_object_foreach(props, pk, pv) {
                    buf_printf(why, "%s%s", first ? " (allowed: " : ", ", pk);
                    first = 0;
                }
                if (!first)
                    buf_putc(why, ')');
                return -1;
            } else if (json_is_object(extra)) {
                if (strict_check(extra, member, sub, why))
                    return -1;
            }
        }
    }
    return 0;
}

int mcp_check_args(json_t *schema, json_t *args, buf_t *why)
{
    if (!json_is_object(args)) {
        buf_printf(why, "arguments must be an object, got %s", json_type_name(args));
        return -1;
    }
    return strict_check(schema, args, "", why);
}
