// Inputs the fuzz targets found (fuzz/README.md), kept in tests/fixtures/damaged/ and replayed
// through the readers the commands use: each must fail cleanly, naming the file, within seconds.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <sstream>

#include "core/error.hpp"
#include "helpers.hpp"
#include "io/info.hpp"
#include "train/checkpoint.hpp"

namespace {

using Catch::Matchers::Contains;
namespace fs = std::filesystem;

}  // namespace

TEST_CASE("fuzz regressions: a checkpoint whose string attribute makes H5Aread loop is named",
          "[damaged][hdf5]") {
  // fuzz_checkpoint with NORMLAB_FUZZ_SEED=1 from the format-1 seed: a damaged variable-length
  // string attribute; H5Aread converts it through the global heap (H5T__conv_vlen, H5HG_read) and
  // loops in H5C_protect. With NORMLAB_HDF5_GUARD=off, `train --resume` on it still runs after
  // 12 s; the guard's child gives up after kGuardSeconds and the file is named.
  using namespace normlab;
  test::TempDir dir;
  const fs::path copy = dir.path / "run.resume.h5";
  fs::copy_file(NORMLAB_FIXTURE_DIR "/damaged/checkpoint_vlen_loop.h5", copy);
  const auto start = std::chrono::steady_clock::now();
  // Under AddressSanitizer the same read dies of SIGSEGV in the child instead of looping (the
  // CI's sanitizer build): either way the command must refuse the file by name, within seconds.
  CHECK_THROWS_WITH(train::load_checkpoint<float>(copy.string()),
                    Contains(copy.string() + ": damaged HDF5 file (libhdf5 timed out reading it") ||
                        Contains(copy.string() + ": damaged HDF5 file (libhdf5 crashed reading it"));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(15));
}

TEST_CASE("fuzz regressions: a checkpoint whose string makes libhdf5 memcpy past its heap is named",
          "[damaged][hdf5]") {
  // fuzz_checkpoint from the format-2 seed, within 5 s (2026-12-07): a damaged variable-length
  // string whose global-heap object claims an enormous length; H5HG_read copies it (ASan:
  // memcpy-param-overlap inside libhdf5, as fuzz/README.md's run_file finding). With
  // NORMLAB_HDF5_GUARD=off `train --resume` and `analyze` on it die of SIGSEGV; the guard's child
  // dies instead, and the file is named.
  using namespace normlab;
  test::TempDir dir;
  const fs::path copy = dir.path / "run.resume.h5";
  fs::copy_file(NORMLAB_FIXTURE_DIR "/damaged/checkpoint_heap_overlap.h5", copy);
  CHECK_THROWS_WITH(train::load_checkpoint<float>(copy.string()),
                    Contains(copy.string() + ": damaged HDF5 file (libhdf5 crashed reading it"));
  CHECK_THROWS_WITH(train::load_checkpoint<double>(copy.string()), Contains(copy.string()));
}

TEST_CASE("fuzz regressions: a run file on which libhdf5 memcpys between overlapping buffers is named",
          "[damaged][hdf5]") {
  // fuzz_run_file in a full .ci/run (NORMLAB_FUZZ_SEED=1, 2026-12-07): ASan's memcpy-param-overlap
  // inside libhdf5 (fuzz/README.md, "Open"). Unguarded, `normlab info` on it dies of SIGSEGV; the
  // guard's child dies instead, and the file is named.
  using namespace normlab;
  test::TempDir dir;
  const fs::path copy = dir.path / "runs" / "run.h5";
  fs::create_directories(copy.parent_path());
  fs::copy_file(NORMLAB_FIXTURE_DIR "/damaged/run_file_heap_overlap.h5", copy);
  std::ostringstream out;
  CHECK_THROWS_WITH(tools::print_run_info(out, copy.string(), false),
                    Contains(copy.string() + ": damaged HDF5 file (libhdf5"));
}
