// libFuzzer target: `normlab apply` (analysis/apply.cpp) on any bytes as its input file, with a
// normalizer that has every parameter kind (pcnorm: gain, bias, lambda). A normlab::Error is the
// expected refusal.
#include <cstddef>
#include <cstdint>

#include "analysis/apply.hpp"
#include "core/error.hpp"
#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  normlab::tools::ApplyRequest request;
  request.in = normlab::fuzz::write_input(data, size, "acts.h5");
  request.out = (normlab::fuzz::scratch_dir() / "acts.normed.h5").string();
  if (!normlab::fuzz::readers_should_run(request.in)) return 0;
  const auto read = [&] {
    for (const char* kind : {"rmsnorm", "pcnorm"}) {
      request.kind = kind;
      try {
        (void)normlab::tools::apply_file(request);
      } catch (const normlab::Error&) {
      }
    }
  };
  if (!normlab::fuzz::finishes_in_child(read)) return 0;
  read();
  return 0;
}
