#include "train/checkpoint.hpp"

#include "train/checkpoint_digest.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <sstream>

#include "core/error.hpp"
#include "io/hdf5.hpp"
#include "io/hdf5_guard.hpp"
#include "io/run_schema.hpp"

namespace normlab::train {

namespace attr = io::schema::attr;
namespace resume = io::schema::resume;

namespace {

template <class T>
const char* dtype_name() {
  return sizeof(T) == sizeof(float) ? "float32" : "float64";
}

std::string rng_text(const Rng& rng) {
  std::ostringstream out;
  out << rng;
  return out.str();
}

Rng rng_from_text(const std::string& text, const std::string& path, const char* name) {
  Rng rng;
  std::istringstream in(text);
  in >> rng;
  if (!in) fail(path, ": attribute '", name, "' is not the state of a std::mt19937_64");
  return rng;
}

// The data must reach the disk before the rename makes it the checkpoint: otherwise a power loss
// could leave the new name on an empty file.
void sync_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) fail(path, ": cannot open to sync: ", std::strerror(errno));
  const int result = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (result != 0) fail(path, ": cannot sync: ", std::strerror(error));
}

template <class T>
std::vector<T> read_values(const h5::File& f, const char* name, std::size_t size) {
  if (!f.is_dataset(name)) fail(f.path(), ": no dataset '", name, "'");
  if (f.float_bits(name) != 8 * sizeof(T)) {
    fail(f.path(), ": dataset '", name, "' is not ", dtype_name<T>(), " (the run's dtype)");
  }
  std::vector<T> values = f.read_vector<T>(name);
  if (values.size() != size) {
    fail(f.path(), ": dataset '", name, "' holds ", values.size(), " values, the parameters ", size);
  }
  return values;
}

}  // namespace

std::string checkpoint_path(const std::string& run_path) {
  std::filesystem::path p(run_path);
  return (p.parent_path() / (p.stem().string() + io::schema::suffix::kResume)).string();
}

template <class T>
void save_checkpoint(const std::string& path, const Checkpoint<T>& c) {
  const std::string tmp = path + io::schema::suffix::kTemporary;
  {
    h5::File f = h5::File::create(tmp);
    f.write_attribute("/", attr::kFormat, resume::kFormat);
    f.write_attribute("/", attr::kFormatVersion, kCheckpointFormatVersion);
    f.write_attribute("/", attr::kNormlabVersion, std::string(NORMLAB_VERSION));
    f.write_attribute("/", attr::kDtype, dtype_name<T>());
    f.write_attribute("/", resume::kStep, (long long)c.step);
    f.write_attribute("/", attr::kConfigToml, c.config_toml);
    f.write_attribute("/", resume::kTrainRng, rng_text(c.train_rng));
    f.write_attribute("/", resume::kDropoutRng, rng_text(c.dropout_rng));
    f.write_attribute("/", resume::kOptimizerT, (long long)c.optimizer.t);
    f.write_attribute("/", resume::kTrainLoss, c.train_loss);
    f.write_attribute("/", resume::kValLoss, c.val_loss);
    f.write_attribute("/", resume::kValMetric, c.val_metric);
    f.write<T>(resume::kParams, {c.params.size()}, c.params);
    f.write<T>(resume::kOptimizerM, {c.optimizer.m.size()}, c.optimizer.m);
    f.write<T>(resume::kOptimizerV, {c.optimizer.v.size()}, c.optimizer.v);
    const CheckpointDigests d = digests_of(c);
    f.write_attribute("/", resume::kSha256Params, d.params);
    f.write_attribute("/", resume::kSha256OptimizerM, d.optimizer_m);
    f.write_attribute("/", resume::kSha256OptimizerV, d.optimizer_v);
    f.write_attribute("/", resume::kSha256State, d.state);
    f.close();
  }
  sync_file(tmp);
  std::filesystem::rename(tmp, path);  // atomic: readers see the old file or the new one
}

template <class T>
Checkpoint<T> load_checkpoint(const std::string& path) {
  const h5::File f = h5::open_untrusted(path);  // a killed run's file: libhdf5 may choke on it
  if (!f.has_attribute("/", attr::kFormat) ||
      f.read_string_attribute("/", attr::kFormat) != resume::kFormat) {
    fail(path, ": not a normlab resume checkpoint (no root attribute ", attr::kFormat, " = \"",
         resume::kFormat, "\")");
  }
  const long long version = f.read_integer_attribute("/", attr::kFormatVersion);
  if (version != kCheckpointFormatVersion) {
    fail(path, ": resume checkpoint format version ", version, "; this normlab reads version ",
         kCheckpointFormatVersion);
  }
  const std::string dtype = f.read_string_attribute("/", attr::kDtype);
  if (dtype != dtype_name<T>()) fail(path, ": a ", dtype, " checkpoint for a ", dtype_name<T>(), " run");
  Checkpoint<T> c;
  c.step = f.read_integer_attribute("/", resume::kStep);
  c.config_toml = f.read_string_attribute("/", attr::kConfigToml);
  c.train_rng = rng_from_text(f.read_string_attribute("/", resume::kTrainRng), path, resume::kTrainRng);
  c.dropout_rng =
      rng_from_text(f.read_string_attribute("/", resume::kDropoutRng), path, resume::kDropoutRng);
  c.optimizer.t = f.read_integer_attribute("/", resume::kOptimizerT);
  c.train_loss = f.read_number_attribute("/", resume::kTrainLoss);
  c.val_loss = f.read_number_attribute("/", resume::kValLoss);
  c.val_metric = f.read_number_attribute("/", resume::kValMetric);
  const std::size_t P = f.length(resume::kParams);
  c.params = read_values<T>(f, resume::kParams, P);
  c.optimizer.m = read_values<T>(f, resume::kOptimizerM, P);
  c.optimizer.v = read_values<T>(f, resume::kOptimizerV, P);
  CheckpointDigests stored;
  for (auto [name, digest] : {std::pair{resume::kSha256Params, &stored.params},
                              {resume::kSha256OptimizerM, &stored.optimizer_m},
                              {resume::kSha256OptimizerV, &stored.optimizer_v},
                              {resume::kSha256State, &stored.state}}) {
    if (!f.has_attribute("/", name)) fail(path, ": no attribute '", name, "' (its checksum)");
    *digest = f.read_string_attribute("/", name);
  }
  verify_digests(path, c, stored);
  if (c.step < 0) fail(path, ": a negative step count ", c.step);
  return c;
}

std::string config_difference(const io::Config& a, const io::Config& b) {
  // Both come from the same defaults and refuse unknown keys, so their keys agree; a checkpoint
  // of another normlab version may still have a key more or less, which counts as a difference.
  const std::vector<std::string> keys_a = a.keys(), keys_b = b.keys();
  const std::set<std::string> in_a(keys_a.begin(), keys_a.end()), in_b(keys_b.begin(), keys_b.end());
  for (const auto& key : keys_a) {
    if (key == "train.out") continue;
    if (!in_b.count(key) || a.value_text(key) != b.value_text(key)) return key;
  }
  for (const auto& key : keys_b) {
    if (key != "train.out" && !in_a.count(key)) return key;
  }
  return "";
}

template void save_checkpoint<float>(const std::string&, const Checkpoint<float>&);
template void save_checkpoint<double>(const std::string&, const Checkpoint<double>&);
template Checkpoint<float> load_checkpoint<float>(const std::string&);
template Checkpoint<double> load_checkpoint<double>(const std::string&);

}  // namespace normlab::train
