// The model family registry (models/registry.hpp) and model.norm_options per normalizer kind:
// lookup and refusals by name, models built from configs, the table form of norm_options parsed,
// checked and refused before any run file exists, and a mixed stack trained with options per kind.
#include <catch2/catch.hpp>
#include <filesystem>
#include <set>
#include <sstream>

#include "analysis/loaded_run.hpp"
#include "core/strings.hpp"
#include "helpers.hpp"
#include "io/config.hpp"
#include "io/hdf5.hpp"
#include "models/registry.hpp"
#include "norm/registry.hpp"
#include "train/trainer.hpp"
#include "train/workload.hpp"

namespace {

using namespace normlab;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using test::TempDir;

io::Config config(const std::vector<std::string>& assignments) {
  io::Config c;
  for (const auto& a : assignments) c.set(a);
  return c;
}

const models::TaskInfo kLabeled{"classification", models::TaskKind::labeled, 6, 3, 0};
const models::TaskInfo kTokens{"grammar", models::TaskKind::tokens, 0, 7, 5};

std::set<std::string> param_names(models::Model<double>& m) {
  std::set<std::string> names;
  for (const auto& info : m.params().infos()) names.insert(info.name);
  return names;
}

// Each normalizer site's name and resolved configuration, as "name: description".
std::vector<std::string> site_descriptions(const models::Model<double>& m) {
  std::vector<std::string> out;
  for (const auto* site : m.norm_sites()) {
    out.push_back(site->probe().name + ": " + norm::describe(site->config()));
  }
  return out;
}

}  // namespace

TEST_CASE("model registry: the families, their tasks, and refusals by name", "[models][registry]") {
  CHECK(models::family_names() == std::vector<std::string>{"mlp", "gru", "transformer"});
  CHECK(models::family_info("mlp").takes == models::TaskKind::labeled);
  CHECK(models::family_info("gru").takes == models::TaskKind::tokens);
  CHECK(models::family_info("transformer").default_task == "grammar");
  for (const auto& f : models::families()) CHECK_FALSE(f.description.empty());
  CHECK_THROWS_WITH(models::family_info("transfomer"),
                    Contains("model.family: 'transfomer' is not one of mlp, gru, transformer") &&
                        Contains("(did you mean 'transformer'?)"));
  // A family given the other kind of task is refused, naming both.
  CHECK_THROWS_WITH(models::build_model<double>(config({"model.family=gru"}), kLabeled),
                    Contains("data.task 'classification' gives labeled examples; model.family "
                             "'gru' takes token sequences"));
}

TEST_CASE("model registry: each family is built from its config keys and the task",
          "[models][registry]") {
  SECTION("mlp: the task's features and classes, the config's width and depth") {
    auto m = models::build_model<double>(config({"model.width=5", "model.depth=2"}), kLabeled);
    CHECK(m->family() == "mlp");
    CHECK(m->outputs() == 3);
    CHECK(m->params().info("layer0.weight").shape == std::vector<std::size_t>{5, 6});
    CHECK(m->params().info("head.weight").shape == std::vector<std::size_t>{3, 5});
    CHECK(m->norm_sites().size() == 2);
    CHECK(m->probes().size() == 2);
  }
  SECTION("gru: the vocabulary from the task, the sites from model.gru_norm") {
    auto m = models::build_model<double>(
        config({"model.family=gru", "model.embed=3", "model.width=4", "model.depth=1",
                "model.gru_norm=input"}),
        kTokens);
    CHECK(m->family() == "gru");
    CHECK(m->outputs() == 7);
    CHECK(m->params().info("embed.weight").shape == std::vector<std::size_t>{7, 3});
    CHECK(site_descriptions(*m).size() == 1);  // norm_ih only
  }
  SECTION("transformer: the context from the task, residual probes beside the sites") {
    auto m = models::build_model<double>(
        config({"model.family=transformer", "model.width=8", "model.heads=2", "model.depth=1"}),
        kTokens);
    CHECK(m->family() == "transformer");
    CHECK(m->params().info("pos.weight").shape == std::vector<std::size_t>{5, 8});
    CHECK(m->norm_sites().size() == 3);  // attn.norm, mlp.norm, norm_final
    CHECK(m->probes().size() == 4);      // and block0.residual
  }
}

TEST_CASE("norm_options: the string form applies to every site", "[models][registry][config]") {
  auto m = models::build_model<double>(
      config({"model.depth=2", "model.norm=[\"layernorm\", \"rmsnorm\"]",
              "model.norm_options=eps=1e-6"}),
      kLabeled);
  const auto sites = site_descriptions(*m);
  REQUIRE(sites.size() == 2);
  CHECK_THAT(sites[0], Contains("layer0.norm: layernorm(eps=1e-06,"));
  CHECK_THAT(sites[1], Contains("layer1.norm: rmsnorm(eps=1e-06,"));
  // ...so an option of one kind only cannot be given to a mixed stack in the string form.
  CHECK_THROWS_WITH(models::build_model<double>(
                        config({"model.depth=2", "model.norm=[\"layernorm\", \"pcnorm\"]",
                                "model.norm_options=learn_lambda=true"}),
                        kLabeled),
                    Contains("option 'learn_lambda' does not apply to layernorm"));
}

