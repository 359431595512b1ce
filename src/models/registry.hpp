// The model family registry: the trainer, the benchmarks, the analysis tools and the tests build
// every model from a config through it, so the config is mapped to a model in one place per
// family. Adding a family is its files in src/models, defining a `FamilyInfo xxx_family()`, plus
// one line in registry.cpp (as the normalizer registry, norm/registry.hpp).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "io/config.hpp"
#include "models/model.hpp"
#include "models/site_options.hpp"

namespace normlab::models {

// What the data tells a family (the config gives the rest): the task's input kind and sizes.
struct TaskInfo {
  std::string name;          // data.task, resolved ("classification", "grammar", ...)
  TaskKind kind = TaskKind::labeled;
  std::size_t features = 0;  // labeled: input features per example
  std::size_t classes = 0;   // labeled: classes; tokens: the vocabulary
  std::size_t context = 0;   // tokens: the sequence length T
};

// Builds the family's model from the config's model.* keys, the task and model.norm_options.
template <class T>
using ModelBuilder = std::unique_ptr<Model<T>> (*)(const io::Config&, const TaskInfo&,
                                                   const SiteOptions&);

struct FamilyInfo {
  std::string name;          // the value of model.family
  std::string description;   // one line
  TaskKind takes;            // the tasks it takes: labeled examples or token sequences
  std::string default_task;  // what data.task = "auto" means for it
  ModelBuilder<float> build_float;
  ModelBuilder<double> build_double;
};

const std::vector<FamilyInfo>& families();
std::vector<std::string> family_names();
// Throws an Error naming model.family, the nearest valid family and the valid ones.
const FamilyInfo& family_info(std::string_view name);

// model.norm_options, either form. The table form is checked here, kind by kind: an unknown kind
// (naming the nearest valid one) and an option that does not apply to its kind are refused.
SiteOptions site_options(const io::Config& c);

// The model of config `c` for `task`. Beyond the family's own checks, a kind in the table form of
// model.norm_options that no site of the built model uses is refused (naming the kinds it uses).
template <class T>
std::unique_ptr<Model<T>> build_model(const io::Config& c, const TaskInfo& task);

// c.integer(key), refused with an Error naming the key when below 1.
std::size_t positive(const io::Config& c, const char* key);

}  // namespace normlab::models
