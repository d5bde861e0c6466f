// Shared by the inline-PTX wrappers. Each wrapper body is
//   #if defined(__CUDA_ARCH__)   the asm (device pass of nvcc)
//   #elif !defined(__CUDACC__)   the emulation (g++ against native/emu)
//   #endif                       nothing in nvcc's host pass, which never runs it
// Under the emulator every wrapper takes a trailing defaulted source location,
// so faults name the kernel line that called it.
#pragma once
#include <stdint.h>
#if defined(__CUDACC__)
#define FP8K_PTX_DEV __device__ __forceinline__
#define FP8K_PTX_LOC
#else
#include "../../emu/cuda_emu.h"
#define FP8K_PTX_DEV inline
#define FP8K_PTX_LOC , ::fp8k::emu::Loc loc = {}
#endif
