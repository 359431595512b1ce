// normlab numerics, the output: the HDF5 file (docs/NUMERICS.md), the Markdown tables and the
// figure (scripts/plot_numerics.py). The measurements are study.cpp's.
#include "numerics/study.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <map>
#include <sstream>

#include "core/error.hpp"
#include "core/python.hpp"
#include "io/hdf5.hpp"
#include "norm/registry.hpp"

namespace normlab::tools {

using fp::Format;

namespace {

template <class Row, class F>
std::vector<double> column(const std::vector<Row>& rows, F f) {
  std::vector<double> c;
  for (const auto& r : rows) c.push_back(double(f(r)));
  return c;
}
template <class Row, class F>
std::vector<std::string> text_column(const std::vector<Row>& rows, F f) {
  std::vector<std::string> c;
  for (const auto& r : rows) c.push_back(f(r));
  return c;
}

void write_doubles(h5::File& f, const std::string& name, const std::vector<double>& v) {
  f.write<double>(name, {v.size()}, std::span<const double>(v));
}
void write_integers(h5::File& f, const std::string& name, const std::vector<double>& v) {
  std::vector<long long> ints(v.begin(), v.end());
  f.write<long long>(name, {v.size()}, std::span<const long long>(ints));
}

}  // namespace

void write_numerics(const NumericsReport& rep, const NumericsOptions& o) {
  const std::string partial = o.out + ".partial";
  {
    h5::File f = h5::File::create(partial);
    f.write_attribute("/", "format", "normlab-numerics");
    f.write_attribute("/", "format_version", 1LL);
    f.write_attribute("/", "seed", (long long)o.seed);
    f.write_attribute("/", "quick", (long long)o.quick);
    f.write_attribute("/", "normlab_version", NORMLAB_VERSION);
    const auto& c = rep.cases;
    using R = CaseResult;
    f.write_strings("cases/kind", text_column(c, [](const R& r) { return r.spec.config.kind; }));
    f.write_strings("cases/variant", text_column(c, [](const R& r) { return r.spec.variant; }));
    f.write_strings("cases/implementation",
                    text_column(c, [](const R& r) { return r.spec.implementation; }));
    f.write_strings("cases/storage", text_column(c, [](const R& r) {
      return fp::to_string(r.spec.precision.storage); }));
    f.write_strings("cases/accumulation", text_column(c, [](const R& r) {
      return fp::to_string(r.spec.precision.accumulation); }));
    f.write_strings("cases/eps_mode", text_column(c, [](const R& r) {
      return norm::to_string(r.spec.config.eps_mode); }));
    f.write_strings("cases/family", text_column(c, [](const R& r) { return to_string(r.spec.family); }));
    write_doubles(f, "cases/eps", column(c, [](const R& r) { return r.spec.config.eps; }));
    write_doubles(f, "cases/offset_ratio", column(c, [](const R& r) { return r.spec.offset_ratio; }));
    write_integers(f, "cases/D", column(c, [](const R& r) { return r.spec.D; }));
    write_integers(f, "cases/B", column(c, [](const R& r) { return r.spec.B; }));
    for (const char* which : {"y", "dx"}) {
      const std::string w = which;
      auto pick = [w](const R& r) -> const ErrorStats& { return w == "y" ? r.y : r.dx; };
      write_doubles(f, "cases/" + w + "_max_rel", column(c, [&](const R& r) { return pick(r).max_rel; }));
      write_doubles(f, "cases/" + w + "_median_rel", column(c, [&](const R& r) { return pick(r).median_rel; }));
      write_doubles(f, "cases/" + w + "_max_ulp", column(c, [&](const R& r) { return pick(r).max_ulp; }));
      write_integers(f, "cases/" + w + "_nonfinite", column(c, [&](const R& r) { return pick(r).nonfinite; }));
    }
    write_doubles(f, "cases/eps_bias", column(c, [](const R& r) { return r.eps_bias; }));

    using C = ConditioningRow;
    const auto& k = rep.conditioning;
    f.write_strings("conditioning/kind", text_column(k, [](const C& r) { return r.kind; }));
    write_integers(f, "conditioning/D", column(k, [](const C& r) { return r.D; }));
    write_integers(f, "conditioning/rank", column(k, [](const C& r) { return r.rank; }));
    for (auto [name, get] : std::vector<std::pair<std::string, double C::*>>{
             {"rms", &C::rms}, {"mean", &C::mean}, {"std", &C::std}, {"eps", &C::eps},
             {"sigma_max", &C::sigma_max}, {"sigma_min", &C::sigma_min},
             {"closed_sigma_max", &C::closed_sigma_max}, {"closed_sigma_min", &C::closed_sigma_min},
             {"closed_max_error", &C::closed_max_error}}) {
      write_doubles(f, "conditioning/" + name, column(k, [get](const C& r) { return r.*get; }));
    }
    using S = ScalingRow;
    write_doubles(f, "gradient_scaling/delta", column(rep.scaling, [](const S& r) { return r.delta; }));
    write_doubles(f, "gradient_scaling/grad_norm", column(rep.scaling, [](const S& r) { return r.grad_norm; }));
    write_doubles(f, "gradient_scaling/scaled", column(rep.scaling, [](const S& r) { return r.scaled; }));
  }
  std::filesystem::rename(partial, o.out);
}

namespace {

std::string sci(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return "inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1e", v);
  return buf;
}

std::string family_label(Family f, double ratio) {
  if (f != Family::offset) return to_string(f);
  char buf[32];
  std::snprintf(buf, sizeof buf, "offset %.0e", ratio);
  return buf;
}

}  // namespace

