// The progress of `normlab train` on a terminal: one line, redrawn in place ('\r'), with the step,
// the training loss, steps per second and the time left. Off (when the output is not a terminal),
// it prints nothing and the run's plain lines (its evaluations) are the whole log.
#pragma once

#include <chrono>
#include <cstddef>
#include <ostream>

namespace normlab::train {

class ProgressLine {
 public:
  // `steps`: the run's total; `start`: the steps done before this session (a resume).
  ProgressLine(std::ostream& out, bool enabled, std::size_t steps, std::size_t start);
  ~ProgressLine();  // ends the line
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  // After a step: `done` steps in all, its loss. Redraws at most ten times a second, and at the end.
  void step(std::size_t done, double loss);
  // Before a plain line is printed: erases the progress line (it comes back at the next step).
  void clear();

 private:
  using Clock = std::chrono::steady_clock;
  std::ostream& out_;
  bool enabled_, shown_ = false;
  std::size_t steps_, start_;
  Clock::time_point began_, drawn_{};
};

}  // namespace normlab::train
