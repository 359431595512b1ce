#include "core/kernels.hpp"

#include <cstdlib>
#include <string_view>

#include "core/error.hpp"

namespace normlab::kernels {

namespace {

bool cpu_runs(Isa isa) {
#if defined(__x86_64__)
  // libgcc's checks include the OS's support (XCR0): a kernel without AVX-512 state saving
  // reports no avx512f even on a CPU that has it.
  switch (isa) {
    case Isa::generic: return true;
    case Isa::avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  }
  return false;
#else
  return isa == Isa::generic;
#endif
}

const Table* compiled(Isa isa) {
  switch (isa) {
    case Isa::generic: return generic_table();
    case Isa::avx2: return avx2_table();
    case Isa::avx512: return avx512_table();
  }
  return nullptr;
}

const Table& choose() {
  const std::vector<const Table*> can = runnable();
  const char* env = std::getenv("NORMLAB_ISA");
  if (!env || !*env) return *can.back();
  const std::string_view want = env;
  for (const Table* t : can) {
    if (want == t->name) return *t;
  }
  std::string names;
  for (const Table* t : can) names += cat(names.empty() ? "" : ", ", t->name);
  fail("NORMLAB_ISA=", want, ": ",
       want == "generic" || want == "avx2" || want == "avx512" ? "this CPU cannot run it"
                                                                : "no such kernel set",
       "; this CPU runs: ", names);
}

}  // namespace

std::vector<const Table*> runnable() {
  std::vector<const Table*> out;
  for (Isa isa : {Isa::generic, Isa::avx2, Isa::avx512}) {
    if (const Table* t = compiled(isa); t && cpu_runs(isa)) out.push_back(t);
  }
  return out;
}

const Table& active() {
  static const Table& t = choose();
  return t;
}

std::string describe(const Table& t) {
  return cat(t.name, " (", t.detail, ", ", t.float_lanes, " float lanes)");
}

}  // namespace normlab::kernels
