// The per-block scheduler: runs each CUDA thread as a fiber until it waits at a
// barrier or a warp collective, releases barriers, and turns every way a block
// can go wrong (partial or divergent barrier, bad warp mask, deadlock, an
// exception in the kernel) into a Fault with source lines.
#include <dlfcn.h>
#include <link.h>

#include <algorithm>
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

#include "block.h"
#include "profile.h"
#include "cuda_emu.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define FP8K_EMU_ASAN 1
#endif

// The built-in variables: rewritten before every switch into a fiber.
uint3 threadIdx, blockIdx;
dim3 blockDim, gridDim;


namespace fp8k {
namespace emu {

std::string fmt(const char* f, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, f);
  vsnprintf(buf, sizeof buf, f, ap);
  va_end(ap);
  return buf;
}

Block* g_block = nullptr;
RaceCheck* g_racecheck = nullptr;

namespace {

std::mutex g_launch_mutex;
std::atomic<std::thread::id> g_launch_owner{};  // the OS thread inside a launch
char* g_tls = nullptr;                         // __shared__ storage: this module's TLS block
size_t g_tls_size = 0;
std::vector<std::unique_ptr<Stack>> g_stacks;  // reused across blocks and launches

struct Cancel {};  // unwinds a fiber of an aborted block; not a std::exception on purpose

#ifdef FP8K_EMU_ASAN
const void* g_sched_stack_bottom = nullptr;
size_t g_sched_stack_size = 0;
void* g_sched_fake = nullptr;
#endif

size_t stack_bytes() {
  size_t kb = 256;
#ifdef FP8K_EMU_ASAN
  kb = 1024;  // redzones make frames larger
#endif
  if (const char* e = getenv("FP8KIT_EMU_STACK_KB")) kb = std::max(16L, atol(e));
  return kb * 1024;
}

bool same_loc(const Loc& a, const Loc& b) {
  return a.line == b.line && (a.file == b.file || strcmp(a.file, b.file) == 0);
}

std::string loc_str(const Loc& l) { return std::string(l.file ? l.file : "?") + ":" + std::to_string(l.line); }

std::string idx_str(uint3 v) { return fmt("(%u,%u,%u)", v.x, v.y, v.z); }

// Scheduler -> fiber.
void resume(Block& b, Thread& t) {
  b.cur = &t;
  threadIdx = t.idx;
  t.state = t.state == Thread::FRESH ? Thread::RUN : t.state;
#ifdef FP8K_EMU_ASAN
  __sanitizer_start_switch_fiber(&g_sched_fake, t.stack->base, t.stack->size);
#endif
  fiber_switch(b.sched, t.ctx);
#ifdef FP8K_EMU_ASAN
  __sanitizer_finish_switch_fiber(g_sched_fake, nullptr, nullptr);
#endif
  b.cur = nullptr;
}

void fiber_main(void* arg) {
  Thread& t = *static_cast<Thread*>(arg);
  Block& b = *g_block;
#ifdef FP8K_EMU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &g_sched_stack_bottom, &g_sched_stack_size);
#endif
  try {
    b.thunk(b.ctx);
  } catch (const Cancel&) {
  } catch (...) {
    if (!b.error) b.error = std::current_exception();
  }
  t.state = Thread::DONE;
#ifdef FP8K_EMU_ASAN
  __sanitizer_start_switch_fiber(nullptr, g_sched_stack_bottom, g_sched_stack_size);
#endif
  fiber_switch(t.ctx, b.sched);
  __builtin_trap();  // a finished fiber is never resumed
}

std::string where_all(const Block& b) {
  // Groups the unfinished threads by where they wait, for deadlock reports.
  std::vector<std::pair<std::string, std::vector<int>>> groups;
  std::vector<int> exited;
  for (const Thread& t : b.threads) {
    if (t.state == Thread::DONE) { exited.push_back(t.id); continue; }
    std::string w = t.state == Thread::BARRIER ? "__syncthreads at " + loc_str(t.where)
                    : t.state == Thread::WARP  ? fmt("%s(mask 0x%08x) at ", t.op->name, t.op_mask) + loc_str(t.where)
                                               : std::string("running");
    auto it = std::find_if(groups.begin(), groups.end(), [&](auto& g) { return g.first == w; });
    if (it == groups.end()) groups.push_back({w, {t.id}});
    else it->second.push_back(t.id);
  }
  std::string s;
  for (auto& g : groups) s += "\n  threads " + thread_list(g.second) + ": " + g.first;
  if (!exited.empty()) s += "\n  threads " + thread_list(exited) + ": exited";
  return s;
}

// Nothing can run: release a barrier every live thread reached, or explain why not.
void stall(Block& b) {
  for (Thread& t : b.threads) {
    if (t.state != Thread::WARP) continue;
    const int base = t.warp * 32;
    for (int j = 0; j < 32; ++j) {
      if (!(t.op_mask >> j & 1)) continue;
      const Thread& u = b.threads[base + j];  // existence was checked at posting
      std::string why;
      if (u.state == Thread::DONE)
        why = fmt("names lane %d (thread %d), which has exited", j, u.id);
      else if (u.state == Thread::BARRIER)
        why = fmt("waits for lane %d (thread %d), which never arrives: it waits at __syncthreads at %s", j, u.id,
                  loc_str(u.where).c_str());
      else if (u.state == Thread::WARP && (u.op != t.op || u.op_mask != t.op_mask))
        why = fmt("waits for lane %d (thread %d), which never arrives: it waits at %s(mask 0x%08x) at %s", j, u.id,
                  u.op->name, u.op_mask, loc_str(u.where).c_str());
      if (!why.empty())
        fault_at(b, &t, t.where,
                 fmt("%s(mask 0x%08x) ", t.op->name, t.op_mask) + why + "\ndeadlock; where the threads are:" + where_all(b));
    }
  }
  std::vector<int> at_bar;
  bool mixed = false;
  Loc first{nullptr, 0};
  for (const Thread& t : b.threads) {
    if (t.state != Thread::BARRIER) continue;
    if (at_bar.empty()) first = t.where;
    else if (!same_loc(first, t.where)) mixed = true;
    at_bar.push_back(t.id);
  }
  if (at_bar.empty()) fault_at(b, nullptr, b.launch_loc, "emulator: stalled with no waiting thread" + where_all(b));
  if (mixed)
    fault_at(b, nullptr, first, "threads wait at different __syncthreads:" + where_all(b));
  fault_at(b, nullptr, first,
           fmt("__syncthreads reached by only %zu of %d threads of the block (the others exited before it):",
               at_bar.size(), b.n) + where_all(b));
}

// A thread finished: a pending warp collective that names it can never complete.
void on_exit(Block& b, Thread& t) {
  ++b.done;
  const int base = t.warp * 32;
  for (int j = 0; j < 32 && base + j < b.n; ++j) {
    Thread& u = b.threads[base + j];
    if (u.state == Thread::WARP && (u.op_mask >> t.lane & 1))
      fault_at(b, &u, u.where,
               fmt("%s(mask 0x%08x) names lane %d (thread %d), which has exited", u.op->name, u.op_mask, t.lane, t.id));
  }
}

// After a fault: unwind every started fiber (so destructors run and stacks are
// clean for reuse), drop the fresh ones.
void cancel_all(Block& b) {
  for (Thread& t : b.threads) {
    if (t.state == Thread::DONE) continue;
    if (t.state == Thread::FRESH) { t.state = Thread::DONE; continue; }
    t.cancel = true;
    resume(b, t);
  }
}

void run_block(Block& b, bool reverse) {
  for (int i = 0; i < b.n; ++i) {
    Thread& t = b.threads[i];
    t.state = Thread::FRESH;
    t.cancel = false;
    t.cp.clear();
    t.cp_next_group = 0;
    fiber_init(t.ctx, *t.stack, fiber_main, &t);
  }
  b.done = 0;
  b.bar_arrived = 0;
  b.warp_posted.assign((b.n + 31) / 32, 0);
  b.error = nullptr;
  b.combining = false;
  if (g_racecheck) g_racecheck->block_start(b);
  try {
    for (;;) {
      bool ran = false;
      for (int k = 0; k < b.n; ++k) {
        Thread& t = b.threads[reverse ? b.n - 1 - k : k];
        if (t.state != Thread::FRESH && t.state != Thread::RUN) continue;
        ran = true;
        resume(b, t);
        if (b.error) std::rethrow_exception(b.error);
        if (t.state == Thread::DONE) on_exit(b, t);
      }
      if (b.done == b.n) return;
      if (!ran) stall(b);
    }
  } catch (const Fault&) {
    cancel_all(b);
    throw;
  } catch (...) {
    cancel_all(b);
    throw;
  }
}

// The calling thread's TLS block of the module that holds this file (and, linked
// with it, the kernels): where every __shared__ variable lives (cuda_emu.h).
thread_local char t_tls_anchor;  // touching it makes the block exist in this thread
int find_tls(dl_phdr_info* info, size_t, void* out) {
  const uintptr_t self = (uintptr_t)&find_tls;
  bool mine = false;
  size_t tls = 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    const uintptr_t lo = info->dlpi_addr + ph.p_vaddr;
    if (ph.p_type == PT_LOAD && self >= lo && self < lo + ph.p_memsz) mine = true;
    if (ph.p_type == PT_TLS) tls = ph.p_memsz;
  }
  if (!mine) return 0;
  auto* r = static_cast<std::pair<char*, size_t>*>(out);
  *r = {static_cast<char*>(info->dlpi_tls_data), tls};
  return 1;
}

void locate_shared(Loc loc) {
  *(volatile char*)&t_tls_anchor = 0;
  std::pair<char*, size_t> r{nullptr, 0};
  dl_iterate_phdr(find_tls, &r);
  if (!r.first || !(r.first <= &t_tls_anchor && &t_tls_anchor < r.first + r.second))
    throw Fault("cuda-emu: " + loc_str(loc) + ": cannot locate this module's TLS block (__shared__ storage)");
  // A statically linked libstdc++ keeps its exception state in this block too.
  Dl_info self{}, eh{};
  void* cxa = dlsym(RTLD_DEFAULT, "__cxa_get_globals");
  if (cxa && dladdr((void*)&find_tls, &self) && dladdr(cxa, &eh) && self.dli_fbase == eh.dli_fbase)
    throw Fault("cuda-emu: libstdc++ is linked statically into the module of the kernels; "
                "the emulator needs it as a shared library");
  g_tls = r.first;
  g_tls_size = r.second;
}

}  // namespace

