// Shared-memory race checker: the "racecheck" build, like compute-sanitizer
// --tool racecheck. Kernel translation units are compiled with g++
// -fsanitize=thread but linked WITHOUT libtsan: this file defines the __tsan_*
// entry points that instrumentation calls (linking it turns the checker on; the
// emulator's own files stay uninstrumented). Every byte of the current block's
// shared memory (static and dynamic) keeps its last writer and two readers,
// each with thread, time and PC. Two accesses of different threads, one a write,
// with no __syncthreads between them (or, for two lanes of one warp, no
// __syncwarp both took part in) are a race: the launch fails with a Fault naming
// both source lines (addr2line on the PCs). Kernel TUs: -fsanitize=thread -g
// -gdwarf-4 (binutils 2.40's addr2line misnames the files of g++ 12's DWARF 5).
// Not seen: accesses the compiler does not instrument (libc memcpy calls, e.g.
// at -O0), emulated atomics (not races by definition, so not instrumented).
#include <dlfcn.h>
#include <link.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "block.h"

namespace fp8k {
namespace emu {
namespace {

// pc: a code address in a kernel, or (kLocTag set) a Loc* for cp.async.
constexpr uintptr_t kLocTag = uintptr_t(1) << 63;  // never set in a user-space address
struct Access {
  uintptr_t pc = 0;
  uint64_t clk = 0;
  int tid = -1;
  bool warp_op = false;  // by a warp collective (ldmatrix): every lane took part
};
struct Shadow {
  Access w, r1, r2;  // any reader other than a writer is in r1 or r2
};

// No thread_local here: this module's TLS block is the __shared__ storage.
class Checker final : public RaceCheck {
 public:
  Checker() { g_racecheck = this; }

  // Hot path: called for every instrumented access of any OS thread. Another
  // OS thread never touches the launching thread's regions, so a hit means the
  // access comes from a fiber of the current launch.
  void access(const void* p, size_t n, bool write, uintptr_t pc) {
    const uintptr_t a = (uintptr_t)p;
    for (int r = 0; r < 2; ++r) {
      const uintptr_t off = a - lo_[r].load(std::memory_order_relaxed);
      const uintptr_t len = len_[r].load(std::memory_order_relaxed);
      if (off < len) return check(r, off, std::min<uintptr_t>(off + n, len), write, pc);
    }
  }

  void launch(Block& b, char* tls, size_t tls_size) override {
    set(0, tls, tls_size);
    set(1, b.dyn, b.dyn_size);
    if (last_sync_.size() < (size_t)b.n) last_sync_.resize(b.n, 0);
  }
  void launch_end() override { set(0, nullptr, 0), set(1, nullptr, 0); }
  // The clock never goes back, so shadow state of earlier blocks is simply old.
  void block_start(Block&) override { bar_ = ++clock_; }
  void barrier(Block&) override { bar_ = ++clock_; }
  void syncwarp(Block& b, int warp, unsigned mask) override {
    ++clock_;
    for (int j = 0; j < 32; ++j)
      if (mask >> j & 1 && warp * 32 + j < b.n) last_sync_[warp * 32 + j] = clock_;
  }
  void write(Block& b, Thread& t, const void* p, size_t n, const Loc& loc) override {
    Thread* cur = b.cur;
    b.cur = &t;
    access(p, n, true, (uintptr_t)intern(loc) | kLocTag);
    b.cur = cur;
  }

 private:
  std::atomic<uintptr_t> lo_[2]{}, len_[2]{};
  std::vector<Shadow> shadow_[2];
  std::vector<uint64_t> last_sync_;  // per thread: clock of its last __syncwarp
  std::vector<Loc*> locs_;           // interned cp.async locations (never freed)
  uint64_t clock_ = 0, bar_ = 0;     // bar_: clock of the block's last __syncthreads

  void set(int r, char* p, size_t n) {
    if (shadow_[r].size() < n) shadow_[r].resize(n);
    lo_[r].store((uintptr_t)p, std::memory_order_relaxed);
    len_[r].store(p ? n : 0, std::memory_order_relaxed);
  }

  Loc* intern(const Loc& l) {
    for (Loc* x : locs_)
      if (x->line == l.line && x->file == l.file) return x;
    locs_.push_back(new Loc(l));
    return locs_.back();
  }

  // o happened before the current access of thread t.
  bool ordered(const Block& b, const Access& o, const Thread& t) const {
    if (o.clk < bar_) return true;
    if (o.tid / 32 != t.warp) return false;
    if (b.combining || o.warp_op) return true;  // a warp collective runs once every lane has arrived
    return last_sync_[o.tid] > o.clk && last_sync_[t.id] > o.clk;
  }

