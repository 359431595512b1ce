#include "train/progress.hpp"

#include <cstdio>
#include <string>

namespace normlab::train {

namespace {

std::string clock_text(double seconds) {
  const long s = long(seconds + 0.5);
  char buffer[32];
  if (s >= 3600) {
    std::snprintf(buffer, sizeof buffer, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  } else {
    std::snprintf(buffer, sizeof buffer, "%ld:%02ld", s / 60, s % 60);
  }
  return buffer;
}

}  // namespace

ProgressLine::ProgressLine(std::ostream& out, bool enabled, std::size_t steps, std::size_t start)
    : out_(out), enabled_(enabled), steps_(steps), start_(start), began_(Clock::now()) {}

ProgressLine::~ProgressLine() {
  if (shown_) out_ << "\n" << std::flush;
}

void ProgressLine::step(std::size_t done, double loss) {
  if (!enabled_) return;
  const Clock::time_point now = Clock::now();
  if (shown_ && done < steps_ && now - drawn_ < std::chrono::milliseconds(100)) return;
  drawn_ = now;
  const double seconds = std::chrono::duration<double>(now - began_).count();
  const double rate = seconds > 0 ? double(done - start_) / seconds : 0.0;
  char line[160];
  std::snprintf(line, sizeof line, "\rstep %zu/%zu  loss %.4f  %.1f steps/s  ETA %s\033[K", done, steps_,
                loss, rate, rate > 0 ? clock_text(double(steps_ - done) / rate).c_str() : "?");
  out_ << line << std::flush;
  shown_ = true;
}

void ProgressLine::clear() {
  if (!shown_) return;
  out_ << "\r\033[K";
  shown_ = false;
}

}  // namespace normlab::train