std::string thread_list(const std::vector<int>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size();) {
    size_t j = i;
    while (j + 1 < ids.size() && ids[j + 1] == ids[j] + 1) ++j;
    if (!s.empty()) s += ",";
    s += j == i ? std::to_string(ids[i]) : std::to_string(ids[i]) + ".." + std::to_string(ids[j]);
    i = j + 1;
  }
  return s;
}

void fault_at(Block& b, const Thread* t, Loc loc, const std::string& msg) {
  std::string s = "cuda-emu: " + loc_str(loc) + ": " + msg + "\n  in kernel " + b.kernel + " block " +
                  idx_str(b.idx);
  if (t) s += " thread " + idx_str(t->idx) + fmt(" (linear %d, warp %d, lane %d)", t->id, t->warp, t->lane);
  s += ", launched at " + loc_str(b.launch_loc);
  throw Fault(s);
}

void fault(Loc loc, const char* f, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, f);
  vsnprintf(buf, sizeof buf, f, ap);
  va_end(ap);
  if (!g_block) throw Fault(std::string("cuda-emu: ") + loc_str(loc) + ": " + buf);
  fault_at(*g_block, g_block->cur, loc, buf);
}

// Fiber -> scheduler; returns when the scheduler resumes this thread.
void yield_to_scheduler(Thread& t) {
  Block& b = *g_block;
#ifdef FP8K_EMU_ASAN
  __sanitizer_start_switch_fiber(&t.asan_fake, g_sched_stack_bottom, g_sched_stack_size);
#endif
  fiber_switch(t.ctx, b.sched);
#ifdef FP8K_EMU_ASAN
  __sanitizer_finish_switch_fiber(t.asan_fake, &g_sched_stack_bottom, &g_sched_stack_size);
#endif
  if (t.cancel) throw Cancel{};
}

