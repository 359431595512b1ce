// libFuzzer target: the experiment config parser (src/io/config.*) on any text. A normlab::Error
// is the expected refusal; anything else (another exception, a sanitizer report) is a finding.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.hpp"
#include "io/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::string resolved;
  try {
    normlab::io::Config c = normlab::io::Config::parse(text, "fuzz.toml");
    for (const auto& key : c.keys()) (void)c.value_text(key);
    resolved = c.to_toml();
  } catch (const normlab::Error&) {
  }
  // A config this parser accepted must read back from its own output (the run file keeps it).
  if (!resolved.empty()) (void)normlab::io::Config::parse(resolved, "fuzz-round-trip.toml");
  // The same text as one --set override; an override accepted must read back too (a run stores
  // its config as TOML, and --resume parses it: a value that does not would strand the run).
  std::string overridden;
  try {
    normlab::io::Config c;
    c.set(text);
    overridden = c.to_toml();
  } catch (const normlab::Error&) {
  }
  if (!overridden.empty()) (void)normlab::io::Config::parse(overridden, "fuzz-set-round-trip.toml");
  return 0;
}
