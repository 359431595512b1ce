// libFuzzer target: the run-file readers on any bytes: `normlab info` (io/info.cpp, through
// io::open_run and read_series) and `normlab collect` of a sweep directory holding the file (its
// row must say "unreadable" rather than crash). A normlab::Error is the expected refusal.
#include <cstddef>
#include <cstdint>
#include <sstream>

#include "core/error.hpp"
#include "fuzz_input.hpp"
#include "io/info.hpp"
#include "sweep/collect.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = normlab::fuzz::write_input(data, size, "sweep/runs/run.h5");
  if (!normlab::fuzz::readers_should_run(path)) return 0;
  const auto read = [&] {
    try {
      std::ostringstream out;
      normlab::tools::print_run_info(out, path, true);
    } catch (const normlab::Error&) {
    }
    const auto index =
        normlab::sweep::collect((normlab::fuzz::scratch_dir() / "sweep").string(), false);
    if (index.rows.size() != 1) __builtin_trap();  // the one file is a row, readable or not
  };
  if (!normlab::fuzz::finishes_in_child(read)) return 0;
  read();
  return 0;
}