static Thread& current(Loc loc, const char* what) {
  if (!g_block || !g_block->cur) throw Fault("cuda-emu: " + loc_str(loc) + ": " + what + " called outside a kernel");
  return *g_block->cur;
}

int barrier(BarrierKind kind, int pred, Loc loc) {
  Thread& me = current(loc, "__syncthreads");
  Block& b = *g_block;
  cp_async_maybe_land(b, me);  // on arrival: before the threads still behind it read
  me.state = Thread::BARRIER;
  me.where = loc;
  me.bar_pred = pred != 0;
  if (b.bar_arrived == 0) b.bar_loc = loc, b.bar_mixed = false;
  else if (!same_loc(loc, b.bar_loc)) b.bar_mixed = true;
  if (++b.bar_arrived == b.n && !b.bar_mixed) {
    // Last of the whole block: release here, no round trip through the scheduler.
    int count = 0;
    for (Thread& t : b.threads) count += t.bar_pred, t.state = Thread::RUN;
    b.bar_arrived = 0;
    b.bar_result = kind == BAR_COUNT ? count : kind == BAR_AND ? count == b.n : count != 0;
    if (g_racecheck) g_racecheck->barrier(b);
    profile_barrier();
  } else {
    yield_to_scheduler(me);
  }
  return b.bar_result;
}

