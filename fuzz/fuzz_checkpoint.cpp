// libFuzzer target: the resume checkpoint reader (train/checkpoint.cpp) on any bytes, as float32
// and float64 runs read it. A normlab::Error is the expected refusal.
#include <cstddef>
#include <cstdint>

#include "core/error.hpp"
#include "fuzz_input.hpp"
#include "train/checkpoint.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = normlab::fuzz::write_input(data, size, "run.resume.h5");
  if (!normlab::fuzz::readers_should_run(path)) return 0;
  const auto read = [&] {
    try {
      (void)normlab::train::load_checkpoint<double>(path);
    } catch (const normlab::Error&) {
    }
    try {
      (void)normlab::train::load_checkpoint<float>(path);
    } catch (const normlab::Error&) {
    }
  };
  if (!normlab::fuzz::finishes_in_child(read)) return 0;
  read();
  return 0;
}
