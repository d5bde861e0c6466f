// What the GPU checks at launch and at a vector access, for the emulated device:
// FP8KIT_EMU_ARCH=sm_89 or sm_90 (the default; sm_90a is the same device).
//   threads per block        at most 1024
//   dynamic shared memory    at most the kernel's cudaFuncAttributeMaxDynamicSharedMemorySize, which is
//                            48 KiB less its static shared memory until cudaFuncSetAttribute raises it;
//                            static + dynamic at most 99 KiB (sm_89) or 227 KiB (sm_90)
//   registers                warps x (registers per thread x 32, rounded up to 256) at most 64 Ki
// Registers and static shared memory per kernel come from ptxas, through the table
// bench/cuda-resource-usage.txt (npm run build:cuda writes it): the kernel's symbol, found in the
// module's ELF symbol table, demangled, names its row. A kernel the table does not list is checked
// with 0 static bytes and no register limit. FP8KIT_EMU_RESOURCES=<path> names another table,
// FP8KIT_EMU_RESOURCES=off none.
#include <cxxabi.h>
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>

#include "block.h"

namespace fp8k {
namespace emu {

namespace {

struct Arch {
  const char* name;
  size_t smem_optin;  // sharedMemPerBlockOptin
  const char* table;  // the arch column of the resource table
  int sms;            // multiProcessorCount of the emulated part: L40S, H100 SXM
  size_t smem_sm;     // sharedMemPerMultiprocessor
};
constexpr Arch kSm89{"sm_89", 99 * 1024, "sm_89", 142, 100 * 1024};
constexpr Arch kSm90{"sm_90", 227 * 1024, "sm_90a", 132, 228 * 1024};
constexpr size_t kSmemDefault = 48 * 1024;
constexpr long kRegisterFile = 64 * 1024;

const Arch& arch() {
  const char* e = getenv("FP8KIT_EMU_ARCH");
  if (!e || !*e || !strcmp(e, "sm_90") || !strcmp(e, "sm_90a")) return kSm90;
  if (!strcmp(e, "sm_89")) return kSm89;
  throw Fault(std::string("cuda-emu: FP8KIT_EMU_ARCH=") + e + " (expected sm_89 or sm_90)");
}

struct Resources {
  int registers = -1;  // -1: not in the table
  size_t smem = 0;     // static shared memory
};

struct KernelInfo {
  bool looked_up = false;
  std::string name;  // demangled symbol, or empty
  std::map<std::string, Resources> by_arch;
  int max_dynamic = -1;  // cudaFuncAttributeMaxDynamicSharedMemorySize; -1: never set
  int refused = -1;      // the last value cudaFuncSetAttribute refused
};

std::mutex g_mutex;
std::map<const void*, KernelInfo> g_kernels;
bool g_table_loaded = false;
std::map<std::pair<std::string, std::string>, Resources> g_table;  // (arch, kernel) -> resources

// The symbol at `fn` from the ELF .symtab of the module holding it (kernels are hidden symbols).
std::string symbol_of(const void* fn, std::string* module) {
  Dl_info info{};
  if (!dladdr(fn, &info) || !info.dli_fname) return "";
  std::string path = info.dli_fname;
  if (path.empty()) path = "/proc/self/exe";
  *module = path;
  const int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) return "";
  struct stat st {};
  std::string out;
  if (fstat(fd, &st) == 0 && (size_t)st.st_size > sizeof(ElfW(Ehdr))) {
    void* m = mmap(nullptr, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m != MAP_FAILED) {
      const char* base = static_cast<const char*>(m);
      const auto* eh = reinterpret_cast<const ElfW(Ehdr)*>(base);
      const uintptr_t bias = eh->e_type == ET_DYN ? (uintptr_t)info.dli_fbase : 0;
      const uintptr_t want = (uintptr_t)fn - bias;
      if (!memcmp(eh->e_ident, ELFMAG, SELFMAG) && eh->e_shoff && eh->e_shoff + (size_t)eh->e_shnum * sizeof(ElfW(Shdr)) <= (size_t)st.st_size) {
        const auto* sh = reinterpret_cast<const ElfW(Shdr)*>(base + eh->e_shoff);
        for (int i = 0; i < eh->e_shnum && out.empty(); ++i) {
          if (sh[i].sh_type != SHT_SYMTAB || sh[i].sh_link >= eh->e_shnum) continue;
          const auto* sym = reinterpret_cast<const ElfW(Sym)*>(base + sh[i].sh_offset);
          const char* str = base + sh[sh[i].sh_link].sh_offset;
          for (size_t k = 0; k < sh[i].sh_size / sizeof(ElfW(Sym)); ++k)
            if (ELF64_ST_TYPE(sym[k].st_info) == STT_FUNC && sym[k].st_value == want) {
              out = str + sym[k].st_name;
              break;
            }
        }
      }
      munmap(m, st.st_size);
    }
  }
  close(fd);
  int status = 0;
  std::unique_ptr<char, decltype(&free)> d(abi::__cxa_demangle(out.c_str(), nullptr, nullptr, &status), &free);
  return status == 0 && d ? std::string(d.get()) : out;
}

void load_table(const std::string& module) {
  g_table_loaded = true;
  std::string path;
  const char* e = getenv("FP8KIT_EMU_RESOURCES");
  std::ifstream in;
  if (e && *e) {
    if (!strcmp(e, "off")) return;
    in.open(path = e);
    if (!in) throw Fault(std::string("cuda-emu: FP8KIT_EMU_RESOURCES=") + e + ": cannot read it");
  } else {
    // build/Release/fp8kit.node -> bench/; else the working directory's bench/.
    const std::string dir = module.substr(0, module.rfind('/') + 1);
    in.open(dir + "../../bench/cuda-resource-usage.txt");
    if (!in) in.open("bench/cuda-resource-usage.txt");
    if (!in) return;
  }
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    std::string a, regs, smem, stack, ss, sl, kernel;
    if (!std::getline(ls, a, '\t') || !std::getline(ls, regs, '\t') || !std::getline(ls, smem, '\t') ||
        !std::getline(ls, stack, '\t') || !std::getline(ls, ss, '\t') || !std::getline(ls, sl, '\t') || !std::getline(ls, kernel))
      continue;
    g_table[{a, kernel}] = Resources{atoi(regs.c_str()), (size_t)atoll(smem.c_str())};
  }
}

KernelInfo& info_of(const void* fn) {
  KernelInfo& k = g_kernels[fn];
  if (!k.looked_up) {
    k.looked_up = true;
    std::string module;
    k.name = symbol_of(fn, &module);
    if (!g_table_loaded) load_table(module);
  }
  return k;
}

Resources resources(KernelInfo& k, const Arch& a) {
  auto it = g_table.find({a.table, k.name});
  return it == g_table.end() ? Resources{} : it->second;
}

}  // namespace

