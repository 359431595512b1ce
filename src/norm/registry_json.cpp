// registry_json(): the registry as JSON, hand-written (norm depends on core only). The layout:
//
//   {"kinds": [{"name": "rmsnorm", "formula": "...", "reference": "...",
//               "options": ["eps", ...],                     the options that apply, in order
//               "defaults": {"eps": 1e-05, "bias": false, ...}, typed: number, bool or string
//               "form": {...}}, ...],
//    "options": [{"name": "eps", "values": "float > 0", "help": "..."}, ...],
//    "precision_options": ["storage", "accumulate"]}          options every kind takes as well
//
// "form" is the kind's Form (norm/form.hpp) at its defaults, with what depends on D written as an
// expression of D: family ("shift_scale", "elementwise"), subtract ("none", "mean", "fixed",
// "learned") and lambda, statistic ("none", "mean_square", "sum_square"), k ("D", "ceil(p*D)"),
// divisor ("k", "1"), rescale, eps_mode, gain ("none", "vector", "scalar") with gain_size ("D",
// "1", "0") and gain_init (the applied gain at init: "1", "sqrt(D)", "0"), zero_centered_g0 (g0
// under zero_centered_gain: gain_init), bias, invariant_to (a list of "scale", "shift").
#include <charconv>
#include <cstdio>
#include <sstream>

#include "core/strings.hpp"
#include "norm/registry.hpp"

namespace normlab::norm {

namespace {

std::string quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", unsigned(c));
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// An option's value text as a JSON value: true/false, a number, or a string.
std::string typed(const std::string& text) {
  if (text == "true" || text == "false") return text;
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc() && end == text.data() + text.size()) return text;
  return quoted(text);
}

std::string list(const std::vector<std::string>& items) {
  std::vector<std::string> q;
  for (const auto& s : items) q.push_back(quoted(s));
  std::string out = "[";  // appended, not "[" + ...: GCC 12 warns falsely (-Wrestrict) on that
  out += join(q, ", ");
  return out + "]";
}

const char* name_of(Form::Subtract s) {
  switch (s) {
    case Form::Subtract::none: return "none";
    case Form::Subtract::mean: return "mean";
    case Form::Subtract::fixed: return "fixed";
    case Form::Subtract::learned: return "learned";
  }
  return "?";
}

const char* name_of(Form::Statistic s) {
  switch (s) {
    case Form::Statistic::none: return "none";
    case Form::Statistic::mean_square: return "mean_square";
    case Form::Statistic::sum_square: return "sum_square";
  }
  return "?";
}

const char* name_of(Form::Gain g) {
  switch (g) {
    case Form::Gain::none: return "none";
    case Form::Gain::vector: return "vector";
    case Form::Gain::scalar: return "scalar";
  }
  return "?";
}

std::string form_json(const KindInfo& info) {
  const KindForm& k = info.form;
  const Form f = form(k, info.defaults, 1);
  const std::string gain_init = k.gain == KindForm::Gain::none          ? "0"
                                : k.gain_init == KindForm::GainInit::sqrt_d ? "sqrt(D)"
                                                                            : "1";
  std::vector<std::string> invariant_to;
  for (RowTransform t : {RowTransform::scale, RowTransform::shift}) {
    if (f.invariant_to(t)) invariant_to.push_back(to_string(t));
  }
  std::ostringstream o;
  o << "{\"family\": "
    << quoted(f.family == Form::Family::shift_scale ? "shift_scale" : "elementwise")
    << ", \"subtract\": " << quoted(name_of(f.subtract)) << ", \"lambda\": "
    << format_double(f.lambda) << ", \"statistic\": " << quoted(name_of(f.statistic))
    << ", \"k\": " << quoted(k.partial_statistic ? "ceil(p*D)" : "D")
    << ", \"divisor\": " << quoted(k.statistic == KindForm::Statistic::mean_square ? "k" : "1")
    << ", \"rescale\": " << (f.rescale ? "true" : "false")
    << ", \"eps\": " << format_double(f.eps) << ", \"eps_mode\": " << quoted(to_string(f.eps_mode))
    << ", \"gain\": "
    << quoted(name_of(f.gain)) << ", \"gain_size\": "
    << quoted(f.gain == Form::Gain::none ? "0" : f.gain == Form::Gain::scalar ? "1" : "D")
    << ", \"gain_init\": " << quoted(gain_init) << ", \"zero_centered_g0\": " << quoted(gain_init)
    << ", \"bias\": " << (f.bias ? "true" : "false") << ", \"invariant_to\": " << list(invariant_to)
    << "}";
  return o.str();
}

std::string kind_json(const KindInfo& info) {
  std::vector<std::string> defaults;
  for (const auto& name : info.options) {
    defaults.push_back(quoted(name) + ": " + typed(get_option(info.defaults, name)));
  }
  return "{\"name\": " + quoted(info.name) + ",\n     \"formula\": " + quoted(info.formula) +
         ",\n     \"reference\": " + quoted(info.reference) +
         ",\n     \"options\": " + list(info.options) + ",\n     \"defaults\": {" +
         join(defaults, ", ") + "},\n     \"form\": " + form_json(info) + "}";
}

}  // namespace

std::string registry_json() {
  std::vector<std::string> kinds_json, options_json;
  for (const auto& k : kinds()) kinds_json.push_back("    " + kind_json(k));
  for (const auto& o : all_options()) {
    options_json.push_back("    {\"name\": " + quoted(o.name) + ", \"values\": " +
                           quoted(o.values) + ", \"help\": " + quoted(o.help) + "}");
  }
  return "{\"kinds\": [\n" + join(kinds_json, ",\n") + "\n  ],\n \"options\": [\n" +
         join(options_json, ",\n") + "\n  ],\n \"precision_options\": " +
         list(precision_option_names()) + "}\n";
}

}  // namespace normlab::norm