  void check(int r, size_t from, size_t to, bool write, uintptr_t pc) {
    Block* b = g_block;
    if (!b || !b->cur || b->error) return;  // after the first race: just run to the fault
    Thread& t = *b->cur;
    auto conflict = [&](const Access& o) { return o.tid >= 0 && o.tid != t.id && !ordered(*b, o, t); };
    for (size_t i = from; i < to; ++i) {
      Shadow& s = shadow_[r][i];
      if (conflict(s.w)) return report(*b, t, r, i, write, pc, s.w, true);
      if (write) {
        if (conflict(s.r1)) return report(*b, t, r, i, write, pc, s.r1, false);
        if (conflict(s.r2)) return report(*b, t, r, i, write, pc, s.r2, false);
        s.w = {pc, clock_, t.id, b->combining};
        s.r1 = s.r2 = Access{};
      } else {
        Access& slot = s.r1.tid < 0 || s.r1.tid == t.id || s.r1.clk < bar_ ? s.r1 : s.r2;
        slot = {pc, clock_, t.id, b->combining};
      }
    }
  }

  // The kernel code that called the hook cannot unwind an exception (the
  // __tsan_* calls are nothrow): store the Fault in b.error, which the scheduler
  // throws as soon as this fiber yields or exits.
  void report(Block& b, Thread& t, int r, size_t off, bool write, uintptr_t pc, const Access& o, bool o_wrote) {
    const std::string mine = where(pc), theirs = where(o.pc);
    char msg[1024];
    snprintf(msg, sizeof msg,
             "racecheck: thread %d %s shared memory %s by thread %d since the last %s (%s at %s, %s at %s)"
             "\n  %s shared memory, byte offset %zu",
             t.id, write ? "writes" : "reads", o_wrote ? "written" : "read", o.tid,
             o.tid / 32 == t.warp ? "__syncthreads or __syncwarp" : "__syncthreads", kind(o.pc, o_wrote),
             theirs.c_str(), kind(pc, write), mine.c_str(), r ? "dynamic" : "static", off);
    const size_t colon = mine.rfind(':');
    const std::string file = colon == std::string::npos ? mine : mine.substr(0, colon);
    const int line = colon == std::string::npos ? 0 : atoi(mine.c_str() + colon + 1);
    try {
      fault_at(b, &t, Loc(file.c_str(), line), msg);
    } catch (...) {
      b.error = std::current_exception();
    }
  }

  static const char* kind(uintptr_t pc, bool write) {
    return !write ? "read" : pc & kLocTag ? "cp.async write" : "write";
  }

  // file:line of a code address, by addr2line (only when a race is reported).
  static std::string where(uintptr_t pc) {
    if (pc & kLocTag) {
      const Loc* l = (const Loc*)(pc & ~kLocTag);
      return std::string(l->file) + ":" + std::to_string(l->line);
    }
    Dl_info info{};
    link_map* lm = nullptr;
    char buf[4096];
    if (!dladdr1((void*)pc, &info, (void**)&lm, RTLD_DL_LINKMAP) || !lm) {
      snprintf(buf, sizeof buf, "pc 0x%" PRIxPTR, pc);
      return buf;
    }
    std::string mod = lm->l_name && *lm->l_name ? lm->l_name : "";
    if (mod.empty()) {  // the main program
      const ssize_t k = readlink("/proc/self/exe", buf, sizeof buf - 1);
      mod = k > 0 ? std::string(buf, k) : "";
    }
    const uintptr_t off = pc - 1 - lm->l_addr;  // pc - 1: inside the call instruction
    std::string out;
    if (mod.find('\'') == std::string::npos) {
      snprintf(buf, sizeof buf, "addr2line -i -e '%s' 0x%" PRIxPTR " 2>/dev/null", mod.c_str(), off);
      if (FILE* f = popen(buf, "r")) {
        if (fgets(buf, sizeof buf, f)) out = buf;  // innermost inlined frame first
        pclose(f);
      }
    }
    out = out.substr(0, out.find_first_of(" \n"));  // drop " (discriminator N)"
    if (out.empty() || out[0] == '?') {
      snprintf(buf, sizeof buf, "%s+0x%" PRIxPTR " (%s)", mod.c_str(), off, info.dli_sname ? info.dli_sname : "?");
      return buf;
    }
    if (getcwd(buf, sizeof buf)) {  // relative to the working directory, as __FILE__ is
      const std::string cwd = std::string(buf) + "/";
      if (out.compare(0, cwd.size(), cwd) == 0) out.erase(0, cwd.size());
    }
    return out;
  }
};

Checker g_checker;

}  // namespace
}  // namespace emu
}  // namespace fp8k

