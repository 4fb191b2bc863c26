# The PyTorch side of bench-kernels: times the same matrix products with
# torch (2 threads) and prints "R index seconds" per shape (median per call).
# Run by bench-kernels as performance.md's "config D": OpenMP OpenBLAS,
# OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset.
#   /usr/bin/python3 kernels_torch.py [--min-seconds S] op:M:N:K:copies ...
# op: nt (F.linear: x[M,K] @ W[N,K]^T), nt_bf16 (the same with x and W in
#     bfloat16), nn (dY[M,K] @ W[K,N]), tn (A[K,M]^T @ B[K,N]), skip.
# copies > 1: the weights are cycled through that many copies, so each call
# reads them from DRAM as a decode step does.
import os
import sys
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(int(os.environ.get("NT", "2")))
torch.manual_seed(0)

args = sys.argv[1:]
min_seconds = 0.5
if len(args) >= 2 and args[0] == "--min-seconds":
    min_seconds = float(args[1])
    args = args[2:]

blas = os.environ.get("LD_LIBRARY_PATH", "system libblas")
print("# torch %s, %d threads, BLAS from %s" % (torch.__version__, torch.get_num_threads(), blas))
sys.stdout.flush()

for idx, spec in enumerate(args):
    op, M, N, K, copies = spec.split(":")
    M, N, K, copies = int(M), int(N), int(K), int(copies)
    if op == "skip":
        continue
    dtype = torch.bfloat16 if op == "nt_bf16" else torch.float32
    if op == "tn":
        a = torch.randn(K, M)
        ws = [torch.randn(K, N) for _ in range(copies)]
        fn = lambda w: torch.mm(a.t(), w)
    elif op == "nn":
        a = torch.randn(M, K)
        ws = [torch.randn(K, N) for _ in range(copies)]
        fn = lambda w: torch.mm(a, w)
    else:
        a = torch.randn(M, K)
        ws = [torch.randn(N, K).to(dtype) for _ in range(copies)]
        if dtype == torch.bfloat16:
            fn = lambda w: F.linear(a.to(torch.bfloat16), w)
        else:
            fn = lambda w: F.linear(a, w)
    with torch.no_grad():
        for w in ws:
            fn(w)
        times = []
        start = time.perf_counter()
        n = 0
        while n < 3 or time.perf_counter() - start < min_seconds:
            t0 = time.perf_counter()
            fn(ws[n % copies])
            times.append(time.perf_counter() - t0)
            n += 1
    times.sort()
    print("R %d %.9f" % (idx, times[len(times) // 2]))
    sys.stdout.flush()
    del ws
