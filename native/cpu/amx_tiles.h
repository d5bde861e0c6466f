// The AMX tile configuration (the 64-byte struct _tile_loadconfig takes) that gemm/amx.cc and the
// peak microbenchmark (peak.cc) both use: palette 1, tiles 0-7 each 16 rows of 64 bytes.
#pragma once
#include <stdint.h>

struct alignas(64) TileConfig {
  uint8_t palette, start_row, reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};

inline TileConfig tiles_16x64() {
  TileConfig cfg{};
  cfg.palette = 1;
  for (int i = 0; i < 8; i++) {
    cfg.rows[i] = 16;
    cfg.colsb[i] = 64;
  }
  return cfg;
}
