// Scalar stand-ins for the AMX tile instructions native/cpu/gemm/amx.cc uses, so that its layouts
// (tile shapes, strides, pair order, padding) can be checked on a CPU without AMX. Each instruction
// checks what the hardware would fault on (no configuration, a tile used past its configured shape)
// and aborts with a message. TDPBF16PS is computed as Intel's pseudocode states it: per k pair the
// even product, then the odd one, added to the f32 accumulator with a rounding after each. The hardware
// does not round after every product (on the Intel machine 1 + two products of 2^-24 gave 1 + 2^-23,
// this emulation 1), so this checks layouts and SPEC's bar, not the hardware's bits.
#pragma once
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

namespace amx_emu {

struct State {
  bool configured = false;
  uint8_t rows[8] = {};
  uint16_t colsb[8] = {};
  alignas(64) uint8_t tmm[8][16][64];
};
inline thread_local State st;
inline thread_local long dp_count = 0;

[[noreturn]] inline void fault(const char* what, int t) {
  fprintf(stderr, "amx emulation: %s (tmm%d)\n", what, t);
  abort();
}

inline void check(int t) {
  if (!st.configured) fault("tile instruction without a loaded configuration", t);
  if (t < 0 || t > 7 || st.rows[t] == 0 || st.colsb[t] == 0) fault("tile not configured", t);
}

inline void loadconfig(const void* cfg) {
  const uint8_t* c = static_cast<const uint8_t*>(cfg);
  if (c[0] != 1) fault("palette must be 1", -1);
  for (int t = 0; t < 8; t++) {
    st.colsb[t] = (uint16_t)(c[16 + 2 * t] | c[17 + 2 * t] << 8);
    st.rows[t] = c[48 + t];
    if (st.rows[t] > 16 || st.colsb[t] > 64 || st.colsb[t] % 4) fault("configuration out of palette 1's limits", t);
  }
  st.configured = true;
}

inline void release() { st.configured = false; }

inline void zero(int t) {
  check(t);
  memset(st.tmm[t], 0, sizeof st.tmm[t]);
}

inline void load(int t, const void* base, size_t stride) {
  check(t);
  for (int r = 0; r < st.rows[t]; r++) memcpy(st.tmm[t][r], static_cast<const uint8_t*>(base) + r * stride, st.colsb[t]);
}

inline void store(int t, void* base, size_t stride) {
  check(t);
  for (int r = 0; r < st.rows[t]; r++) memcpy(static_cast<uint8_t*>(base) + r * stride, st.tmm[t][r], st.colsb[t]);
}

inline float bf16(const uint8_t* p) {
  const uint32_t u = (uint32_t)(p[0] | p[1] << 8) << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

// C[m][n] += Σ_k A[m][2k]·B[k][2n] + A[m][2k+1]·B[k][2n+1], k over B's rows.
inline void dp(int c, int a, int b) {
  check(c), check(a), check(b);
  if (st.rows[c] != st.rows[a] || st.colsb[c] != st.colsb[b] || st.rows[b] * 4 != st.colsb[a]) fault("TDPBF16PS tile shapes disagree", c);
  for (int m = 0; m < st.rows[c]; m++)
    for (int n = 0; n < st.colsb[c] / 4; n++) {
      float acc;
      memcpy(&acc, &st.tmm[c][m][4 * n], 4);
      for (int k = 0; k < st.rows[b]; k++) {
        acc += bf16(&st.tmm[a][m][4 * k]) * bf16(&st.tmm[b][k][4 * n]);
        acc += bf16(&st.tmm[a][m][4 * k + 2]) * bf16(&st.tmm[b][k][4 * n + 2]);
      }
      memcpy(&st.tmm[c][m][4 * n], &acc, 4);
    }
  dp_count++;
}

}  // namespace amx_emu

#define amx_loadconfig(cfg) amx_emu::loadconfig(cfg)
#define amx_release() amx_emu::release()
#define amx_zero(t) amx_emu::zero(t)
#define amx_load(t, base, stride) amx_emu::load(t, base, stride)
#define amx_store(t, base, stride) amx_emu::store(t, base, stride)
#define amx_dp(c, a, b) amx_emu::dp(c, a, b)
