// The limits a run checks before it starts (train/memory_estimate.hpp, the BLAS thread cap) and
// the integrity of a finished run file's checkpoint/ group as `analyze` loads it.
#include <catch2/catch.hpp>
#include <hdf5.h>

#include <filesystem>
#include <sstream>

#include "analysis/loaded_run.hpp"
#include "core/error.hpp"
#include "core/gemm.hpp"
#include "core/strings.hpp"
#include "helpers.hpp"
#include "io/config.hpp"
#include "io/hdf5.hpp"
#include "io/run_schema.hpp"
#include "train/memory_estimate.hpp"
#include "train/workload.hpp"
#include "train/trainer.hpp"

namespace {

using namespace normlab;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;

constexpr double kGiB = 1024.0 * 1024 * 1024;

io::Config with(const std::vector<std::string>& sets) {
  io::Config c;
  for (const auto& s : sets) c.set(s);
  return c;
}

}  // namespace

TEST_CASE("memory estimate: the defaults are small, sizes scale it, the dominant key is named",
          "[config]") {
  for (const char* family : {"mlp", "gru", "transformer"}) {
    INFO(family);
    const double base = train::estimate_memory(with({cat("model.family=", family)}));
    CHECK(base > 1e5);
    CHECK(base < 0.5 * kGiB);  // the defaults train in well under a GiB
    // 8x the width: the parameters grow 64x, the activations 8x
    CHECK(train::estimate_memory(with({cat("model.family=", family), "model.width=1024"})) >
          8 * base);
    CHECK(train::estimate_memory(with({cat("model.family=", family), "dtype=float64"})) > base);
  }
  // a limit far below a run's needs names its dominant key, the estimate and the limit
  const train::MemoryLimit tiny{1024.0 * 1024, "a test limit"};
  CHECK_THROWS_WITH(train::check_memory(with({"train.batch=200000"}), tiny),
                    Contains("train.batch = 200000: the run would need about") &&
                        Contains("more than a test limit, 0.000977 GiB; reduce train.batch"));
  CHECK_THROWS_WITH(train::check_memory(with({"model.width=5000"}), tiny),
                    Contains("model.width = 5000") && Contains("reduce model.width"));
  CHECK_THROWS_WITH(
      train::check_memory(with({"model.family=transformer", "model.mlp_ratio=4000"}), tiny),
      Contains("reduce model.mlp_ratio"));
  CHECK_NOTHROW(train::check_memory(io::Config(), train::memory_limit()));
  // sizes past 2^64 bytes neither wrap nor pass
  const double huge = train::estimate_memory(with({"model.width=4000000000", "model.depth=1000000"}));
  CHECK(huge > 1e20);
  const train::MemoryLimit limit = train::memory_limit();
  CHECK(limit.bytes > 0);
  CHECK_FALSE(limit.what.empty());
}

TEST_CASE("memory estimate: its parameter count bounds the built model's, and follows its keys",
          "[config]") {
  // Each config's model built as a run builds it (make_workload), its ParamStore counted. The
  // estimate takes 256 symbols for a text (its bytes' upper bound; the built model has the text's
  // own characters), so it may exceed the built count by the embedding and head rows of the
  // missing symbols, 2 * width * 256, and no more; and a key that changes no vocabulary (RoPE: no
  // position table; SwiGLU: three matrices of its own width; mlp_hidden) changes both counts
  // alike.
  auto count = [](const std::vector<std::string>& sets) {
    std::ostringstream log;
    const auto workload = train::make_workload<float>(with(sets), 1, 2, log);
    return std::pair{train::estimate_parameters(with(sets)), double(workload->params().size())};
  };
  const double width = double(io::Config().integer("model.width"));
  for (const char* family : {"mlp", "gru"}) {
    INFO(family);
    const auto [estimate, built] = count({cat("model.family=", family)});
    CHECK(estimate >= built);
    CHECK(estimate <= built + 2 * width * 256 + 256);
  }
  const std::vector<std::string> base{"model.family=transformer"};
  const auto [base_estimate, base_built] = count(base);
  CHECK(base_estimate >= base_built);
  CHECK(base_estimate <= base_built + 2 * width * 256 + 256);
  for (const char* key : {"model.position=\"rope\"", "model.activation=\"swiglu\"", "model.mlp_hidden=200",
                          "model.tie_embeddings=true"}) {
    std::vector<std::string> sets = base;
    sets.push_back(key);
    if (std::string(key) == "model.mlp_hidden=200") sets.push_back("model.activation=\"swiglu\"");
    INFO(join(sets, " "));
    const auto [estimate, built] = count(sets);
    CHECK(estimate >= built);
    CHECK(estimate <= built + 2 * width * 256 + 256);
    if (std::string(key) != "model.tie_embeddings=true") {  // the head's rows are the vocabulary's
      CHECK(estimate - base_estimate == Approx(built - base_built).margin(0.001 * base_built));
    }
  }
}

