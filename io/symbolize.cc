#include "io/symbolize.h"

#include <cxxabi.h>
#include <elfutils/libdwfl.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>

namespace sluice::io {
namespace {

const Dwfl_Callbacks kCallbacks = {
    .find_elf = dwfl_linux_proc_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = nullptr,
    .debuginfo_path = nullptr,
};

std::mutex g_mutex;
Dwfl* g_dwfl = nullptr;  // the process's modules, reported once (kept for the process's life)

Dwfl* process_modules() {
  if (g_dwfl) return g_dwfl;
  Dwfl* d = dwfl_begin(&kCallbacks);
  if (!d) return nullptr;
  if (dwfl_linux_proc_report(d, ::getpid()) != 0 || dwfl_report_end(d, nullptr, nullptr) != 0) {
    dwfl_end(d);
    return nullptr;
  }
  g_dwfl = d;
  return g_dwfl;
}

std::string demangle(const char* name) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> out(abi::__cxa_demangle(name, nullptr, nullptr, &status), std::free);
  return status == 0 && out ? std::string(out.get()) : std::string(name);
}

std::string hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
  return buf;
}

}  // namespace

std::string describe_code_address(const void* pc) {
  const auto addr = reinterpret_cast<Dwarf_Addr>(pc);
  std::lock_guard<std::mutex> lock(g_mutex);
  Dwfl* d = process_modules();
  Dwfl_Module* mod = d ? dwfl_addrmodule(d, addr) : nullptr;
  if (!mod) return hex(addr);
  GElf_Sym sym;
  GElf_Off offset = 0;
  const char* name = dwfl_module_addrinfo(mod, addr, &offset, &sym, nullptr, nullptr, nullptr);
  std::string out;
  if (name) {
    out = demangle(name) + "+" + hex(offset);
  } else {
    Dwarf_Addr base = 0;
    const char* module = dwfl_module_info(mod, nullptr, &base, nullptr, nullptr, nullptr, nullptr, nullptr);
    out = std::string(module ? module : "?") + "+" + hex(addr - base);
  }
  if (Dwfl_Line* line = dwfl_module_getsrc(mod, addr)) {
    int lineno = 0;
    const char* file = dwfl_lineinfo(line, nullptr, &lineno, nullptr, nullptr, nullptr);
    if (file) out += " at " + std::string(file) + ":" + std::to_string(lineno);
  }
  return out;
}

}  // namespace sluice::io
