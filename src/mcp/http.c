/* Placeholder until the Streamable HTTP transport lands. */
#include "mcp.h"

int mcp_http_serve(mcp_server *s, const mcp_http_options *o, err_t *e)
{
    (void)s, (void)o;
    return err_set(e, "the HTTP transport is not built in");
}

void mcp_http_stop(void)
{
}
