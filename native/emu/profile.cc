// FP8KIT_EMU_PROFILE: per launch, what costs time on a GPU, counted on the accesses the emulator sees
// (16-byte vector loads and stores, both sides of cp.async, ldmatrix) and on the barriers.
//   global: the 32-byte sectors each warp-level request touches, and the share of their bytes used
//   shared: the wavefronts each warp-level request takes (a bank serves one 4-byte word per wavefront;
//           16-byte accesses are served 8 lanes at a time, 8-byte ones 16, narrower ones 32), against
//           the ideal of one per such phase: the excess is the bank conflicts
// A warp-level request is the k-th execution of one source line by the lanes of one warp (lanes
// that diverge through the same line in different iterations are counted as separate requests).
// FP8KIT_EMU_PROFILE=1 prints a table per launch on stderr; any other value is a file that gets one
// JSON line per launch appended. Scalar accesses are plain C++ here and are not seen.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "block.h"
#include "profile.h"

namespace fp8k {
namespace emu {

bool g_profile = false;

namespace {

enum Space { GLOBAL_LOAD, GLOBAL_STORE, SHARED_LOAD, SHARED_STORE, kSpaces };
const char* const kSpaceName[kSpaces] = {"global loads", "global stores", "shared loads", "shared stores"};

struct Access {
  int lane;
  uintptr_t addr;
  unsigned bytes;
};

struct Totals {
  unsigned long long requests = 0, sectors = 0, bytes = 0, wavefronts = 0, ideal = 0;
};

struct State {
  std::string target;  // "1" or a file
  Totals t[kSpaces];
  unsigned long long blocks = 0, barriers = 0;
  // this block's requests: (space, warp, file, line, occurrence) -> accesses
  std::map<std::tuple<int, int, const char*, int, int>, std::vector<Access>> requests;
  std::vector<std::unordered_map<uint64_t, int>> seen;  // per thread: executions of each (file, line, space)
};
State g;

void add_request(Space s, const std::vector<Access>& acc) {
  Totals& t = g.t[s];
  t.requests++;
  if (s == GLOBAL_LOAD || s == GLOBAL_STORE) {
    std::set<uintptr_t> sectors;
    for (const Access& a : acc) {
      if (!a.bytes) continue;
      for (uintptr_t x = a.addr >> 5; x <= (a.addr + a.bytes - 1) >> 5; x++) sectors.insert(x);
      t.bytes += a.bytes;
    }
    t.sectors += sectors.size();
    return;
  }
  unsigned width = 4;
  for (const Access& a : acc) width = a.bytes > width ? a.bytes : width;
  const int per_phase = width >= 16 ? 8 : width >= 8 ? 16 : 32;
  for (int phase = 0; phase < 32 / per_phase; phase++) {
    std::set<uintptr_t> words[32];
    bool any = false;
    for (const Access& a : acc) {
      if (a.lane / per_phase != phase) continue;
      any = true;
      for (uintptr_t w = a.addr >> 2; w <= (a.addr + a.bytes - 1) >> 2; w++) words[w % 32].insert(w);
      t.bytes += a.bytes;
    }
    if (!any) continue;
    size_t most = 1;
    for (auto& b : words) most = b.size() > most ? b.size() : most;
    t.wavefronts += most;
    t.ideal++;
  }
}

void record(Space s, const void* p, unsigned bytes, const Loc& loc) {
  Block& b = *g_block;
  Thread& th = *b.cur;
  if (g.seen.size() < (size_t)b.n) g.seen.resize(b.n);
  const uint64_t key = (uint64_t)(uintptr_t)loc.file * 1315423911u ^ ((uint64_t)loc.line << 3 | s);
  const int k = g.seen[th.id][key]++;
  g.requests[{s, th.warp, loc.file, loc.line, k}].push_back({th.lane, (uintptr_t)p, bytes});
}

}  // namespace

void profile_launch_begin(Block&) {
  const char* e = getenv("FP8KIT_EMU_PROFILE");
  g_profile = e && *e && strcmp(e, "0") != 0;
  if (!g_profile) return;
  g.target = e;
  for (Totals& t : g.t) t = Totals{};
  g.blocks = g.barriers = 0;
  g.requests.clear();
}

void profile_block_end(Block& b) {
  if (!g_profile) return;
  g.blocks++;
  for (auto& [key, acc] : g.requests) add_request((Space)std::get<0>(key), acc);
  g.requests.clear();
  for (int i = 0; i < b.n && i < (int)g.seen.size(); i++) g.seen[i].clear();
}

void profile_barrier() {
  if (g_profile) g.barriers++;
}

void profile_vector(const void* p, unsigned bytes, const char* what, const Loc& loc) {
  if (!g_block || !g_block->cur) return;
  const bool store = strncmp(what, "store", 5) == 0;
  const bool shared = in_shared(p, bytes);
  record(shared ? (store ? SHARED_STORE : SHARED_LOAD) : (store ? GLOBAL_STORE : GLOBAL_LOAD), p, bytes, loc);
}

void profile_cp_async(void* dst, const void* src, unsigned bytes, unsigned src_bytes, const Loc& loc) {
  if (!g_profile) return;
  record(GLOBAL_LOAD, src, src_bytes, loc);
  record(SHARED_STORE, dst, bytes, loc);
}

void profile_shared_rows(const unsigned char* const* rows, int n, unsigned bytes) {
  if (!g_profile) return;
  std::vector<Access> acc;
  for (int i = 0; i < n; i++) acc.push_back({i, (uintptr_t)rows[i], bytes});  // lane i gives row i: phase i / 8
  add_request(SHARED_LOAD, acc);
}

void profile_launch_end(const Block& b) {
  if (!g_profile) return;
  const std::string where = std::string(b.launch_loc.file ? b.launch_loc.file : "?") + ":" + std::to_string(b.launch_loc.line);
  static std::mutex out;
  std::lock_guard<std::mutex> lock(out);
  if (g.target == "1") {
    std::fprintf(stderr, "cuda-emu profile: %s (%s), %llu blocks, %llu barriers per block\n", b.kernel, where.c_str(), g.blocks,
                 g.blocks ? g.barriers / g.blocks : 0);
    for (int s = 0; s < kSpaces; s++) {
      const Totals& t = g.t[s];
      if (!t.requests) continue;
      if (s == GLOBAL_LOAD || s == GLOBAL_STORE)
        std::fprintf(stderr, "  %-13s %10llu requests  %6.2f sectors/request  %5.1f%% of sector bytes used\n", kSpaceName[s], t.requests,
                     (double)t.sectors / t.requests, t.sectors ? 100.0 * t.bytes / (32.0 * t.sectors) : 0.0);
      else
        std::fprintf(stderr, "  %-13s %10llu requests  %6.2f wavefronts/request  %llu bank-conflict wavefronts (%.1f%%)\n", kSpaceName[s],
                     t.requests, (double)t.wavefronts / t.requests, t.wavefronts - t.ideal, t.ideal ? 100.0 * (t.wavefronts - t.ideal) / t.ideal : 0.0);
    }
    return;
  }
  FILE* f = std::fopen(g.target.c_str(), "a");
  if (!f) return;
  std::fprintf(f, "{\"kernel\":\"%s\",\"launch\":\"%s\",\"blocks\":%llu,\"barriers\":%llu", b.kernel, where.c_str(), g.blocks, g.barriers);
  const char* const keys[kSpaces] = {"globalLoads", "globalStores", "sharedLoads", "sharedStores"};
  for (int s = 0; s < kSpaces; s++) {
    const Totals& t = g.t[s];
    std::fprintf(f, ",\"%s\":{\"requests\":%llu,\"bytes\":%llu,\"sectors\":%llu,\"wavefronts\":%llu,\"idealWavefronts\":%llu}", keys[s], t.requests,
                 t.bytes, t.sectors, t.wavefronts, t.ideal);
  }
  std::fprintf(f, "}\n");
  std::fclose(f);
}

}  // namespace emu
}  // namespace fp8k
