// Status "stuck" (train/stuck.hpp): a run that never leaves its task's chance level is a result,
// recorded as such, and a run that learns is not; the rule itself, evaluation by evaluation.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <sstream>

#include "helpers.hpp"
#include "io/config.hpp"
#include "io/hdf5.hpp"
#include "train/stuck.hpp"
#include "train/trainer.hpp"

namespace {

using namespace normlab;
using Catch::Matchers::Contains;

io::Config with(const std::vector<std::string>& assignments) {
  io::Config c;
  for (const auto& a : assignments) c.set(a);
  return c;
}

}  // namespace

TEST_CASE("stuck: the rule counts only the evaluations after the early steps", "[train][stuck]") {
  // chance 3.0, margin 0.1: a late evaluation below 2.9 means the run left the chance level.
  const io::Config c = with({"train.stuck_margin=0.1", "train.stuck_after=100"});
  train::StuckWatch at_chance(c, 3.0);
  CHECK(at_chance.early_steps() == 100);
  CHECK(at_chance.threshold() == Approx(2.9));
  at_chance.evaluation(50, 1.0);    // early: a good loss here is not enough to count as trained
  at_chance.evaluation(100, 1.0);   // the last early step
  CHECK_FALSE(at_chance.stuck());   // no late evaluation yet: nothing to judge
  at_chance.evaluation(101, 2.95);
  at_chance.evaluation(400, 2.91);
  CHECK(at_chance.stuck());

  train::StuckWatch learnt(c, 3.0);
  learnt.evaluation(200, 2.5);  // it left...
  learnt.evaluation(400, 3.2);  // ...and came back: still not stuck, it trained for a while
  CHECK_FALSE(learnt.stuck());

  train::StuckWatch off(with({"train.stuck_margin=0"}), 3.0);
  off.evaluation(400, 5.0);
  CHECK_FALSE(off.stuck());

  CHECK_THROWS_WITH(train::StuckWatch(with({"train.stuck_margin=-1"}), 3.0),
                    Contains("train.stuck_margin must be >= 0"));
  CHECK_THROWS_WITH(train::StuckWatch(with({"train.stuck_after=-5"}), 3.0),
                    Contains("train.stuck_after must be a number of steps >= 0"));
  // A run no longer than the early steps is never judged: smoke runs stay "completed".
  train::StuckWatch short_run(c, 3.0);
  short_run.evaluation(100, 3.5);
  CHECK_FALSE(short_run.stuck());
}

TEST_CASE("stuck: a run that learns nothing ends stuck, one that learns completes", "[train][stuck]") {
  test::TempDir dir;
  std::ostringstream log;
  // The embedded classification task: 8 balanced classes, chance ln 8 = 2.079 nats. At lr 1e-9
  // the model stays where it started, near the uniform prediction.
  const std::vector<std::string> frozen{"train.steps=200", "optim.lr=1e-9", "name=frozen"};
  auto r = train::run(with(frozen), dir.path.string(), log);
  INFO(log.str());
  CHECK(r.status == "stuck");
  CHECK_THAT(log.str(), Contains("the run is stuck"));
  h5::File f = h5::File::open(r.path);
  CHECK(f.read_string_attribute("/", "status") == "stuck");
  CHECK(f.read_number_attribute("/", "chance_loss") == Approx(std::log(8.0)).epsilon(1e-12));
  CHECK(f.is_dataset("checkpoint/layer0.weight"));  // a result: its final parameters are kept as for any other

  auto learning = train::run(with({"train.steps=200", "name=learning"}), dir.path.string(), log);
  CHECK(learning.status == "completed");
  CHECK(learning.val_loss < std::log(8.0) - 0.5);

  std::vector<std::string> off = frozen;
  off.insert(off.end(), {"train.stuck_margin=0", "name=off"});
  CHECK(train::run(with(off), dir.path.string(), log).status == "completed");
}

TEST_CASE("stuck: a language model's chance is its unigram entropy", "[train][stuck]") {
  test::TempDir dir;
  std::ostringstream log;
  const io::Config c = with({"model.family=gru", "model.width=16", "model.embed=8", "model.context=16",
                             "train.batch=8", "train.steps=40", "train.eval_every=20", "train.stuck_after=10",
                             "data.val_size=16", "optim.lr=1e-9"});
  auto r = train::run(c, dir.path.string(), log);
  INFO(log.str());
  // The grammar text's unigram entropy is 2.92 nats on the whole text (test_data.cpp); the
  // validation part's, which the log prints, is what chance_loss holds.
  const double chance = h5::File::open(r.path).read_number_attribute("/", "chance_loss");
  std::ostringstream printed;
  printed << "unigram entropy " << std::setprecision(4) << chance << " nats";
  CHECK_THAT(log.str(), Contains(printed.str()));
  CHECK(chance == Approx(2.92).margin(0.1));
  CHECK(r.status == "stuck");  // a model that predicts uniformly is at ln(vocab) > the entropy
}

TEST_CASE("stuck: a stuck run stopped and resumed ends stuck, as without the stop", "[train][stuck][resume]") {
  test::TempDir dir;
  std::ostringstream log;
  const io::Config c = with({"train.steps=200", "train.eval_every=50", "optim.lr=1e-9",
                             "train.checkpoint_every=50", "name=frozen"});
  auto stopped = train::run(c, dir.path.string(), log, {.stop_at_step = 120});
  REQUIRE(stopped.status == "interrupted");
  auto resumed = train::run(c, dir.path.string(), log, {.resume = true});
  INFO(log.str());
  CHECK(resumed.resumed_from == 120);
  CHECK(resumed.status == "stuck");
}