std::string numerics_tables(const NumericsReport& rep) {
  std::ostringstream out;
  // Table 1: worst over D of max relative error, "y / dx", per family.
  std::vector<std::string> families;
  for (const auto& fp : input_families()) families.push_back(family_label(fp.family, fp.ratio));
  std::vector<std::string> row_order;
  std::map<std::string, std::map<std::string, std::pair<double, double>>> cells;
  for (const auto& c : rep.cases) {
    const norm::NormConfig defaults = norm::resolve(c.spec.config.kind, {});
    if (c.spec.config.eps != defaults.eps || c.spec.config.eps_mode != defaults.eps_mode) continue;
    const std::string row = cat("| ", c.spec.config.kind, " | ", c.spec.variant, " | ",
                                c.spec.implementation, " | ", to_string(c.spec.precision.storage),
                                "/", to_string(c.spec.precision.accumulation), " |");
    if (!cells.count(row)) row_order.push_back(row);
    auto& cell = cells[row][family_label(c.spec.family, c.spec.offset_ratio)];
    cell.first = std::max(cell.first, c.y.max_rel);
    cell.second = std::max(cell.second, c.dx.max_rel);
    if (std::isnan(c.y.max_rel)) cell.first = NAN;
  }
  out << "Max relative error of y / dx (worst row, worst D), against a long-double reference on "
         "the same stored inputs\n\n| kind | variant | implementation | storage/accumulation |";
  for (const auto& f : families) out << " " << f << " |";
  out << "\n|---|---|---|---|";
  for (std::size_t i = 0; i < families.size(); ++i) out << "---|";
  out << "\n";
  for (const auto& row : row_order) {
    out << row;
    for (const auto& f : families) {
      auto it = cells[row].find(f);
      out << " " << (it == cells[row].end() ? "" : sci(it->second.first) + " / " + sci(it->second.second)) << " |";
    }
    out << "\n";
  }
  // Table 2: eps values and placements (float32 emulated): the exact output's change from eps = 0
  // on normal and tiny rows (worst D), and the float32 error on tiny rows.
  out << "\neps study (float32/float32, worst D): eps_bias = max relative change of the exact y "
         "from eps = 0\n\n| kind | eps | eps_mode | eps_bias normal | eps_bias tiny | y error tiny |\n"
         "|---|---|---|---|---|---|\n";
  std::map<std::string, std::array<double, 3>> eps_rows;
  std::vector<std::string> eps_order;
  for (const auto& c : rep.cases) {
    const auto& cfg = c.spec.config;
    if ((cfg.kind != "rmsnorm" && cfg.kind != "layernorm") || c.spec.implementation != "emulated" ||
        c.spec.precision.storage != Format::float32 || c.spec.variant == "one_pass" ||
        c.spec.variant == "welford")
      continue;
    if (c.spec.family != Family::normal && c.spec.family != Family::tiny) continue;
    const std::string row = cat("| ", cfg.kind, " | ", sci(cfg.eps), " | ", norm::to_string(cfg.eps_mode), " |");
    if (!eps_rows.count(row)) eps_order.push_back(row), eps_rows[row] = {0, 0, 0};
    auto& r = eps_rows[row];
    if (c.spec.family == Family::normal) r[0] = std::max(r[0], c.eps_bias);
    else r[1] = std::max(r[1], c.eps_bias), r[2] = std::max(r[2], c.y.max_rel);
  }
  std::sort(eps_order.begin(), eps_order.end());
  for (const auto& row : eps_order) {
    const auto& r = eps_rows[row];
    out << row << " " << sci(r[0]) << " | " << sci(r[1]) << " | " << sci(r[2]) << " |\n";
  }
  // Table 3: conditioning at the largest D, numeric (closed form).
  std::size_t Dmax = 0;
  for (const auto& r : rep.conditioning) Dmax = std::max(Dmax, r.D);
  out << "\nJacobian singular values at D = " << Dmax
      << ", numeric (closed form); cond = sigma_max / sigma_min over the nonzero ones\n\n"
         "| kind | rms | mean/std | rank | sigma_max | sigma_min | cond | max spectrum error |\n"
         "|---|---|---|---|---|---|---|---|\n";
  for (const auto& r : rep.conditioning) {
    if (r.D != Dmax || (r.rms != 1e-3 && r.rms != 1.0)) continue;
    out << "| " << r.kind << " | " << sci(r.rms) << " | " << r.mean / r.std << " | " << r.rank
        << " | " << sci(r.sigma_max) << " (" << sci(r.closed_sigma_max) << ") | "
        << sci(r.sigma_min) << " (" << sci(r.closed_sigma_min) << ") | "
        << sci(r.sigma_max / r.sigma_min) << " | " << sci(r.closed_max_error) << " |\n";
  }
  out << "\nRMSNorm weight gradient under W -> delta W (eps = 1e-5): delta * ||dL/dW|| relative to "
         "delta = 1 (1 under the 1/delta law)\n\n| delta | norm of dL/dW | delta-scaled ratio |\n"
         "|---|---|---|\n";
  for (const auto& r : rep.scaling)
    out << "| " << sci(r.delta) << " | " << sci(r.grad_norm) << " | " << std::fixed
        << std::setprecision(6) << r.scaled << std::defaultfloat << " |\n";
  return out.str();
}

void plot_numerics(const std::string& h5_path, const std::string& png_path) {
  const std::string script =
      (std::filesystem::path(NORMLAB_SOURCE_DIR) / "scripts" / "plot_numerics.py").string();
  const std::vector<std::string> args{script, h5_path, png_path};
  if (run_python("numerics", args) != 0) {
    fail("numerics: the plot command failed: ", python_command("numerics", args));
  }
}

}  // namespace normlab::tools
