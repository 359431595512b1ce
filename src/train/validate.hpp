// Every check a run makes of its config, done before anything is printed or created: the dtype,
// threads, cadence keys, run name, optimizer, a memory estimate (train/memory_estimate.hpp), and
// the model and data as they would be built (a missing data.path file is refused here).
#pragma once

#include "io/config.hpp"
#include "nn/optim.hpp"

namespace normlab::train {

// The optimizer of config `c`, validated (nn::validate).
nn::OptimConfig optim_config(const io::Config& c);

// Throws the Error the run would throw on starting, naming the key; returns when a run could start.
// Builds the model and data once (in float32), so it costs about a run's setup.
void validate(const io::Config& c);

}  // namespace normlab::train
