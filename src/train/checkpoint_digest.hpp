// The integrity of a resume checkpoint (format version 2): the SHA-256 of each part of the state
// it saves, written as its root attributes sha256_* (io::schema::resume) and checked whenever a
// checkpoint is loaded, so a bit flipped on disk or an edited value is refused, naming the part,
// instead of resuming silently into another run.
//   params, optimizer_m, optimizer_v: the values' bytes as stored (little-endian IEEE, the dtype);
//   state: the step, the optimizer's update count, both generators' text, the config and the last
//          losses (their float64 bits), each as "name=value\n".
#pragma once

#include <span>
#include <string>

#include "train/checkpoint.hpp"

namespace normlab::train {

struct CheckpointDigests {
  std::string params, optimizer_m, optimizer_v, state;  // 64 hex digits each
};

template <class T>
CheckpointDigests digests_of(const Checkpoint<T>& checkpoint);

// Throws an Error naming `path` and every part whose digest is not `stored`'s.
template <class T>
void verify_digests(const std::string& path, const Checkpoint<T>& checkpoint,
                    const CheckpointDigests& stored);

// The SHA-256 (64 hex digits) of one parameter's values as float64 (little-endian IEEE, NaNs as
// one canonical NaN), whatever the run's dtype: the run file's checkpoint/<param> datasets carry
// it as their attribute io::schema::kCheckpointSha256, written from the trained values and checked
// against the values read back (analysis::load_run), so an edited or damaged value is refused.
template <class T>
std::string parameter_digest(std::span<const T> values);

}  // namespace normlab::train