TEST_CASE("BLAS threads are capped at the CPUs the process may use", "[config]") {
  CHECK(capped_threads(16, 2) == 2);
  CHECK(capped_threads(3, 8) == 3);
  CHECK(capped_threads(0, 4) == 1);
  // OpenBLAS hung with 15 threads under ulimit -v 2000000 (KiB), not with 14; 3 under 400000
  CHECK(threads_for_address_space(2000000 * 1024.0) < 15);
  CHECK(threads_for_address_space(2000000 * 1024.0) >= 2);
  CHECK(threads_for_address_space(400000 * 1024.0) < 3);
  CHECK(threads_for_address_space(100 * 1024.0 * 1024) == 1);
  CHECK(threads_for_address_space(0) > 1000);  // no limit
  CHECK(usable_cpus() >= 1);
  const int cpus = std::min(usable_cpus(), threads_for_address_space(address_space_limit()));
  CHECK(set_blas_threads(cpus + 14) == cpus);
  CHECK(set_blas_threads(1) == 1);

  // the trainer says so when the config asked for more
  test::TempDir dir;
  std::ostringstream log;
  io::Config c = with({cat("threads=", cpus + 14), "train.steps=2", "model.width=8",
                       "data.val_size=8", "stats.every=0"});
  const auto r = train::run(c, dir.path.string(), log);
  CHECK(r.status == "completed");
  CHECK_THAT(log.str(), Contains(cat("note: threads = ", cpus + 14, ", but BLAS uses ", cpus,
                                     " (this process may run on ", usable_cpus(), " CPUs")));
  set_blas_threads(1);
}

namespace {

// Adds `delta` to the first value of the run file's checkpoint/`param`, as an editor would.
void edit_parameter(const std::string& path, const std::string& param, double delta) {
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  REQUIRE(file >= 0);
  const hid_t dataset = H5Dopen2(file, io::schema::checkpoint_dataset(param).c_str(), H5P_DEFAULT);
  REQUIRE(dataset >= 0);
  const hid_t space = H5Dget_space(dataset);
  std::vector<double> values(std::size_t(H5Sget_simple_extent_npoints(space)));
  REQUIRE(H5Dread(dataset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) >= 0);
  values[0] += delta;
  REQUIRE(H5Dwrite(dataset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) >= 0);
  H5Sclose(space);
  H5Dclose(dataset);
  H5Fclose(file);
}

void drop_digest(const std::string& path, const std::string& param) {
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  REQUIRE(file >= 0);
  REQUIRE(H5Adelete_by_name(file, io::schema::checkpoint_dataset(param).c_str(),
                            io::schema::kCheckpointSha256, H5P_DEFAULT) >= 0);
  H5Fclose(file);
}

}  // namespace

TEST_CASE("analyze: a run file's checkpoint/ carries SHA-256s; an edited parameter is refused",
          "[analysis]") {
  for (const char* dtype : {"float32", "float64"}) {
    INFO(dtype);
    test::TempDir dir;
    std::ostringstream log;
    io::Config c = with({cat("dtype=", dtype), "train.steps=3", "model.width=8", "model.depth=2",
                         "data.val_size=16", "train.checkpoint_every=0"});
    const auto r = train::run(c, dir.path.string(), log);
    REQUIRE(r.status == "completed");
    const std::string param = "layer1.weight";
    {
      const h5::File f = h5::File::open(r.path);
      for (const auto& name : f.members(io::schema::kCheckpointGroup)) {
        const std::string digest = f.read_string_attribute(io::schema::checkpoint_dataset(name),
                                                           io::schema::kCheckpointSha256);
        CHECK(digest.size() == 64);
      }
      REQUIRE(f.has(io::schema::checkpoint_dataset(param)));
    }
    std::ostringstream out;
    CHECK_NOTHROW(analysis::load_run(r.path, std::nullopt, 0, out));
    CHECK_THAT(out.str(), !Contains("unverified"));

    edit_parameter(r.path, param, 0.25);
    CHECK_THROWS_WITH(analysis::load_run(r.path, std::nullopt, 0, out),
                      Contains(r.path) && Contains("checkpoint/" + param + " does not match the SHA-256"));

    // a file written before the digests: loads, with a note
    for (const auto& name : h5::File::open(r.path).members(io::schema::kCheckpointGroup))
      drop_digest(r.path, name);
    std::ostringstream old;
    CHECK_NOTHROW(analysis::load_run(r.path, std::nullopt, 0, old));
    CHECK_THAT(old.str(), Contains("note: " + r.path) && Contains("loaded unverified"));
  }
}
