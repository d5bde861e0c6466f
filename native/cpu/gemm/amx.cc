// Placeholder until the AMX tier lands: the vdpbf16ps tier.
#include "tiers.h"
namespace fp8k::cpu {
void promoted_amx(const fp8k_gemm* p, const uint8_t* a, const float* sa, const PackedB& b, const float* c, void* d) { promoted_bf16(p, a, sa, b, c, d); }
}  // namespace fp8k::cpu
