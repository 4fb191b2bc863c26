/* Tool arguments checked against the tool's JSON Schema: the subset our
 * tool schemas use (object with typed properties, required members,
 * arrays with typed items). Members the schema does not name are ignored,
 * as FastMCP's pydantic models ignore them. */
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