void warp_collective(const Collective& op, unsigned mask, void* payload, Loc loc) {
  Thread& me = current(loc, op.name);
  Block& b = *g_block;
  cp_async_maybe_land(b, me);
  if (!(mask >> me.lane & 1))
    fault_at(b, &me, loc, fmt("%s: the calling lane %d is not in its own mask 0x%08x", op.name, me.lane, mask));
  me.state = Thread::WARP;
  me.where = loc;
  me.op = &op;
  me.op_mask = mask;
  me.op_payload = payload;
  const int lanes = std::min(32, b.n - me.warp * 32);
  if (lanes < 32 && (mask >> lanes))
    fault_at(b, &me, loc, fmt("%s: mask 0x%08x names lane %d, which does not exist (the block has %d threads)",
                              op.name, mask, 31 - __builtin_clz(mask), b.n));
  // Cheap filter: the full check below needs at least popcount(mask) lanes posted.
  if (++b.warp_posted[me.warp] < __builtin_popcount(mask)) return yield_to_scheduler(me);
  const int base = me.warp * 32;
  void* payloads[32] = {};
  bool ready = true;
  for (int j = 0; j < 32; ++j) {
    if (!(mask >> j & 1)) continue;
    Thread& u = b.threads[base + j];
    if (u.state == Thread::DONE)
      fault_at(b, &me, loc, fmt("%s: mask 0x%08x names lane %d (thread %d), which has exited", op.name, mask, j, u.id));
    if (u.state != Thread::WARP) { ready = false; continue; }
    if (u.op != &op || u.op_mask != mask) {
      if (u.op_mask >> me.lane & 1)  // each waits for the other: can never complete
        fault_at(b, &me, loc, fmt("%s(mask 0x%08x) meets lane %d waiting at %s(mask 0x%08x) at %s", op.name, mask, j,
                                  u.op->name, u.op_mask, loc_str(u.where).c_str()));
      ready = false;
      continue;
    }
    payloads[j] = u.op_payload;
  }
  if (ready) {
    b.combining = true;  // racecheck: the combine acts for the whole (synchronized) warp
    op.combine(payloads, mask, loc);
    b.combining = false;
    if (g_racecheck && &op == &kSyncwarp) g_racecheck->syncwarp(b, me.warp, mask);
    for (int j = 0; j < 32; ++j)
      if (mask >> j & 1) b.threads[base + j].state = Thread::RUN;
    b.warp_posted[me.warp] -= __builtin_popcount(mask);
  } else {
    yield_to_scheduler(me);
  }
}

int lane_id() { return current(Loc(), "lane id").lane; }

unsigned live_lanes() {
  Thread& me = current(Loc(), "__activemask");
  Block& b = *g_block;
  unsigned m = 0;
  for (int j = 0; j < 32 && me.warp * 32 + j < b.n; ++j)
    if (b.threads[me.warp * 32 + j].state != Thread::DONE) m |= 1u << j;
  return m;
}

void* dynamic_smem() { return g_block ? g_block->dyn : nullptr; }

bool in_shared(const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  if (g_tls && c >= g_tls && c + n <= g_tls + g_tls_size) return true;
  Block* b = g_block;
  return b && b->dyn && c >= b->dyn && c + n <= b->dyn + b->dyn_size;
}

