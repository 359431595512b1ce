#include "bench/torch_peer.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/error.hpp"
#include "core/strings.hpp"

namespace normlab::tools {

namespace {

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string default_torch_script() {
  return (std::filesystem::path(NORMLAB_SOURCE_DIR) / "scripts" / "bench_train_torch.py").string();
}

bool python_has_torch(const std::string& python) {
  const std::string cmd = shell_quote(python) + " -c 'import torch' >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

}  // namespace

PeerResult run_torch_peer(const BenchTrainOptions& o, const std::string& coretype) {
  PeerResult r;
  const std::string script = o.torch_script.empty() ? default_torch_script() : o.torch_script;
  if (o.torch == TorchPeer::off) {
    r.note = "off (--torch off)";
    return r;
  }
  const bool have = python_has_torch(o.python);
  if (!have) {
    if (o.torch == TorchPeer::on) fail("--torch on: ", o.python, " cannot import torch");
    r.note = "not available (" + o.python + " cannot import torch); normlab figures only";
    return r;
  }
  if (!std::filesystem::exists(script)) fail("bench train: no torch peer script at ", script);
  const std::string n = std::to_string(o.threads);
  std::string cmd = std::string(kCoreTypeVariable) + "=" + shell_quote(coretype) +
                    " OMP_NUM_THREADS=" + n + " OPENBLAS_NUM_THREADS=" + n + " " +
                    shell_quote(o.python) + " " + shell_quote(script) + " --threads " + n +
                    " --steps " + std::to_string(o.steps) + " --warmup " +
                    std::to_string(o.warmup) + " --clock " + o.clock + " --workloads " + join(o.workloads, ",") +
                    " --norms " + join(o.norms, ",") + " --shapes " + shell_quote(o.shapes.to_json());
  r.note = cmd;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) fail("bench train: could not start the torch peer: ", cmd);
  std::string line;
  char buf[4096];
  std::vector<std::string> lines;
  while (std::fgets(buf, sizeof buf, pipe)) {
    line += buf;
    if (!line.empty() && line.back() == '\n') {
      lines.push_back(line);
      line.clear();
    }
  }
  if (!line.empty()) lines.push_back(line);
  const int status = pclose(pipe);
  for (const auto& l : lines) {
    if (trim(l).empty() || trim(l).front() != '{') continue;
    auto j = nlohmann::json::parse(l, nullptr, false);
    if (j.is_discarded()) continue;
    if (j.contains("torch")) {
      r.torch_version = j.value("torch", "");
      r.openblas_core = j.value("openblas_core", "");
      if (j.contains("shapes") && j["shapes"] != nlohmann::json::parse(o.shapes.to_json())) {
        fail("bench train: the torch peer ran other shapes than normlab: ", j["shapes"].dump());
      }
      if (j.value("threads", -1) != o.threads) {
        fail("bench train: the torch peer ran ", j.value("threads", -1), " threads, not ", o.threads);
      }
    } else if (j.contains("workload")) {
      r.figures[{j["workload"], j["norm"]}] = {j["median_ms"], j["min_ms"]};
    }
  }
  if (status != 0) {
    r.note = "failed (exit status " + std::to_string(status) + "): " + cmd;
    return r;
  }
  r.ran = true;
  return r;
}

}  // namespace normlab::tools
