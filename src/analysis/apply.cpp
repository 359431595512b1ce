#include "analysis/apply.hpp"

#include <cmath>
#include <filesystem>

#include "core/error.hpp"
#include "core/strings.hpp"
#include "io/hdf5.hpp"
#include "io/hdf5_guard.hpp"
#include "io/output_path.hpp"
#include "norm/array_call.hpp"
#include "norm/registry.hpp"

namespace normlab::tools {

namespace fs = std::filesystem;

std::string default_output_path(const std::string& in) {
  fs::path p(in);
  fs::path stem = p.extension() == ".h5" || p.extension() == ".hdf5" ? p.stem() : p.filename();
  return (p.parent_path() / (stem.string() + ".normed.h5")).string();
}

template <class T>
void check_finite_output(const std::string& file, const std::string& name, std::span<const T> values,
                         const std::vector<std::size_t>& x_shape) {
  const std::size_t D = x_shape.empty() ? 1 : x_shape.back();
  const std::size_t B = D == 0 ? 0 : values.size() / D;
  std::size_t bad_rows = 0, first = B;
  for (std::size_t r = 0; r < B; ++r) {
    bool bad = false;
    for (std::size_t j = 0; j < D && !bad; ++j) bad = !std::isfinite(values[r * D + j]);
    if (bad && bad_rows++ == 0) first = r;
  }
  if (bad_rows == 0) return;
  // The row as an index of x: x[1, 2, :] for the sixth row of a (2, 4, D) array.
  std::vector<std::string> index(x_shape.size() < 2 ? 0 : x_shape.size() - 1);
  for (std::size_t k = index.size(), rest = first; k-- > 0;) {
    index[k] = std::to_string(rest % x_shape[k]);
    rest /= x_shape[k];
  }
  index.push_back(":");
  const bool single = sizeof(T) == 4;
  fail(file, ": ", name, " is not finite in ", bad_rows, " of ", B, " rows (the first: x[",
       join(index, ", "), "]) although the input is finite: the result overflows ",
       single ? "float32 (try --dtype float64)" : "float64", "; no output written");
}

template void check_finite_output<float>(const std::string&, const std::string&, std::span<const float>,
                                         const std::vector<std::size_t>&);
template void check_finite_output<double>(const std::string&, const std::string&, std::span<const double>,
                                          const std::vector<std::size_t>&);

namespace {

// Where the flat index i lies in an array of `shape`: "row 1, column 0" for a matrix, "index 5"
// for a vector, "index (0, 2, 5)" for any other rank.
std::string position(const h5::Shape& shape, std::size_t i) {
  if (shape.size() == 2) return cat("row ", i / shape[1], ", column ", i % shape[1]);
  if (shape.size() < 2) return cat("index ", i);
  std::vector<std::string> index(shape.size());
  for (std::size_t k = shape.size(); k-- > 0;) {
    index[k] = std::to_string(i % shape[k]);
    i /= shape[k];
  }
  return "index (" + join(index, ", ") + ")";
}

// Reads a dataset as double, checks every value is finite (and fits T), and converts to T.
template <class T>
xt::xarray<T> read_checked(const h5::File& in, const std::string& name) {
  xt::xarray<double> a = in.read<double>(name);
  const h5::Shape shape(a.shape().begin(), a.shape().end());
  for (std::size_t i = 0; i < a.size(); ++i) {
    double v = a.data()[i];
    if (!std::isfinite(v)) {
      fail(in.path(), ": dataset '", name, "' has a non-finite value (", v, ") at ", position(shape, i));
    }
    if (!std::isfinite(T(v))) {
      fail(in.path(), ": dataset '", name, "' has the value ", v, " at ", position(shape, i),
           ", which float32 cannot hold (use --dtype float64)");
    }
  }
  return xt::xarray<T>(a);
}

// What goes before a dataset's quoted name in a message: "acts.h5: dataset 'x' ...".
std::string where(const std::string& file) { return file + ": dataset "; }

// The parameters: from the file where present (checked), else their initial values; flat, in
// param_specs order.
template <class T>
std::vector<T> read_params(const norm::Normalizer& normalizer, const h5::File& in,
                           const std::vector<norm::ParamSpec>& specs) {
  const std::string& file = in.path();
  std::vector<T> flat;
  for (const char* name : {"gain", "bias", "lambda", "alpha"}) {
    if (in.has(name)) norm::check_param_name(where(file), normalizer, specs, name);
  }
  for (const auto& spec : specs) {
    if (in.has(spec.name)) {
      norm::check_param_shape(where(file), normalizer, spec, in.shape(spec.name));
      xt::xarray<T> values = read_checked<T>(in, spec.name);
      norm::check_param_values(where(file), spec, std::span<const T>(values.data(), values.size()));
      flat.insert(flat.end(), values.begin(), values.end());
    } else {
      flat.insert(flat.end(), spec.size, T(spec.init));
    }
  }
  return flat;
}

template <class T>
struct Outputs {
  xt::xarray<T> y, dx;    // dx only with dy
  std::vector<T> grads;  // flat, in param_specs order; with dy
  bool backward = false;
};

template <class T>
void write_outputs(const std::string& out_path, const Outputs<T>& o, const norm::Normalizer& normalizer,
                   const std::vector<norm::ParamSpec>& specs, const std::string& source) {
  h5::File out = h5::File::create(out_path);
  out.write("y", o.y);
  if (o.backward) {
    out.write("dx", o.dx);
    std::size_t offset = 0;
    for (const auto& spec : specs) {
      out.write<T>("d_" + spec.name, {spec.size}, std::span<const T>(o.grads.data() + offset, spec.size));
      offset += spec.size;
    }
  }
  out.write_attribute("/", "normalizer", norm::describe(normalizer.config()));
  out.write_attribute("/", "kind", normalizer.kind());
  out.write_attribute("/", "options", norm::options_string(normalizer.config()));
  out.write_attribute("/", "dtype", std::string(sizeof(T) == 4 ? "float32" : "float64"));
  out.write_attribute("/", "source", source);
  out.write_attribute("/", "normlab_version", std::string(NORMLAB_VERSION));
  out.close();
}

template <class T>
ApplyResult apply_typed(const norm::Normalizer& normalizer, const h5::File& in,
                        const std::string& out_path) {
  const std::string& file = in.path();
  const h5::Shape xs = in.shape("x");
  const auto [B, D] = norm::rows_of(where(file), xs);
  xt::xarray<T> x = read_checked<T>(in, "x");
  const bool backward = in.has("dy");
  xt::xarray<T> dy;
  if (backward) {
    norm::check_like_x(where(file), "dy", in.shape("dy"), xs);
    dy = read_checked<T>(in, "dy");
  }
  const std::vector<norm::ParamSpec> specs = normalizer.param_specs(D);
  const std::vector<T> flat = read_params<T>(normalizer, in, specs);
  auto params = norm::bind_params<const T>(specs, std::span<const T>(flat));

  // Every input is finite here (read_checked): a non-finite output is an overflow, never written.
  Outputs<T> o;
  o.y = xt::xarray<T>::from_shape(xs);
  norm::NormCache cache;
  normalizer.forward(std::span<T>(o.y.data(), o.y.size()), cache, std::span<const T>(x.data(), x.size()),
                     params, B, D);
  check_finite_output<T>(file, "y", std::span<const T>(o.y.data(), o.y.size()), xs);
  if (backward) {
    o.backward = true;
    o.dx = xt::xarray<T>::from_shape(xs);
    o.grads.assign(flat.size(), T(0));
    normalizer.backward(std::span<T>(o.dx.data(), o.dx.size()),
                        norm::bind_params<T>(specs, std::span<T>(o.grads)), cache,
                        std::span<const T>(dy.data(), dy.size()),
                        std::span<const T>(x.data(), x.size()), params, B, D);
    check_finite_output<T>(file, "dx", std::span<const T>(o.dx.data(), o.dx.size()), xs);
    for (T g : o.grads) {
      if (!std::isfinite(g)) fail(file, ": a parameter gradient overflowed (", g, "); no output written");
    }
  }
  write_outputs(out_path, o, normalizer, specs, file);
  return {out_path, norm::describe(normalizer.config()), sizeof(T) == 4 ? "float32" : "float64",
          B, D, backward};
}

}  // namespace

ApplyResult apply_file(const ApplyRequest& request) {
  // Validate everything that needs no file first: a bad option never touches the disk.
  auto normalizer = norm::make_normalizer(request.kind, request.options);
  if (request.dtype != "auto" && request.dtype != "float32" && request.dtype != "float64") {
    fail("--dtype: '", request.dtype, "' is not one of auto, float32, float64");
  }
  if (request.in.empty()) fail("no input file (--in X.h5)");
  const std::string out = io::output_file(request.out, default_output_path(request.in));
  const std::string partial = out + ".partial";
  for (const auto& path : {out, partial}) {
    if (fs::exists(path) && fs::exists(request.in) && fs::equivalent(path, request.in)) {
      fail(path, ": writing the output there would overwrite the input file");
    }
  }

  h5::File in = h5::open_untrusted(request.in);  // anyone's file: libhdf5 may choke on it
  if (!in.is_dataset("x")) fail(request.in, ": no dataset 'x' (the (..., D) input to normalize over its last axis)");
  std::string dtype = request.dtype;
  if (dtype == "auto") dtype = in.float_bits("x") == 64 ? "float64" : "float32";

  try {
    io::make_output_directory(request.out);
    ApplyResult result = dtype == "float64" ? apply_typed<double>(*normalizer, in, partial)
                                            : apply_typed<float>(*normalizer, in, partial);
    fs::rename(partial, out);
    result.out = out;
    return result;
  } catch (...) {
    std::error_code ignored;
    fs::remove(partial, ignored);
    throw;
  }
}

}  // namespace normlab::tools
