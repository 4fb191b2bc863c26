/* retrain generate: a model directory with a real tokenizer, the
 * continuation PyTorch computed (tests/ref/make_models.py, chat model). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../support/proc.h"
#include "../test.h"

static json_t *expected(void)
{
    char p[4300];
    snprintf(p, sizeof p, "%s/tests/fixtures/models/chat/expected_generate.json", test_root());
    return json_load_file(p, 0, NULL);
}

/* Runs retrain generate with args; stdout into *out, exit status back. */
/* `retrain generate ARGS`; *out without the newline that ends the text */
static int run(char *const args[], char **out, char **err)
{
    int rc = retrain_run("generate", args, out, err, 30000);
    size_t n = *out ? strlen(*out) : 0;
    if (n && (*out)[n - 1] == '\n')
        (*out)[n - 1] = 0;
    return rc;
}

TEST(generate_matches_pytorch_greedy)
{
    json_t *exp = expected();
    CHECK(exp != NULL);
    char dir[4300];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/models/chat", test_root());
    char *out, *err;
    /* plain text: the prompt's bytes, then 24 greedy tokens */
    char *a1[] = {dir, "--prompt", "SELECT name FROM", "--max-new-tokens", "24", NULL};
    CHECK(run(a1, &out, &err) == 0);
    CHECK_STR(out, json_string_value(json_object_get(json_object_get(exp, "plain"), "text")));
    free(out);
    free(err);
    /* --chat renders a ChatML user turn and the assistant's start */
    char *a2[] = {dir, "--prompt", "List the tables.", "--chat", "--max-new-tokens", "24", NULL};
    CHECK(run(a2, &out, &err) == 0);
    CHECK_STR(out, json_string_value(json_object_get(json_object_get(exp, "chat"), "text")));
    free(out);
    free(err);
    /* a stop string ends the text right after it */
    const char *plain = json_string_value(json_object_get(json_object_get(exp, "plain"), "text"));
    char stop[8];
    memcpy(stop, plain, 3);
    stop[3] = 0;
    char *a3[] = {dir, "--prompt", "SELECT name FROM", "--max-new-tokens", "24", "--stop", stop, NULL};
    CHECK(run(a3, &out, &err) == 0);
    CHECK_STR(out, stop);
    free(out);
    free(err);
    /* the same seed gives the same sample; bf16 weights still run */
    char *a4[] = {dir, "--prompt", "x", "--temperature", "1.0", "--seed", "7",
                  "--max-new-tokens", "8", NULL};
    char *o1, *o2;
    CHECK(run(a4, &o1, &err) == 0);
    free(err);
    CHECK(run(a4, &o2, &err) == 0);
    free(err);
    CHECK_STR(o1, o2);
    free(o1);
    free(o2);
    char *a5[] = {dir, "--prompt", "x", "--bf16", "--max-new-tokens", "4", NULL};
    CHECK(run(a5, &out, &err) == 0);
    free(out);
    free(err);
    json_decref(exp);
}

TEST(generate_bad_input_is_one_clear_line)
{
    char dir[4300], fixture[4300];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/models/chat", test_root());
    snprintf(fixture, sizeof fixture, "%s/tests/fixtures/models/gpt2", test_root());
    static const char *const want[] = {
        "needs MODEL_DIR and --prompt",
        "--temperature needs a number",
        "/nonexistent",
        "tokenizer", /* a model directory without tokenizer files */
        "--chat-format must be chatml, llama3 or dialogpt",
        "looks like a Hugging Face hub name",
    };
    char *cases[][8] = {
        {dir, NULL},
        {dir, "--prompt", "x", "--temperature", "hot", NULL},
        {"/nonexistent", "--prompt", "x", NULL},
        {fixture, "--prompt", "x", NULL},
        {dir, "--prompt", "x", "--chat-format", "alpaca", NULL},
        {"Qwen/Qwen2.5-0.5B", "--prompt", "x", NULL},
    };
    for (size_t i = 0; i < ARRAY_LEN(want); i++) {
        char *out, *err;
        int rc = run(cases[i], &out, &err);
        CHECK_MSG(rc == 2, "case %zu: exit %d", i, rc);
        CHECK_CONTAINS(err, want[i]);
        CHECK_MSG(strchr(err, '\n') == err + strlen(err) - 1, "not one line: %s", err);
        CHECK_STR(out, "");
        free(out);
        free(err);
    }
}

/* --db: one episode on a database through its MCP server's tools; the
 * output is the episode after the prompt. */
TEST(generate_as_an_agent_on_a_database)
{
    char dir[4300], demo[4300], url[4400];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/models/chat", test_root());
    snprintf(demo, sizeof demo, "%s/agent-demo", test_tmpdir());
    char *dargs[] = {"demo-data", demo, "--train", "5", "--eval", "1", "--sft", "1", NULL};
    char *out = NULL, *err = NULL;
    CHECK_MSG(retrain_run(NULL, dargs, &out, &err, 60000) == 0, "%s", err);
    free(out);
    free(err);
    snprintf(url, sizeof url, "sqlite:///%s/demo.sqlite", demo);
    char *args[] = {dir, "--db", url, "--prompt", "How many customers are there?", "--max-steps",
                    "2", "--max-new-tokens", "12", NULL};
    int rc = run(args, &out, &err);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, err);
    CHECK_CONTAINS(out, "task 0, sample 0: ");
    CHECK_CONTAINS(out, "--- model, turn 1 (");
    CHECK_MSG(!strstr(out, "--- prompt"), "the prompt is printed: %s", out);
    free(out);
    free(err);
    /* a database that is not there; a wire format that is not one */
    char *bad1[] = {dir, "--db", "sqlite:////nonexistent/x.sqlite", "--prompt", "q", NULL};
    char *bad2[] = {dir, "--db", url, "--prompt", "q", "--wire", "xml", NULL};
    char **bad[] = {bad1, bad2};
    const char *want[] = {"nonexistent", "--wire must be spider2 or hermes"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        rc = run(bad[i], &out, &err);
        CHECK_MSG(rc == 2 && strstr(err, want[i]), "case %zu: exit %d: %s", i, rc, err);
        CHECK_MSG(strchr(err, '\n') == err + strlen(err) - 1, "not one line: %s", err);
        free(out);
        free(err);
    }
}
