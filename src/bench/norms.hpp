// `normlab bench norms`: memory throughput of every normalizer's forward and forward+backward,
// next to a memcpy measured in the same run. Prints figures; asserts nothing.
//
// Two regimes: tensors well beyond the caches (`mib` per tensor), where a kernel can at best move
// bytes as fast as memcpy does, and tensors that stay in L2 (`cached_kib`), where the figure is
// the kernel's compute rate. Times are this thread's CPU time by default (`clock`).
//
// Byte accounting. GB/s counts the tensors a kernel must move, once each: forward reads x and
// writes y (2 tensors); forward+backward is the forward, then the backward reading dy and x and
// writing dx (5 tensors). memcpy reads one and writes one (2), so "% memcpy" is
// t_memcpy / t_forward and 2.5 * t_memcpy / t_forward+backward. Beyond the caches a store to a
// line not in cache first reads it (write-allocate); glibc's memcpy at 64 MiB (rep movsb, below
// its non-temporal threshold of ~99 MiB here) and the kernels both pay that, so memcpy moves 3
// tensors' worth and the forward 3; the forward+backward moves 7 against 2.5 * 3 = 7.5, so at the
// bandwidth limit it can show a little over 100%.
#pragma once

#include <cstddef>
#include <ostream>
#include <string>
#include <vector>

namespace normlab::tools {

struct BenchNormsOptions {
  std::vector<std::size_t> dims{64, 256, 1024, 4096};
  double mib = 64;  // size of one (B, D) float32 tensor; well above the per-core caches
  std::vector<std::size_t> cached_dims{64, 256, 1024, 4096};  // empty: no in-cache table
  // One tensor in the in-cache table: x, y, dy, dx together take half of this CPU's 1 MiB L2
  // (8-way, physically indexed). At 256 KiB they took all of it, and with the parameters, the
  // cache and the stack besides, and pages that land on the same L2 sets, part of them lived in
  // L3: memcpy read 57-64 GB/s for a whole run in some processes and ~110 in others.
  double cached_kib = 128;
  int repeats = 9;  // rounds; each round times memcpy and every kind once, the median is reported
  std::vector<std::string> kinds;  // empty: every registered normalizer
  // cpu: this thread's CPU time, which leaves out the slices other processes take of a shared
  // core (on a loaded machine they made 1 ms windows read 2-20x slow); wall: elapsed time.
  std::string clock = "cpu";
};

void bench_norms(std::ostream& out, const BenchNormsOptions& options);

}  // namespace normlab::tools