int func_set_attribute(const void* fn, int attr, int value) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (attr != kAttrMaxDynamicSharedMemorySize) return 1;  // cudaErrorInvalidValue: not emulated
  KernelInfo& k = info_of(fn);
  const Arch& a = arch();
  if (value < 0 || (size_t)value + resources(k, a).smem > a.smem_optin) {
    k.refused = value;
    return 1;  // cudaErrorInvalidValue, as the GPU answers
  }
  k.max_dynamic = value;
  return 0;
}

void misaligned(const void* p, unsigned n, const char* what, Loc loc) {
  fault(loc, "%s: address %p is not %u-byte aligned (a misaligned address error on the GPU)", what, p, n);
}

void check_launch(const char* kernel, const void* fn, Loc loc, dim3 block, size_t dyn) {
  std::lock_guard<std::mutex> lock(g_mutex);
  const Arch& a = arch();
  KernelInfo& k = info_of(fn);
  // FP8K_LAUNCH's text names a variable at times (`kernel`): the symbol says which instance.
  const std::string name = k.name.empty() || k.name.rfind(kernel, 0) == 0 ? kernel : std::string(kernel) + " (" + k.name + ")";
  auto refuse = [&](const std::string& why) {
    throw Fault("cuda-emu: " + std::string(loc.file ? loc.file : "?") + ":" + std::to_string(loc.line) + ": launch of " + name +
                ": invalid configuration: " + why);
  };
  const unsigned long long threads = (unsigned long long)block.x * block.y * block.z;
  if (threads == 0 || threads > 1024 || block.x > 1024 || block.y > 1024 || block.z > 64)
    refuse(fmt("block (%u,%u,%u): %llu threads per block, at most 1024 and (1024,1024,64) per dimension "
               "(cudaErrorInvalidConfiguration)", block.x, block.y, block.z, threads));
  const Resources r = resources(k, a);
  const std::string listed = r.registers >= 0 ? fmt(" (ptxas, %s)", a.table) : "";
  if (r.smem + dyn > a.smem_optin)
    refuse(fmt("%zu bytes of static%s + %zu of dynamic shared memory: above the %s limit of %zu KiB per block "
               "(cudaErrorInvalidValue)", r.smem, listed.c_str(), dyn, a.name, a.smem_optin / 1024));
  const size_t max_dyn = k.max_dynamic >= 0 ? (size_t)k.max_dynamic : r.smem < kSmemDefault ? kSmemDefault - r.smem : 0;
  if (dyn > max_dyn) {
    std::string why = k.max_dynamic >= 0
        ? fmt("%zu bytes of dynamic shared memory: above the %d bytes its cudaFuncAttributeMaxDynamicSharedMemorySize allows", dyn,
              k.max_dynamic)
        : fmt("%zu bytes of dynamic shared memory without the opt-in: above 48 KiB%s; raise "
              "cudaFuncAttributeMaxDynamicSharedMemorySize with cudaFuncSetAttribute", dyn,
              r.smem ? fmt(" less %zu bytes static", r.smem).c_str() : "");
    if (k.refused >= 0)
      why += fmt(" (cudaFuncSetAttribute refused %d bytes: above the %s limit of %zu KiB%s)", k.refused, a.name, a.smem_optin / 1024,
                 r.smem ? fmt(" less %zu bytes static", r.smem).c_str() : "");
    refuse(why + " (cudaErrorInvalidValue)");
  }
  if (r.registers > 0) {
    const long per_warp = (r.registers * 32L + 255) / 256 * 256;
    const long used = (long)((threads + 31) / 32) * per_warp;
    if (used > kRegisterFile)
      refuse(fmt("%d registers per thread%s x %llu threads need %ld registers, above the %ld of an SM "
                 "(cudaErrorLaunchOutOfResources: too many resources requested for launch)",
                 r.registers, listed.c_str(), threads, used, kRegisterFile));
  }
}

int multiprocessors() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return arch().sms;
}

int resident_blocks(const void* fn, int threads, size_t dynamic_smem) {
  std::lock_guard<std::mutex> lock(g_mutex);
  const Arch& a = arch();
  const Resources r = resources(info_of(fn), a);
  if (threads < 1 || threads > 1024) return 0;
  const int warps = (threads + 31) / 32;
  int blocks = std::min(32, 64 / warps);  // 32 blocks and 64 warps (2048 threads) per SM
  const size_t smem = r.smem + dynamic_smem;
  if (smem) blocks = std::min<long>(blocks, (long)(a.smem_sm / (smem + 1024)));  // 1 KiB reserved per block
  if (r.registers > 0) blocks = std::min<long>(blocks, kRegisterFile / ((long)warps * ((r.registers * 32L + 255) / 256 * 256)));
  return blocks;
}

}  // namespace emu
}  // namespace fp8k
