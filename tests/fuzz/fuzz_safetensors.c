/* libFuzzer target: arbitrary bytes as a safetensors file image through
 * the header parser and validation (st_parse), then every accepted tensor
 * read back and converted, so an offset that escaped validation would be
 * caught by AddressSanitizer; the same bytes also go to the config.json
 * parser. Run with `make fuzz-safetensors` (FUZZ_SECONDS bounds it). */
#include <stdint.h>
#include <stdlib.h>

#include "../../src/model/hf_config.h"
#include "../../src/model/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static float out[1 << 14];
    st_file f;
    err_t e;
    if (st_parse(&f, data, size, "fuzz", &e) == 0) {
        for (size_t i = 0; i < f.n; i++) {
            const st_tensor *t = &f.tensors[i];
            if (st_find(&f, t->name) != t)
                abort();
            if (t->nbytes <= sizeof out / sizeof *out && (size_t)t->numel <= sizeof out / sizeof *out)
                st_to_f32(t, out, "fuzz", &e);
            /* the first and last byte of every tensor must lie in the input */
            if (t->nbytes && (t->data < data || t->data + t->nbytes > data + size))
                abort();
        }
        st_close(&f);
    }
    hf_config c;
    hf_config_parse(&c, (const char *)data, size, "fuzz", &e);
    return 0;
}
