// Experiment configuration: TOML files of differences from experiments/defaults.toml (compiled in),
// `--set key=value` overrides, strict validation (unknown keys suggest the nearest valid one, types
// are checked against the defaults), typed access, and the resolved config as TOML text.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace normlab::io {

class Config {
 public:
  Config();  // the defaults
  Config(const Config&);
  Config& operator=(const Config&);
  Config(Config&&) noexcept;
  Config& operator=(Config&&) noexcept;
  ~Config();

  // Defaults, then the file's keys; throws Error naming the file (and line, for syntax errors).
  static Config load(const std::string& path);
  // Defaults, then TOML text (`origin` names it in errors).
  static Config parse(std::string_view toml_text, const std::string& origin);

  // "optim.lr=3e-4", "model.norm=layernorm", "model.norm=[\"layernorm\",\"rmsnorm\"]",
  // "model.norm_options={pcnorm=\"learn_lambda=true\"}".
  void set(std::string_view assignment);

  double number(std::string_view key) const;
  std::int64_t integer(std::string_view key) const;
  bool boolean(std::string_view key) const;
  std::string string(std::string_view key) const;
  // A string or a list of them; a table (model.norm_options' per-kind form) as its TOML text.
  std::vector<std::string> strings(std::string_view key) const;
  // model.norm_options may be a table of strings, { pcnorm = "learn_lambda=true" }: whether it is
  // one here, and its entries by name ({} when the key holds a string).
  bool is_table(std::string_view key) const;
  std::vector<std::pair<std::string, std::string>> string_table(std::string_view key) const;

  std::vector<std::string> keys() const;  // every leaf key, dotted, in file order
  std::string value_text(std::string_view key) const;  // the value as TOML ("0.001", "\"adam\"")
  std::string to_toml() const;  // the whole resolved config

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace normlab::io