TEST_CASE("norm_options: the table form gives options per kind", "[models][registry][config]") {
  const std::string mixed = "model.norm=[\"layernorm\", \"pcnorm\"]";
  SECTION("from a file, and from --set, to the same config") {
    io::Config file = io::Config::parse(
        "[model]\ndepth = 2\nnorm = [\"layernorm\", \"pcnorm\"]\n"
        "norm_options = { pcnorm = \"learn_lambda=true\", layernorm = \"eps=1e-6\" }\n",
        "test.toml");
    io::Config set = config({"model.depth=2", mixed,
                             "model.norm_options={pcnorm=\"learn_lambda=true\", layernorm=\"eps=1e-6\"}"});
    CHECK(file.is_table("model.norm_options"));
    CHECK_FALSE(io::Config().is_table("model.norm_options"));
    const std::vector<std::pair<std::string, std::string>> entries{
        {"layernorm", "eps=1e-6"}, {"pcnorm", "learn_lambda=true"}};
    CHECK(file.string_table("model.norm_options") == entries);
    CHECK(set.string_table("model.norm_options") == entries);
    CHECK(set.value_text("model.norm_options") == file.value_text("model.norm_options"));
    // one key among the config's keys, and the resolved config reads back as itself
    const auto keys = file.keys();
    CHECK(std::count(keys.begin(), keys.end(), "model.norm_options") == 1);
    io::Config again = io::Config::parse(file.to_toml(), "resolved");
    CHECK(again.string_table("model.norm_options") == entries);
    // the flat copy the run file keeps (strings() of the table)
    CHECK(file.strings("model.norm_options") ==
          std::vector<std::string>{file.value_text("model.norm_options")});
    CHECK_THAT(file.value_text("model.norm_options"), Contains("pcnorm = 'learn_lambda=true'"));
  }
  SECTION("each kind's sites get that kind's options, and only those") {
    auto m = models::build_model<double>(
        config({"model.depth=2", mixed,
                "model.norm_options={pcnorm=\"learn_lambda=true\", layernorm=\"eps=1e-6\"}"}),
        kLabeled);
    const auto sites = site_descriptions(*m);
    REQUIRE(sites.size() == 2);
    CHECK_THAT(sites[0], Contains("layer0.norm: layernorm(eps=1e-06,"));
    CHECK_THAT(sites[1], Contains("layer1.norm: pcnorm(") && Contains("learn_lambda=true") &&
                             Contains("eps=1e-05"));
    const auto names = param_names(*m);
    CHECK(names.count("layer1.norm.lambda") == 1);
    CHECK(names.count("layer0.norm.lambda") == 0);
  }
  SECTION("a kind the table leaves out keeps its defaults") {
    auto m = models::build_model<double>(
        config({"model.depth=2", mixed, "model.norm_options={pcnorm=\"learn_lambda=true\"}"}),
        kLabeled);
    CHECK(norm::describe(m->norm_sites()[0]->config()) ==
          norm::describe(norm::resolve("layernorm", {})));
  }
  SECTION("refused by name: an option of another kind, an unused kind, an unknown kind") {
    auto refused = [&](const std::string& options, const std::string& message) {
      INFO(options);
      CHECK_THROWS_WITH(
          models::build_model<double>(
              config({"model.depth=2", mixed, "model.norm_options=" + options}), kLabeled),
          Contains(message));
    };
    refused("{layernorm=\"learn_lambda=true\"}",
            "model.norm_options.layernorm: option 'learn_lambda' does not apply to layernorm");
    refused("{layernorm=\"eps=0\"}", "model.norm_options.layernorm: option eps: eps must be a finite number > 0");
    refused("{rmsnorm=\"eps=1e-6\"}",
            "model.norm_options: options for rmsnorm, but no site of this mlp is a rmsnorm (its "
            "sites use layernorm, pcnorm)");
    refused("{pcnrom=\"learn_lambda=true\"}",
            "model.norm_options: 'pcnrom' is neither a normalizer kind nor a Transformer site "
            "role (did you mean 'pcnorm'?)");
  }
  SECTION("a table whose values are not option strings is a type error") {
    CHECK_THROWS_WITH(config({"model.norm_options={pcnorm=3}"}),
                      Contains("'model.norm_options' must be a string or a table of strings"));
    CHECK_THROWS_WITH(io::Config::parse("[model]\nnorm_options = { pcnorm = true }\n", "t.toml"),
                      Contains("t.toml: key 'model.norm_options' must be a string or a table"));
    // only norm_options takes a table
    CHECK_THROWS_WITH(io::Config::parse("[model]\nnorm = { rmsnorm = \"x\" }\n", "t.toml"),
                      Contains("'model.norm' must be a string or a non-empty list of strings"));
  }
}

