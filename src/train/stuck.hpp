// Failure as the papers count it: a run that trains to its end but never leaves the task's chance
// level (post-norm without warmup sitting at the unigram loss) is no less a failure than one whose
// loss became NaN. StuckWatch sees every evaluation and says, at the end, whether the run ends with
// status "stuck" (io::schema::status::kStuck): every evaluation after the early steps (the first
// train.stuck_after steps) had a val loss of at least chance − train.stuck_margin, and there was
// one. A run no longer than train.stuck_after is never stuck: smoke runs of a few steps have not
// had the chance to learn.
#pragma once

#include <cstddef>

#include "io/config.hpp"

namespace normlab::train {

class StuckWatch {
 public:
  // Validates train.stuck_margin (>= 0; 0 turns the watch off) and train.stuck_after (>= 0
  // steps), refusing either with an Error naming the key.
  StuckWatch(const io::Config& c, double chance_loss);

  // The evaluation after `done` steps (done >= 1) had this val loss.
  void evaluation(std::size_t done, double val_loss);
  // Some evaluation after the early steps was seen and none of them left the chance level.
  bool stuck() const { return margin_ > 0 && late_ > 0 && !left_; }
  double threshold() const { return chance_ - margin_; }
  std::size_t early_steps() const { return early_; }

 private:
  double chance_, margin_;
  std::size_t early_;   // evaluations after more than this many steps count
  std::size_t late_ = 0;
  bool left_ = false;
};

}  // namespace normlab::train
