// `normlab demo`, the quick-start job, in two parts:
//  1. every normalizer on one generated batch whose rows have different offsets and scales,
//     showing what each removes (mean, scale) and what each is invariant to;
//  2. the default experiment: each model family (experiments/{mlp,gru,transformer}.toml, compiled
//     in) trained with RMSNorm, LayerNorm and no normalization on its embedded task, then a table
//     of final losses and time per step. Run files go to `out_dir`.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

namespace normlab::tools {

// Part 1.
void run_normalizer_table(std::ostream& out, std::uint64_t seed);
// Part 2; steps > 0 overrides every experiment's train.steps.
void run_default_experiment(std::ostream& out, std::uint64_t seed, const std::string& out_dir,
                            std::int64_t steps = 0);

}  // namespace normlab::tools
