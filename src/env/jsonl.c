/* env_jsonl_each: the JSON-lines files of Spider 2.0 and of retrain
 * (env.h). */
#include <stdlib.h>
#include <string.h>

#include "env.h"

int env_jsonl_each(const char *path, env_jsonl_fn fn, void *ctx, err_t *e)
{
    size_t len;
    char *text = file_read(path, &len, e);
    if (!text)
        return -1;
    int rc = 0, line = 0;
    for (char *s = text, *nl; rc == 0 && s < text + len; s = nl + 1) {
        line++;
        nl = memchr(s, '\n', (size_t)(text + len - s));
        if (!nl)
            nl = text + len;
        size_t n = (size_t)(nl - s);
        while (n && (s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        if (!n)
            continue;
        char where[4200];
        snprintf(where, sizeof where, "%s:%d", path, line);
        json_error_t je;
        json_t *obj = json_loadb(s, n, 0, &je);
        if (!obj || !json_is_object(obj))
            rc = err_set(e, "%s: not a JSON object (%s)", where,
                         obj ? "another JSON value" : je.text);
        else
            rc = fn(obj, where, line, ctx, e);
        json_decref(obj);
    }
    free(text);
    return rc;
}
