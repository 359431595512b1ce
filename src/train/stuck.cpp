#include "train/stuck.hpp"

#include <cstdint>

#include "core/error.hpp"

namespace normlab::train {

StuckWatch::StuckWatch(const io::Config& c, double chance_loss)
    : chance_(chance_loss), margin_(c.number("train.stuck_margin")) {
  const std::int64_t after = c.integer("train.stuck_after");
  if (!(margin_ >= 0)) fail("train.stuck_margin must be >= 0 nats (0: never stuck), got ", margin_);
  if (after < 0) fail("train.stuck_after must be a number of steps >= 0, got ", after);
  early_ = std::size_t(after);
}

void StuckWatch::evaluation(std::size_t done, double val_loss) {
  if (done <= early_ || done == 0) return;
  ++late_;
  left_ |= val_loss < chance_ - margin_;
}

}  // namespace normlab::train
