// The GEMM peers of `fp8kit bench gemm`, built by the bench where the library is installed (one
// binary per peer, so a missing one only drops its own rows), and run as a child process:
//   gemm_peer M N K reps   ->   one line: {"impl": "...", "ms": [t1, t2, ...]}
// PEER_DNNL: oneDNN's bf16 matmul (bf16 A and B, f32 D; B reordered once into the layout the
// primitive asks for, as a server would keep its weights), Debian libdnnl-dev.
// PEER_OPENBLAS: OpenBLAS sgemm, f32 row-major D = A·Bᵀ, Debian libopenblas-dev.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <chrono>
#include <string>
#include <vector>

#ifdef PEER_DNNL
#include <oneapi/dnnl/dnnl.hpp>
#endif
#ifdef PEER_OPENBLAS
#include <cblas.h>
#endif

static double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

int main(int argc, char** argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: gemm_peer M N K reps\n");
    return 2;
  }
  const long M = atol(argv[1]), N = atol(argv[2]), K = atol(argv[3]), reps = atol(argv[4]);
  std::vector<double> ms;
  std::string impl;
  uint32_t s = 1;
  auto next = [&]() { return (float)((s = s * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f; };
#ifdef PEER_DNNL
  using namespace dnnl;
  engine eng(engine::kind::cpu, 0);
  stream str(eng);
  const memory::desc a_md({M, K}, memory::data_type::bf16, memory::format_tag::ab);
  const memory::desc b_plain({K, N}, memory::data_type::bf16, memory::format_tag::ab);
  const memory::desc b_any({K, N}, memory::data_type::bf16, memory::format_tag::any);
  const memory::desc d_md({M, N}, memory::data_type::f32, memory::format_tag::ab);
  const matmul::primitive_desc pd(matmul::desc(a_md, b_any, d_md), eng);
  impl = std::string("oneDNN ") + std::to_string(dnnl_version()->major) + "." + std::to_string(dnnl_version()->minor) + "." +
         std::to_string(dnnl_version()->patch) + " bf16 matmul (" + pd.impl_info_str() + ")";
  memory a(a_md, eng), b0(b_plain, eng), b(pd.weights_desc(), eng), d(d_md, eng);
  auto fill = [&](memory& m, size_t n) {
    uint16_t* p = static_cast<uint16_t*>(m.get_data_handle());
    for (size_t i = 0; i < n; i++) {
      float f = next();
      uint32_t u;
      memcpy(&u, &f, 4);
      p[i] = (uint16_t)(u >> 16);
    }
  };
  fill(a, (size_t)M * K);
  fill(b0, (size_t)K * N);
  reorder(b0, b).execute(str, b0, b);
  str.wait();
  matmul mm(pd);
  auto run = [&]() {
    mm.execute(str, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, d}});
    str.wait();
  };
#elif defined(PEER_OPENBLAS)
  std::vector<float> a((size_t)M * K), b((size_t)N * K), d((size_t)M * N);
  for (auto& x : a) x = next();
  for (auto& x : b) x = next();
  impl = std::string("OpenBLAS sgemm (") + openblas_get_config() + ", core " + openblas_get_corename() + ")";
  auto run = [&]() { cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, a.data(), K, b.data(), K, 0.0f, d.data(), N); };
#else
#error "build with -DPEER_DNNL or -DPEER_OPENBLAS"
#endif
  run();  // warm-up
  for (long r = 0; r < reps; r++) {
    const auto t0 = std::chrono::steady_clock::now();
    run();
    ms.push_back(ms_since(t0));
  }
  printf("{\"impl\": \"");
  for (char c : impl) printf(c == '"' || c == '\\' ? "\\%c" : "%c", c);
  printf("\", \"ms\": [");
  for (size_t i = 0; i < ms.size(); i++) printf("%s%.4f", i ? ", " : "", ms[i]);
  printf("]}\n");
  return 0;
}
