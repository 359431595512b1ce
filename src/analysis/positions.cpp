#include "analysis/positions.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "analysis/moments.hpp"
#include "core/error.hpp"
#include "io/hdf5.hpp"

namespace normlab::analysis {

namespace {

class PositionObserver final : public nn::Observer<double> {
 public:
  explicit PositionObserver(const nn::Probe<double>& probe) : probe_(probe) {}
  void forward(const double* x, const double* y, std::size_t rows, std::size_t D) override {
    if (in.size() <= probe_.call) {
      in.resize(probe_.call + 1);
      out.resize(probe_.call + 1);
    }
    in[probe_.call].add(x, rows * D);
    if (y) out[probe_.call].add(y, rows * D);
  }
  void backward(const double*, const double*, std::size_t, std::size_t) override {}
  std::vector<Moments> in, out;  // per position

 private:
  const nn::Probe<double>& probe_;
};

}  // namespace

std::vector<PositionStats> measure_positions(LoadedRun& run) {
  if (run.config.string("model.family") != "gru") {
    fail(run.path, ": per-position statistics need a GRU run (model.family 'gru'), this one is '",
         run.config.string("model.family"), "'");
  }
  std::vector<nn::Probe<double>*> sites;
  for (nn::Probe<double>* p : run.probes) {
    const std::string& n = p->name;  // joint: .norm_hh; model.gru_norm_split = separate: two sites
    if (n.ends_with(".norm_hh") || n.ends_with(".norm_hh_gates") || n.ends_with(".norm_hh_cand")) {
      sites.push_back(p);
    }
  }
  if (sites.empty()) {
    fail(run.path, ": no recurrent site gru{l}.norm_hh, .norm_hh_gates or .norm_hh_cand "
         "(model.gru_norm must be 'both' or 'recurrent'; with no normalization use "
         "model.norm = 'none')");
  }
  std::vector<PositionObserver> observers;
  observers.reserve(sites.size());
  for (auto* p : sites) observers.emplace_back(*p);
  for (std::size_t i = 0; i < sites.size(); ++i) sites[i]->observer = &observers[i];
  held_out_loss(run);
  for (auto* p : sites) p->observer = nullptr;
  std::vector<PositionStats> out;
  for (std::size_t i = 0; i < sites.size(); ++i) {
    PositionStats s;
    s.site = sites[i]->name;
    for (std::size_t t = 0; t < observers[i].in.size(); ++t) {
      s.in_mean.push_back(observers[i].in[t].mean);
      s.in_std.push_back(observers[i].in[t].sd());
      s.out_mean.push_back(observers[i].out[t].n > 0 ? observers[i].out[t].mean : NAN);
      s.out_std.push_back(observers[i].out[t].sd());
    }
    out.push_back(std::move(s));
  }
  return out;
}

void print_positions(std::ostream& out, const std::string& run, const std::vector<PositionStats>& ps,
                     bool all) {
  char buf[160];
  for (const auto& p : ps) {
    out << run << ", " << p.site << ": W_hh h_{t-1} before and after the normalizer\n\n"
        << "| t | input mean | input std | output mean | output std |\n"
        << "| ---: | ---: | ---: | ---: | ---: |\n";
    const std::size_t T = p.in_mean.size();
    for (std::size_t t = 0; t < T; ++t) {
      const bool shown = all || t < 4 || ((t + 1) & t) == 0 || t + 1 == T;
      if (!shown) continue;
      std::snprintf(buf, sizeof buf, "| %zu | %.4g | %.4g | %.4g | %.4g |\n", t, p.in_mean[t],
                    p.in_std[t], p.out_mean[t], p.out_std[t]);
      out << buf;
    }
    out << "\n";
  }
}

void write_positions(const std::string& path, const std::string& run,
                     const std::vector<PositionStats>& ps) {
  const std::string partial = path + ".partial";
  {
    h5::File f = h5::File::create(partial);
    const std::size_t S = ps.size(), T = ps.front().in_mean.size();
    std::vector<std::string> names;
    std::vector<long long> positions(T);
    for (std::size_t t = 0; t < T; ++t) positions[t] = (long long)t;
    for (const auto& p : ps) {
      names.push_back(p.site);
      if (p.in_mean.size() != T) fail("internal: positions differ between sites");
    }
    const std::string g = "positions/";
    f.write_strings(g + "site", names);
    f.make_dimension_scale(g + "site", "site");
    f.write<long long>(g + "position", {T}, positions);
    f.make_dimension_scale(g + "position", "position");
    for (const char* name : {"in_mean", "in_std", "out_mean", "out_std"}) {
      std::vector<double> values;
      for (const auto& p : ps) {
        const std::string n = name;
        const auto& v = n == "in_mean" ? p.in_mean : n == "in_std" ? p.in_std
                        : n == "out_mean" ? p.out_mean : p.out_std;
        values.insert(values.end(), v.begin(), v.end());
      }
      f.write<double>(g + name, {S, T}, values);
      f.attach_dimension_scale(g + name, g + "site", 0);
      f.attach_dimension_scale(g + name, g + "position", 1);
    }
    f.write_attribute("/", "format", "normlab-positions");
    f.write_attribute("/", "format_version", 1LL);
    f.write_attribute("/positions", "run", run);
    f.close();
  }
  std::filesystem::rename(partial, path);
}

}  // namespace normlab::analysis
