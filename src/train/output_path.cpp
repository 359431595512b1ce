#include "train/output_path.hpp"

#include <filesystem>

#include "io/run_file.hpp"
#include "io/run_schema.hpp"
#include "train/checkpoint.hpp"
#include "train/trainer.hpp"

namespace normlab::train {

std::string run_path(const io::Config& config, const std::string& out_dir) {
  const std::string dir = out_dir.empty() ? config.string("train.out") : out_dir;
  return (std::filesystem::path(dir) / (run_name(config) + io::schema::suffix::kRunFile)).string();
}

ExistingRun existing_run(const std::string& path, const io::Config& config) {
  ExistingRun e;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return e;
  e.exists = true;
  const h5::File f = io::open_run(path);
  e.status = f.read_string_attribute("/", io::schema::attr::kStatus);
  const io::Config stored = io::Config::parse(f.read_string_attribute("/", io::schema::attr::kConfigToml), path);
  e.difference = config_difference(config, stored);
  return e;
}

}  // namespace normlab::train