TEST_CASE("norm_options: table errors are refused before any run file exists",
          "[models][registry][train]") {
  TempDir dir;
  std::ostringstream log;
  for (const auto& [options, message] : std::vector<std::pair<std::string, std::string>>{
           {"{layernorm=\"learn_lambda=true\"}", "does not apply to layernorm"},
           {"{scalenorm=\"eps=1e-6\"}", "no site of this mlp is a scalenorm"},
           {"{layrnorm=\"eps=1e-6\"}", "did you mean 'layernorm'?"}}) {
    io::Config c = config({"model.depth=2", "model.norm=[\"layernorm\", \"pcnorm\"]",
                           "model.norm_options=" + options});
    INFO(options);
    CHECK_THROWS_WITH(train::run(c, dir.path.string(), log), Contains(message));
    CHECK(fs::is_empty(dir.path));
  }
}

TEST_CASE("norm_options: a 2-layer mixed stack trains with lambda learned only at its pcnorm layer",
          "[models][registry][train]") {
  TempDir dir;
  std::ostringstream log;
  io::Config c = config({"model.depth=2", "model.width=16", "train.steps=30",
                         "train.eval_every=30", "data.val_size=64",
                         "model.norm=[\"layernorm\", \"pcnorm\"]",
                         "model.norm_options={pcnorm=\"learn_lambda=true\", layernorm=\"eps=1e-6\"}"});
  const auto r = train::run(c, dir.path.string(), log);
  INFO(log.str());
  REQUIRE(r.status == "completed");

  // The parameters: the layernorm layer's gain and bias, the pcnorm layer's gain and lambda.
  h5::File f = h5::File::open(r.path);
  const auto members = f.members("checkpoint");
  const std::set<std::string> names(members.begin(), members.end());
  CHECK(names == std::set<std::string>{"layer0.weight", "layer0.bias", "layer0.norm.gain",
                                       "layer0.norm.bias", "layer1.weight", "layer1.bias",
                                       "layer1.norm.gain",
                                       "layer1.norm.lambda", "head.weight", "head.bias"});
  const auto lambda = f.read<double>("checkpoint/layer1.norm.lambda");
  REQUIRE(lambda.size() == 1);
  const double lambda0 = norm::resolve("pcnorm", {}).lambda;  // where a learned lambda starts
  CHECK(lambda(0) != lambda0);  // trained: 30 Adam steps moved it
  CHECK(f.read_string_attribute("/", "norm_options") == c.value_text("model.norm_options"));
  CHECK(f.read_strings("site_kind") == std::vector<std::string>{"layernorm", "pcnorm"});

  // The log names each site's normalizer with every option resolved.
  const std::string expected_ln =
      "normalizer: " + norm::describe(norm::resolve("layernorm", {{"eps", "1e-6"}})) + " at layer0.norm";
  const std::string expected_pc =
      "normalizer: " + norm::describe(norm::resolve("pcnorm", {{"learn_lambda", "true"}})) +
      " at layer1.norm";
  CHECK_THAT(log.str(), Contains(expected_ln) && Contains(expected_pc));

  // The run reloads with the same sites: eps 1e-6 at the layernorm site, lambda a parameter of the
  // pcnorm site only.
  std::ostringstream reload_log;
  analysis::LoadedRun run = analysis::load_run(r.path, std::nullopt, 1, reload_log);
  REQUIRE(run.probes.size() == 2);
  CHECK(run.probes[0]->eps == 1e-6);
  CHECK(run.probes[0]->lambda.size == 0);
  CHECK(run.probes[1]->eps == norm::resolve("pcnorm", {}).eps);
  CHECK(run.probes[1]->lambda.size == 1);
}

TEST_CASE("workload: built through the registry, its metric named by the task", "[models][registry][train]") {
  std::ostringstream log;
  for (const std::string family : {"mlp", "gru", "transformer"}) {
    io::Config c = config({"model.family=" + family, "model.width=8", "model.depth=1",
                           "model.heads=2", "model.context=8", "data.val_size=16",
                           "data.chars=2000", "train.batch=4"});
    auto w = train::make_workload<float>(c, 1, 2, log);
    INFO(family);
    CHECK(w->val_metric_name() == "accuracy");
    CHECK(w->validation_batches() == 4);
    CHECK(w->probes().size() == (family == "mlp" ? 1u : family == "gru" ? 2u : 4u));
    CHECK(train::task_name(c) == (family == "mlp" ? "classification" : "grammar"));
  }
}
