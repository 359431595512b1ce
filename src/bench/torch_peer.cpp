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

// A relative interpreter path that does not exist from here is tried from the source directory,
// so `--python .venv-torch2/bin/python` works from build/ or anywhere else too.
std::string resolve_python(const std::string& python) {
  namespace fs = std::filesystem;
  const fs::path p(python);
  if (p.is_absolute() || python.find('/') == std::string::npos || fs::exists(p)) return python;
  const fs::path in_source = fs::path(NORMLAB_SOURCE_DIR) / p;
  return fs::exists(in_source) ? in_source.string() : python;
}

bool python_has_torch(const std::string& python) {
  const std::string cmd = shell_quote(python) + " -c 'import torch' >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

}  // namespace

void read_peer_line(PeerResult& r, const std::string& line, const BenchTrainOptions& o,
                    int threads) {
  const std::string l(trim(line));
  if (l.empty() || l.front() != '{') return;
  const auto j = nlohmann::json::parse(l, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return;
  if (j.contains("torch")) {
    r.torch_version = j.value("torch", "");
    r.openblas_core = j.value("openblas_core", "");
    r.blas = j.value("blas", "");
    r.rmsnorm = j.value("rmsnorm", "");
    if (j.contains("shapes") && j["shapes"] != nlohmann::json::parse(o.shapes.to_json())) {
      fail("bench train: the torch peer ran other shapes than normlab: ", j["shapes"].dump());
    }
    if (j.value("threads", -1) != threads) {
      fail("bench train: the torch peer ran ", j.value("threads", -1), " threads, not ", threads);
    }
  } else if (j.contains("workload") && j.contains("norm")) {
    const Key key{j["workload"].get<std::string>(), j["norm"].get<std::string>()};
    if (j.contains("params")) r.param_counts[key] = j["params"].get<std::size_t>();
    if (j.contains("error")) {
      r.errors[key] = j["error"].get<std::string>();
    } else {
      r.figures[key] = {j.value("median_ms", double(NAN)), j.value("min_ms", double(NAN))};
    }
  } else if (j.contains("error")) {  // the whole run could not go on (no torch.compile)
    r.note = j["error"].get<std::string>();
  }
}

PeerResult run_torch_peer(const BenchTrainOptions& o, const std::string& python_arg, int threads,
                          bool compiled, const std::string& coretype) {
  PeerResult r;
  const std::string python = resolve_python(python_arg);
  r.label = python_arg + (compiled ? " compiled" : "");
  const std::string script = o.torch_script.empty() ? default_torch_script() : o.torch_script;
  if (o.torch == TorchPeer::off) {
    r.note = "off (--torch off)";
    return r;
  }
  if (!python_has_torch(python)) {
    if (o.torch == TorchPeer::on) fail("--torch on: ", python, " cannot import torch");
    r.note = "not available (" + python + " cannot import torch); normlab figures only";
    return r;
  }
  if (!std::filesystem::exists(script)) fail("bench train: no torch peer script at ", script);
  // Every BLAS a torch build may use gets the same thread count: OpenBLAS (Debian's torch 1.13),
  // MKL and OpenMP (the 2.x wheels: MKL for BLAS, oneDNN for convolutions and some GEMMs).
  const std::string n = std::to_string(threads);
  std::string cmd = std::string(kCoreTypeVariable) + "=" + shell_quote(coretype) +
                    " OMP_NUM_THREADS=" + n + " OPENBLAS_NUM_THREADS=" + n +
                    " MKL_NUM_THREADS=" + n + " " + shell_quote(python) + " " +
                    shell_quote(script) + " --threads " + n + " --steps " +
                    std::to_string(o.steps) + " --warmup " + std::to_string(o.warmup) +
                    " --clock " + o.clock + " --workloads " + join(o.workloads, ",") +
                    " --norms " + join(o.norms, ",") + " --shapes " +
                    shell_quote(o.shapes.to_json()) + (compiled ? " --compile" : "");
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
  for (const auto& l : lines) read_peer_line(r, l, o, threads);
  if (!r.torch_version.empty()) {
    r.label = "torch " + r.torch_version + (compiled ? " compiled" : "");
  }
  if (status != 0) {
    r.note = "failed (exit status " + std::to_string(status) + "): " + cmd;
    return r;
  }
  if (r.figures.empty() && r.errors.empty()) {
    if (r.note == cmd) r.note = "no figures from: " + cmd;
    return r;
  }
  r.ran = true;
  return r;
}

}  // namespace normlab::tools