void run_grid(const char* kernel, const void* fn, Loc loc, dim3 grid, dim3 block, size_t smem, Thunk thunk, void* ctx) {
  const unsigned long long nthreads = (unsigned long long)block.x * block.y * block.z;
  auto bad = [&](const std::string& why) {
    throw Fault("cuda-emu: " + loc_str(loc) + ": launch of " + kernel + ": invalid configuration: " + why);
  };
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 0x7FFFFFFFu || grid.y > 65535 || grid.z > 65535)
    bad(fmt("grid (%u,%u,%u)", grid.x, grid.y, grid.z));
  check_launch(kernel, fn, loc, block, smem);  // threads, shared memory, registers (limits.cc)

  if (g_launch_owner.load() == std::this_thread::get_id())
    bad("launch from inside a kernel (dynamic parallelism is not emulated)");
  std::lock_guard<std::mutex> lock(g_launch_mutex);
  locate_shared(loc);
  // Saved here, poisoned per block, restored however the launch ends.
  std::vector<char> tls_saved(g_tls, g_tls + g_tls_size);

  const bool reverse = [] {
    const char* e = getenv("FP8KIT_EMU_ORDER");
    return e && strcmp(e, "reverse") == 0;
  }();
  const size_t sbytes = stack_bytes();
  while (g_stacks.size() < nthreads || (!g_stacks.empty() && g_stacks[0]->size < sbytes)) {
    if (!g_stacks.empty() && g_stacks[0]->size < sbytes) {  // stack size grew: start over
      for (auto& s : g_stacks) s->release();
      g_stacks.clear();
      continue;
    }
    auto s = std::make_unique<Stack>();
    s->allocate(sbytes);
    g_stacks.push_back(std::move(s));
  }

  Block b;
  b.kernel = kernel;
  b.launch_loc = loc;
  b.thunk = thunk;
  b.ctx = ctx;
  b.grid = grid;
  b.dim = block;
  b.n = (int)nthreads;
  b.threads.resize(b.n);
  for (int i = 0; i < b.n; ++i) {
    Thread& t = b.threads[i];
    t.id = i;
    t.lane = i % 32;
    t.warp = i / 32;
    t.idx = uint3{i % block.x, i / block.x % block.y, i / (block.x * block.y)};
    t.stack = g_stacks[i].get();
  }
  std::unique_ptr<char, decltype(&free)> dyn(nullptr, &free);
  if (smem) {
    void* p = nullptr;
    if (posix_memalign(&p, 128, smem)) throw std::bad_alloc();
    dyn.reset(static_cast<char*>(p));
  }
  b.dyn = dyn.get();
  b.dyn_size = smem;

  struct Guard {
    std::vector<char>& saved;
    Guard(Block* p, std::vector<char>& s) : saved(s) { g_block = p, g_launch_owner = std::this_thread::get_id(); }
    ~Guard() {
      if (g_racecheck) g_racecheck->launch_end();
      memcpy(g_tls, saved.data(), saved.size());
      g_block = nullptr, g_launch_owner = std::thread::id(), g_tls = nullptr;
    }
  } guard(&b, tls_saved);
  if (g_racecheck) g_racecheck->launch(b, g_tls, g_tls_size);
  cp_async_launch(b, loc);
  profile_launch_begin(b);
  gridDim = grid;
  blockDim = block;
  const unsigned long long nblocks = (unsigned long long)grid.x * grid.y * grid.z;
  for (unsigned long long k = 0; k < nblocks; ++k) {
    const unsigned long long i = reverse ? nblocks - 1 - k : k;
    b.idx = uint3{(unsigned)(i % grid.x), (unsigned)(i / grid.x % grid.y), (unsigned)(i / ((unsigned long long)grid.x * grid.y))};
    blockIdx = b.idx;
    // 0xFF everywhere (NaN as f32): a read before the writing thread's barrier shows.
    memset(g_tls, 0xFF, g_tls_size);
    if (b.dyn) memset(b.dyn, 0xFF, smem);
    run_block(b, reverse);
    profile_block_end(b);
  }
  profile_launch_end(b);
}

}  // namespace emu
}  // namespace fp8k
