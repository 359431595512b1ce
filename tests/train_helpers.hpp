// Shared test helper: a tiny run trained in-process, for the tests that analyse or damage run files.
#pragma once

#include <catch2/catch.hpp>

#include <filesystem>
#include <sstream>
#include <string>

#include "io/config.hpp"
#include "train/trainer.hpp"

namespace normlab::test {

// Trains the config `toml` in float64 without periodic checkpoints into `dir`, requires it to
// complete, and returns its run file's path.
inline std::string train_completed(const std::filesystem::path& dir, const std::string& toml) {
  io::Config c = io::Config::parse(toml, "test.toml");
  c.set("dtype=\"float64\"");
  c.set("train.checkpoint_every=0");
  std::ostringstream log;
  const auto r = train::run(c, dir.string(), log);
  REQUIRE(r.status == "completed");
  return r.path;
}

}  // namespace normlab::test
