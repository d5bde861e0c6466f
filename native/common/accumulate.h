// SPEC §4 'limited': the Hopper FP8 tensor-core accumulator model, shared by every backend that
// offers the mode, so that all of them give the same bits.
#pragma once
#include <math.h>

#include "hd.h"

// One step of at most 32 products. `terms` are exact (each fits in a double); returns the new
// accumulator: E is the largest binary exponent among the nonzero products and the accumulator, every
// one of them is truncated toward zero to a multiple of 2^(E - bits + 1), and their sum (exact in a
// double: fewer than 2^(bits + 6) units) is rounded to f32. A step whose products are all zero leaves
// the accumulator as it is.
FP8K_HD float fp8k_limited_step(float acc, const double* terms, int n, int bits) {
  int e = -100000;
  for (int i = 0; i < n; i++)
    if (terms[i] != 0.0) {
      const int ti = ilogb(terms[i]);
      e = ti > e ? ti : e;
    }
  if (e == -100000) return acc;
  if (acc != 0.0f) {
    const int ea = ilogb((double)acc);
    e = ea > e ? ea : e;
  }
  const int unit = e - bits + 1;
  double sum = ldexp(trunc(ldexp((double)acc, -unit)), unit);
  for (int i = 0; i < n; i++) sum += ldexp(trunc(ldexp(terms[i], -unit)), unit);
  return (float)sum;
}