// ---- the entry points of GCC's -fsanitize=thread instrumentation --------------
#define FP8K_RC(n)                                                                                  \
  void __tsan_read##n(void* p) { fp8k::emu::g_checker.access(p, n, false, FP8K_PC); }            \
  void __tsan_write##n(void* p) { fp8k::emu::g_checker.access(p, n, true, FP8K_PC); }            \
  void __tsan_unaligned_read##n(void* p) { fp8k::emu::g_checker.access(p, n, false, FP8K_PC); }  \
  void __tsan_unaligned_write##n(void* p) { fp8k::emu::g_checker.access(p, n, true, FP8K_PC); }  \
  void __tsan_volatile_read##n(void* p) { fp8k::emu::g_checker.access(p, n, false, FP8K_PC); }   \
  void __tsan_volatile_write##n(void* p) { fp8k::emu::g_checker.access(p, n, true, FP8K_PC); }
#define FP8K_PC ((uintptr_t)__builtin_return_address(0))

// Host code of an instrumented TU may use atomics: perform them (seq_cst).
#define FP8K_RC_ATOMIC(n, T)                                                                         \
  T __tsan_atomic##n##_load(const volatile T* a, int) { return __atomic_load_n(a, __ATOMIC_SEQ_CST); } \
  void __tsan_atomic##n##_store(volatile T* a, T v, int) { __atomic_store_n(a, v, __ATOMIC_SEQ_CST); } \
  T __tsan_atomic##n##_exchange(volatile T* a, T v, int) { return __atomic_exchange_n(a, v, __ATOMIC_SEQ_CST); } \
  T __tsan_atomic##n##_fetch_add(volatile T* a, T v, int) { return __atomic_fetch_add(a, v, __ATOMIC_SEQ_CST); } \
  T __tsan_atomic##n##_fetch_sub(volatile T* a, T v, int) { return __atomic_fetch_sub(a, v, __ATOMIC_SEQ_CST); } \
  T __tsan_atomic##n##_fetch_and(volatile T* a, T v, int) { return __atomic_fetch_and(a, v, __ATOMIC_SEQ_CST); } \
  T __tsan_atomic##n##_fetch_or(volatile T* a, T v, int) { return __atomic_fetch_or(a, v, __ATOMIC_SEQ_CST); }   \
  T __tsan_atomic##n##_fetch_xor(volatile T* a, T v, int) { return __atomic_fetch_xor(a, v, __ATOMIC_SEQ_CST); } \
  T __tsan_atomic##n##_fetch_nand(volatile T* a, T v, int) { return __atomic_fetch_nand(a, v, __ATOMIC_SEQ_CST); } \
  int __tsan_atomic##n##_compare_exchange_strong(volatile T* a, T* c, T v, int, int) {                \
    return __atomic_compare_exchange_n(a, c, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);          \
  }                                                                                                  \
  int __tsan_atomic##n##_compare_exchange_weak(volatile T* a, T* c, T v, int, int) {                  \
    return __atomic_compare_exchange_n(a, c, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);          \
  }                                                                                                  \
  T __tsan_atomic##n##_compare_exchange_val(volatile T* a, T c, T v, int, int) {                      \
    __atomic_compare_exchange_n(a, &c, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);                \
    return c;                                                                                        \
  }

extern "C" {
FP8K_RC(1)
FP8K_RC(2)
FP8K_RC(4)
FP8K_RC(8)
FP8K_RC(16)
void __tsan_read_range(void* p, unsigned long n) { fp8k::emu::g_checker.access(p, n, false, FP8K_PC); }
void __tsan_write_range(void* p, unsigned long n) { fp8k::emu::g_checker.access(p, n, true, FP8K_PC); }
void __tsan_init() {}
void __tsan_func_entry(void*) {}
void __tsan_func_exit() {}
void __tsan_vptr_update(void**, void*) {}
void __tsan_vptr_read(void**) {}
FP8K_RC_ATOMIC(8, uint8_t)
FP8K_RC_ATOMIC(16, uint16_t)
FP8K_RC_ATOMIC(32, uint32_t)
FP8K_RC_ATOMIC(64, uint64_t)
void __tsan_atomic_thread_fence(int) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
void __tsan_atomic_signal_fence(int) { __atomic_signal_fence(__ATOMIC_SEQ_CST); }
}
