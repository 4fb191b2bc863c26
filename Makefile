# retrain: one Makefile. `make` builds ./retrain, `make test` runs every
# test and ends with "N passed, N failed", `make asan` runs the same tests
# under AddressSanitizer + UndefinedBehaviorSanitizer, `make fuzz` runs each
# fuzzer (tests/fuzz/fuzz_*.c) for a bounded time, `make bench` the MCP and
# tokenizer benchmarks, `make bench-kernels` the matrix-product kernels
# against OpenBLAS/PyTorch.

CC      ?= gcc
PKGS     = jansson libmicrohttpd libpq sqlite3 libcrypto libpcre2-8 libutf8proc libcurl
# Recursive (=) so pkg-config runs after the deps step has installed them.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS))
WARN     = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
# -fopenmp-simd: `#pragma omp simd` vectorises the model's loops; it links no
# OpenMP runtime. -fno-math-errno: sqrtf and friends in those loops become
# vector instructions (nothing here reads errno after a math function).
BASE_CFLAGS = -std=c11 -D_GNU_SOURCE -fopenmp-simd -fno-math-errno $(WARN) -g -MMD -MP $(PKG_CFLAGS)
LIBS     = $(PKG_LIBS) -ldl -lpthread -lm

MODE    ?= release
ifeq ($(MODE),asan)
  OPT = -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
else
  OPT = -O2
endif
B = build/$(MODE)

SRC      = $(sort $(wildcard src/*/*.c))
MAIN_SRC = src/cli/main.c
LIB_SRC  = $(filter-out $(MAIN_SRC),$(SRC))
TEST_SRC = $(filter-out tests/fuzz/%,$(sort $(wildcard tests/*/*.c))) tests/main.c
LIB_OBJ  = $(LIB_SRC:%.c=$(B)/%.o)
TEST_OBJ = $(TEST_SRC:%.c=$(B)/%.o)

.PHONY: all deps test asan fuzz bench bench-kernels bench-train clean check-build serve demo

all: deps
	@$(MAKE) --no-print-directory check-build MODE=release
	@cp $(B)/retrain ./retrain

deps:
	@scripts/install-deps --quiet

check-build: $(B)/retrain $(B)/test-runner

$(B)/retrain: $(B)/$(MAIN_SRC:.c=.o) $(LIB_OBJ)
	$(CC) $(OPT) -o $@ $^ $(LIBS)

$(B)/test-runner: $(TEST_OBJ) $(LIB_OBJ)
	$(CC) $(OPT) -o $@ $^ $(LIBS)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(OPT) -c -o $@ $<

test: all
	@tests/run-all build/release

# The main job: the demo (a database, a model from scratch, a warm start,
# GRPO through MCP, held-out accuracy, a report) in retrain-demo/.
DEMO_ARGS ?=
demo: all
	./retrain demo $(DEMO_ARGS)

# Serve a database over MCP (Streamable HTTP at
# http://127.0.0.1:8000/mcp, where the guide's configs point).
DB_URL ?= sqlite:///$(abspath ../shared/spider2/databases/chinook.sqlite)
serve: all
	DB_URL='$(DB_URL)' MCP_DB_READ_ONLY=$${MCP_DB_READ_ONLY:-1} ./retrain mcp-db --http 127.0.0.1:8000

asan: deps
	@$(MAKE) --no-print-directory check-build MODE=asan
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
		tests/run-all build/asan

# libFuzzer needs clang. Each tests/fuzz/fuzz_NAME.c is a target:
# `make fuzz-NAME` runs it for FUZZ_SECONDS on a corpus seeded from
# tests/fuzz/seeds/NAME/, `make fuzz` runs them all, one after the other.
# fuzz_mcp feeds arbitrary bytes to the MCP message handler, fuzz_tokenizer
# to the tokenizer.json loader (and encodes with what loads), fuzz_safetensors
# to the safetensors header and config.json parsers.
FUZZ_SECONDS ?= 60
FUZZ_NAMES   = $(patsubst tests/fuzz/fuzz_%.c,%,$(sort $(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_TARGETS = $(addprefix fuzz-,$(FUZZ_NAMES))
FUZZ_CFLAGS  = -std=c11 -D_GNU_SOURCE -fopenmp-simd -Wno-pass-failed -g -O1 \
               -fsanitize=fuzzer,address,undefined
.PHONY: $(FUZZ_TARGETS)

fuzz: deps
	@for n in $(FUZZ_NAMES); do $(MAKE) --no-print-directory fuzz-$$n || exit 1; done

$(FUZZ_TARGETS): fuzz-%: deps
	@$(MAKE) --no-print-directory build/fuzz/fuzz-$*
	@mkdir -p build/fuzz/corpus-$*
	@cp tests/fuzz/seeds/$*/* build/fuzz/corpus-$*/ 2>/dev/null || true
	build/fuzz/fuzz-$* -max_total_time=$(FUZZ_SECONDS) -max_len=65536 build/fuzz/corpus-$*

build/fuzz/fuzz-%: tests/fuzz/fuzz_%.c $(LIB_SRC)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) $(PKG_CFLAGS) -o $@ $^ $(LIBS)

$(B)/bench-mcp: $(B)/bench/mcp_bench.o $(B)/tests/support/proc.o $(LIB_OBJ)
	$(CC) $(OPT) -o $@ $^ $(LIBS)

$(B)/bench-tokenizer: $(B)/bench/tokenizer_bench.o $(LIB_OBJ)
	$(CC) $(OPT) -o $@ $^ $(LIBS)

$(B)/transformer-bench: $(B)/bench/transformer_bench.o $(B)/bench/bench_util.o $(LIB_OBJ)
	$(CC) $(OPT) -o $@ $^ $(LIBS)

$(B)/train-bench: $(B)/bench/train_bench.o $(B)/bench/bench_util.o $(LIB_OBJ)
	$(CC) $(OPT) -o $@ $^ $(LIBS)

bench: all
	@bench/run
	@bench/tokenizer

# Only this benchmark links OpenBLAS (its peer); nothing else needs it.
OPENBLAS_CFLAGS = $(shell pkg-config --cflags openblas 2>/dev/null)
OPENBLAS_LIBS   = $(shell pkg-config --libs openblas 2>/dev/null)
$(B)/bench/kernels_bench.o: BASE_CFLAGS += $(OPENBLAS_CFLAGS)

$(B)/bench-kernels: $(B)/bench/kernels_bench.o $(LIB_OBJ)
	$(CC) $(OPT) -o $@ $^ $(LIBS) $(OPENBLAS_LIBS)

# Training throughput against PyTorch (needs python3-torch and libopenblas0-openmp).
bench-train: all
	@scripts/install-deps --bench-blas --quiet
	bench/train_run

BENCH_ARGS ?=
bench-kernels: all
	@scripts/install-deps --bench-blas --quiet
	@$(MAKE) --no-print-directory $(B)/bench-kernels
	$(B)/bench-kernels $(BENCH_ARGS)

clean:
	rm -rf build retrain

-include $(shell find build -name '*.d' 2>/dev/null)
