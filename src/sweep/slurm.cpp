#include "sweep/slurm.hpp"

#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "core/strings.hpp"

namespace normlab::sweep {

namespace fs = std::filesystem;

namespace {

// Single-quoted for the shell.
std::string shell(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') q += "'\\''";
    else q += c;
  }
  return q + "'";
}

}  // namespace

std::string sbatch_script(const Sweep& sweep, const SlurmOptions& o) {
  if (o.cpus < 1) fail("--cpus must be at least 1, got ", o.cpus);
  if (o.tasks < 0) fail("--tasks must be at least 1, got ", o.tasks);
  if (o.binary.empty()) fail("slurm: no normlab executable");
  for (const auto& line : o.sbatch) {
    if (line.rfind("-", 0) != 0 || line.find('\n') != std::string::npos) {
      fail("--sbatch '", line, "': one sbatch option per --sbatch, e.g. --sbatch=--mem=8G");
    }
  }
  const int runs = int(sweep.runs.size());
  const int tasks = std::min(o.tasks > 0 ? o.tasks : std::min(runs, 1000), runs);
  const fs::path dir = fs::absolute(sweep.out);
  std::ostringstream s;
  s << "#!/bin/bash\n"
    << "# Written by normlab sweep --slurm: " << runs << " runs of " << fs::absolute(sweep.path).string()
    << "\n# in " << tasks << " array tasks; task I runs every " << tasks
    << "-th run from the I-th (its shard), " << o.cpus << " at a time.\n"
    << "#SBATCH --job-name=normlab-" << fs::path(sweep.path).stem().string() << "\n"
    << "#SBATCH --array=0-" << tasks - 1;
  if (o.max_running > 0) s << '%' << o.max_running;
  s << "\n"
    << "#SBATCH --cpus-per-task=" << o.cpus << "\n"
    << "#SBATCH --time=" << o.time << "\n";
  if (!o.partition.empty()) s << "#SBATCH --partition=" << o.partition << "\n";
  s << "#SBATCH --output="
    << (o.output.empty() ? (dir / "slurm" / "%A_%a.out").string() : fs::absolute(o.output).string())
    << "\n";
  for (const auto& line : o.sbatch) s << "#SBATCH " << line << "\n";
  s << "exec " << shell(o.binary) << " sweep " << shell(fs::absolute(sweep.path).string()) << " --out "
    << shell(dir.string()) << " --jobs " << o.cpus << "\n";
  return s.str();
}

std::string sbatch_script_path(const Sweep& sweep) {
  return (fs::path(sweep.out) / "slurm" / "sweep.sbatch").string();
}

std::string write_sbatch_script(const Sweep& sweep, const SlurmOptions& o) {
  const fs::path path = sbatch_script_path(sweep);
  fs::create_directories(path.parent_path());
  std::ofstream(path) << sbatch_script(sweep, o);
  fs::permissions(path, fs::perms::owner_exec, fs::perm_options::add);
  return path.string();
}

std::string submit(const std::string& script_path, bool wait) {
  const std::string command = std::string("sbatch ") + (wait ? "--wait " : "") + shell(script_path) + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) fail("slurm: cannot run sbatch");
  std::string output;
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, pipe)) output += buffer;
  const int status = ::pclose(pipe);
  if (status != 0) {
    fail("slurm: `", command.substr(0, command.size() - 5), "` failed (exit status ",
         WIFEXITED(status) ? WEXITSTATUS(status) : -1, "): ", output.empty() ? "no output" : output);
  }
  return output;
}

std::pair<int, int> parse_shard(const std::string& text) {
  if (text.empty()) {
    const char* id = std::getenv("SLURM_ARRAY_TASK_ID");
    const char* count = std::getenv("SLURM_ARRAY_TASK_COUNT");
    if (id && count) return parse_shard(std::string(id) + "/" + count);
    return {0, 1};
  }
  const auto parts = split(text, '/');
  if (parts.size() != 2) fail("--shard: '", text, "' is not I/N");
  const double i = parse_double(parts[0], "--shard"), n = parse_double(parts[1], "--shard");
  if (i != std::floor(i) || n != std::floor(n) || n < 1 || i < 0 || i >= n) {
    fail("--shard: '", text, "' needs whole numbers with 0 <= I < N");
  }
  return {int(i), int(n)};
}

}  // namespace normlab::sweep
