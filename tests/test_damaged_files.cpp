// Readers that trust nothing (issue 15): run files, checkpoints and apply's input damaged the way
// a fuzzer and a reviewer damaged them, each refused with an Error naming the file and the object
// (no crash, no silent success); a sweep directory with one bad file still indexes the good ones;
// files on which libhdf5 itself crashes or loops (tests/fixtures/damaged/) fail within seconds.
#include <catch2/catch.hpp>

#include <hdf5.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <sstream>

#include "analysis/apply.hpp"
#include "analysis/loaded_run.hpp"
#include "core/error.hpp"
#include "helpers.hpp"
#include "train_helpers.hpp"
#include "io/config.hpp"
#include "io/hdf5.hpp"
#include "io/hdf5_guard.hpp"
#include "io/info.hpp"
#include "io/run_file.hpp"
#include "sweep/collect.hpp"
#include "train/checkpoint.hpp"
#include "train/trainer.hpp"

namespace {

using namespace normlab;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

// A tiny MLP with sites, evaluations and statistics at every step, and a checkpoint at the end.
const char* kTinyMlp =
    "[model]\nfamily = \"mlp\"\nwidth = 6\ndepth = 1\nnorm = \"rmsnorm\"\n"
    "[data]\nfeatures = 4\nclasses = 2\nval_size = 8\n"
    "[train]\nsteps = 4\nbatch = 4\neval_every = 2\ncheckpoint_every = 0\n[stats]\nevery = 1\n";

std::string train_tiny(const fs::path& dir) { return test::train_completed(dir, kTinyMlp); }

// ---- damaging a file with the raw HDF5 API (what the wrapper would never write) ----

struct RawFile {
  hid_t id;
  explicit RawFile(const std::string& path) : id(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT)) {
    REQUIRE(id >= 0);
  }
  ~RawFile() { H5Fclose(id); }
  void unlink(const char* name) {
    if (H5Lexists(id, name, H5P_DEFAULT) > 0) REQUIRE(H5Ldelete(id, name, H5P_DEFAULT) >= 0);
  }
  // Replaces `name` by a dataset of `type` and extent `dims` (rank 0: a scalar) holding `data`.
  void dataset(const char* name, hid_t type, std::vector<hsize_t> dims, const void* data) {
    unlink(name);
    hid_t space = dims.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(int(dims.size()), dims.data(), nullptr);
    hid_t d = H5Dcreate2(id, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(d >= 0);
    if (data) REQUIRE(H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
    H5Dclose(d);
    H5Sclose(space);
  }
  // Replaces root attribute `name` by an array of `n` strings (variable or fixed length).
  void string_array_attribute(const char* name, hsize_t n, bool variable) {
    H5Adelete_by_name(id, "/", name, H5P_DEFAULT);
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, variable ? H5T_VARIABLE : 32);
    hid_t space = H5Screate_simple(1, &n, nullptr);
    hid_t a = H5Acreate2(id, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(a >= 0);
    std::vector<std::string> text(n, "normlab-run-with-a-long-text");
    std::vector<const char*> pointers;
    std::string fixed(32 * n, '\0');
    for (hsize_t i = 0; i < n; ++i) {
      pointers.push_back(text[i].c_str());
      text[i].copy(fixed.data() + 32 * i, 31);
    }
    REQUIRE(H5Awrite(a, type, variable ? (const void*)pointers.data() : fixed.data()) >= 0);
    H5Aclose(a);
    H5Sclose(space);
    H5Tclose(type);
  }
};

std::string copy_of(const std::string& path, const fs::path& dir, const std::string& name) {
  fs::create_directories(dir);
  const fs::path to = dir / name;
  fs::copy_file(path, to, fs::copy_options::overwrite_existing);
  return to.string();
}

std::string info_of(const std::string& path) {
  std::ostringstream out;
  tools::print_run_info(out, path, true);
  return out.str();
}

}  // namespace

TEST_CASE("damaged files: a string attribute stored as an array is refused, not overflowed",
          "[damaged][hdf5]") {
  test::TempDir dir;
  const std::string run = train_tiny(dir.path / "runs");
  for (bool variable : {true, false}) {
    for (hsize_t n : {2, 8, 64}) {
      for (const char* attribute : {"format", "status", "run_id", "config_toml"}) {
        const std::string bad = copy_of(run, dir.path, "bad.h5");
        RawFile(bad).string_array_attribute(attribute, n, variable);
        const std::string expected =
            cat("attribute '", attribute, "' is not one string: found an array of shape (", n, ",)");
        CHECK_THROWS_WITH(h5::File::open(bad).read_string_attribute("/", attribute), Contains(expected));
        CHECK_THROWS_WITH(info_of(bad), Contains(bad) && Contains(expected));
      }
    }
  }
}

TEST_CASE("damaged files: 0-D axes, scalar series, missing evaluations and empty sites are named",
          "[damaged][info]") {
  test::TempDir dir;
  const std::string run = train_tiny(dir.path / "runs");
  const double one = 1;
  const long long seven = 7;
  struct Damage {
    const char* what;
    std::function<void(RawFile&)> apply;
    const char* expected;
  };
  const std::vector<Damage> damages{
      {"0-D step", [&](RawFile& f) { f.dataset("step", H5T_NATIVE_LLONG, {}, &seven); },
       ":step: expected a 1-D dataset, found shape ()"},
      {"0-D eval_step", [&](RawFile& f) { f.dataset("eval_step", H5T_NATIVE_LLONG, {}, &seven); },
       ":eval_step: expected a 1-D dataset, found shape ()"},
      {"0-D stat_step", [&](RawFile& f) { f.dataset("stat_step", H5T_NATIVE_LLONG, {}, &seven); },
       ":stat_step: expected a 1-D dataset, found shape ()"},
      {"scalar train_loss", [&](RawFile& f) { f.dataset("train_loss", H5T_NATIVE_DOUBLE, {}, &one); },
       ":train_loss: expected a 1-D dataset, found shape ()"},
      {"eval_step without val_loss", [&](RawFile& f) { f.unlink("val_loss"); },
       "eval_step has 2 rows, but val_loss 0"},
      {"an empty site", [&](RawFile& f) { f.dataset("site", H5T_NATIVE_LLONG, {0}, nullptr); },
       ":site: expected variable-length strings, found int64"},
      {"eval_step without val_metric", [&](RawFile& f) { f.unlink("val_metric"); },
       "eval_step has 2 rows, but val_loss 2 and val_metric 0"},
      // A flipped bit in a name hides the site table: statistics without it are a damaged file,
      // not a run without sites (the writer makes stat_step only beside a site table).
      {"statistics without a site table", [&](RawFile& f) { f.unlink("site"); },
       "statistics (stat_step) but no site table"},
      {"a completed run without its step axis", [&](RawFile& f) { f.unlink("step"); },
       "no step axis in a run with status 'completed'"},
  };
  for (const auto& d : damages) {
    SECTION(d.what) {
      const std::string bad = copy_of(run, dir.path, "bad.h5");
      {
        RawFile f(bad);
        d.apply(f);
      }
      CHECK_THROWS_WITH(info_of(bad), Contains(bad) && Contains(d.expected));
    }
  }
  SECTION("an empty site table of strings") {
    const std::string bad = copy_of(run, dir.path, "bad.h5");
    {
      RawFile f(bad);
      hid_t type = H5Tcopy(H5T_C_S1);
      H5Tset_size(type, H5T_VARIABLE);
      f.dataset("site", type, {0}, nullptr);
      H5Tclose(type);
    }
    CHECK_THROWS_WITH(info_of(bad), Contains(bad) && Contains("an empty site table"));
  }
  CHECK_THAT(info_of(run), Contains("4 steps") && Contains("2 evaluations"));  // the intact one
}

TEST_CASE("damaged files: a sweep directory with one bad run still indexes the good one",
          "[damaged][sweep]") {
  test::TempDir dir;
  const fs::path runs = dir.path / "runs";
  const std::string good = train_tiny(runs);
  const std::string bad = copy_of(good, runs, "bad.h5");
  RawFile(bad).string_array_attribute("config_toml", 8, true);
  const sweep::Index index = sweep::collect(dir.path.string(), false);
  REQUIRE(index.rows.size() == 2);
  CHECK(index.rows[0].id == "bad");
  CHECK(index.rows[0].status == "unreadable");
  CHECK_THAT(index.rows[0].overrides, Contains(bad) && Contains("attribute 'config_toml'"));
  CHECK(index.rows[1].status == "completed");
  CHECK(index.rows[1].steps == 4);
}

TEST_CASE("damaged files: analyze refuses a transposed checkpoint weight of the same size",
          "[damaged][analysis]") {
  test::TempDir dir;
  const std::string run = train_tiny(dir.path / "runs");
  std::ostringstream log;
  REQUIRE_NOTHROW(analysis::load_run(run, std::nullopt, 0, log));
  const std::string bad = copy_of(run, dir.path, "bad.h5");
  std::string weight;
  h5::Shape shape;
  for (const auto& name : h5::File::open(bad).members("checkpoint")) {
    shape = h5::File::open(bad).shape("checkpoint/" + name);
    if (shape.size() == 2 && shape[0] != shape[1]) {
      weight = "checkpoint/" + name;
      break;
    }
  }
  REQUIRE(!weight.empty());
  std::vector<double> values(shape[0] * shape[1], 0.5);
  RawFile(bad).dataset(weight.c_str(), H5T_NATIVE_DOUBLE, {shape[1], shape[0]}, values.data());
  CHECK_THROWS_WITH(analysis::load_run(bad, std::nullopt, 0, log),
                    Contains(bad) && Contains(weight + " has shape (" + std::to_string(shape[1])) &&
                        Contains("the model's parameter has shape " + h5::shape_string(shape)));
}

TEST_CASE("damaged files: apply refuses a damaged float datatype instead of writing zeros",
          "[damaged][apply]") {
  test::TempDir dir;
  const std::string in = (dir.path / "x.h5").string();
  std::vector<double> x{1, 2, 3, 4, 5, 6};
  {
    h5::File f = h5::File::create(in);
    f.write<double>("x", {2, 3}, x);
  }
  tools::ApplyRequest request;
  request.kind = "rmsnorm";
  request.in = in;
  REQUIRE_NOTHROW(tools::apply_file(request));
  // The same bytes under a float64 type whose exponent bias is not IEEE's 1023.
  hid_t damaged = H5Tcopy(H5T_IEEE_F64LE);
  H5Tset_ebias(damaged, 7);
  RawFile(in).dataset("x", damaged, {2, 3}, x.data());
  H5Tclose(damaged);
  CHECK_THROWS_WITH(tools::apply_file(request),
                    Contains(in + ":x: expected IEEE float16/32/64 values, found a 64-bit float"));
}

TEST_CASE("damaged files: a checkpoint with 0-D or transposed parameters is refused",
          "[damaged][resume]") {
  test::TempDir dir;
  const std::string path = (dir.path / "run.resume.h5").string();
  train::Checkpoint<double> c;
  c.step = 3;
  c.config_toml = "seed = 1\n";
  c.params = {1, 2, 3, 4};
  c.optimizer.m = c.optimizer.v = {0, 0, 0, 0};
  train::save_checkpoint(path, c);
  CHECK(train::load_checkpoint<double>(path).params == c.params);
  const double one = 1;
  RawFile(path).dataset("params", H5T_NATIVE_DOUBLE, {}, &one);
  CHECK_THROWS_WITH(train::load_checkpoint<double>(path),
                    Contains(path + ":params: expected a 1-D dataset, found shape ()"));
  RawFile(path).dataset("params", H5T_NATIVE_DOUBLE, {2, 2}, c.params.data());
  CHECK_THROWS_WITH(train::load_checkpoint<double>(path),
                    Contains(path + ":params: expected a 1-D dataset, found shape (2, 2)"));
  RawFile(path).string_array_attribute("config_toml", 8, true);
  CHECK_THROWS_WITH(train::load_checkpoint<double>(path), Contains("attribute 'config_toml'"));
}

TEST_CASE("damaged files: the guard's child reads an intact file and gives up on one that blocks",
          "[damaged][hdf5]") {
  test::TempDir dir;
  const std::string run = train_tiny(dir.path / "runs");
  REQUIRE_NOTHROW(h5::check_readable(run));
  REQUIRE_NOTHROW(h5::check_readable(run, h5::File::Mode::read_swmr));
  // A named pipe where a run file should be: opening it blocks until someone writes, as libhdf5
  // blocks in its loops on some damaged files. The child is killed at the limit, the file named.
  const std::string fifo = (dir.path / "blocks.h5").string();
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const auto start = std::chrono::steady_clock::now();
  CHECK_THROWS_WITH(h5::check_readable(fifo, h5::File::Mode::read, 0.5),
                    Contains(fifo + ": damaged HDF5 file (libhdf5 timed out reading it"));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(3));
}

TEST_CASE("damaged files: a corrupt global heap, on which libhdf5 crashes, is named; collect goes on",
          "[damaged][hdf5]") {
  // damage_files.py's bit flip 1576: the length of a heap object in `site`'s strings; libhdf5
  // copies that many bytes (H5HG_read) and dies of SIGSEGV, or not, depending on the memory beyond.
  const std::string heap = NORMLAB_FIXTURE_DIR "/damaged/corrupt_global_heap.h5";
  test::TempDir dir;
  const std::string copy = copy_of(heap, dir.path / "runs", "heap.h5");
  const auto start = std::chrono::steady_clock::now();
  CHECK_THROWS_WITH(info_of(copy), Contains(copy + ": damaged HDF5 file (libhdf5 crashed reading it"));
  const sweep::Index index = sweep::collect(dir.path.string(), false);
  // collect reads no strings from the heap but the attributes' (intact here): it indexes the run,
  // unless the guard's child happened to crash on the heap too, when it names the file.
  REQUIRE(index.rows.size() == 1);
  if (index.rows[0].status == "unreadable") {
    CHECK_THAT(index.rows[0].overrides, Contains(copy + ": damaged HDF5 file"));
  } else {
    CHECK(index.rows[0].status == "completed");
    CHECK(index.rows[0].steps == 4);
  }
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
}
