#include "analysis/apply.hpp"

#include <cmath>
#include <filesystem>

#include "core/error.hpp"
#include "io/hdf5.hpp"
#include "io/hdf5_guard.hpp"
#include "norm/registry.hpp"

namespace normlab::tools {

namespace fs = std::filesystem;

std::string default_output_path(const std::string& in) {
  fs::path p(in);
  fs::path stem = p.extension() == ".h5" || p.extension() == ".hdf5" ? p.stem() : p.filename();
  return (p.parent_path() / (stem.string() + ".normed.h5")).string();
}

namespace {

std::string position(const xt::xarray<double>& a, std::size_t i) {
  if (a.dimension() != 2) return cat("index ", i);
  return cat("row ", i / a.shape()[1], ", column ", i % a.shape()[1]);
}

// Reads a dataset as double, checks every value is finite (and fits T), and converts to T.
template <class T>
xt::xarray<T> read_checked(const h5::File& in, const std::string& name) {
  xt::xarray<double> a = in.read<double>(name);
  for (std::size_t i = 0; i < a.size(); ++i) {
    double v = a.data()[i];
    if (!std::isfinite(v)) {
      fail(in.path(), ": dataset '", name, "' has a non-finite value (", v, ") at ", position(a, i));
    }
    if (!std::isfinite(T(v))) {
      fail(in.path(), ": dataset '", name, "' has the value ", v, " at ", position(a, i),
           ", which float32 cannot hold (use --dtype float64)");
    }
  }
  return xt::xarray<T>(a);
}

template <class T>
ApplyResult apply_typed(const norm::Normalizer& normalizer, const h5::File& in,
                        const std::string& out_path) {
  const std::string& file = in.path();
  h5::Shape xs = in.shape("x");
  if (xs.size() != 2) fail(file, ": dataset 'x' must be 2-D (B, D), got shape ", h5::shape_string(xs));
  const std::size_t B = xs[0], D = xs[1];
  if (D == 0) fail(file, ": dataset 'x' has D = 0 features, shape ", h5::shape_string(xs));
  if (B == 0) fail(file, ": dataset 'x' has no rows, shape ", h5::shape_string(xs));
  xt::xarray<T> x = read_checked<T>(in, "x");

  const bool backward = in.has("dy");
  xt::xarray<T> dy;
  if (backward) {
    if (in.shape("dy") != xs) {
      fail(file, ": dataset 'dy' has shape ", h5::shape_string(in.shape("dy")),
           ", expected the shape of x ", h5::shape_string(xs));
    }
    dy = read_checked<T>(in, "dy");
  }

  // Parameters: from the file where present (checked), else their initial values.
  std::vector<norm::ParamSpec> specs = normalizer.param_specs(D);
  std::vector<T> flat;
  for (const auto& spec : specs) {
    if (in.has(spec.name)) {
      h5::Shape want{spec.size};
      if (in.shape(spec.name) != want) {
        fail(file, ": dataset '", spec.name, "' has shape ", h5::shape_string(in.shape(spec.name)),
             ", ", normalizer.kind(), " needs ", h5::shape_string(want));
      }
      xt::xarray<T> values = read_checked<T>(in, spec.name);
      if (spec.name == "lambda") {  // a learned lambda is held to the range a fixed one is
        for (T v : values) norm::check_lambda(v, cat(file, ": dataset 'lambda'"));
      }
      flat.insert(flat.end(), values.begin(), values.end());
    } else {
      flat.insert(flat.end(), spec.size, T(spec.init));
    }
  }
  for (const char* name : {"gain", "bias", "lambda"}) {
    bool wanted = false;
    for (const auto& s : specs) wanted = wanted || s.name == name;
    if (in.has(name) && !wanted) {
      fail(file, ": dataset '", name, "' is given, but ", norm::describe(normalizer.config()),
           " has no ", name, " parameter");
    }
  }
  auto params = norm::bind_params<const T>(specs, std::span<const T>(flat));

  xt::xarray<T> y = xt::xarray<T>::from_shape(xs);
  norm::NormCache cache;
  normalizer.forward(std::span<T>(y.data(), y.size()), cache, std::span<const T>(x.data(), x.size()),
                     params, B, D);

  h5::File out = h5::File::create(out_path);
  out.write("y", y);
  if (backward) {
    xt::xarray<T> dx = xt::xarray<T>::from_shape(xs);
    std::vector<T> grads(flat.size(), T(0));
    normalizer.backward(std::span<T>(dx.data(), dx.size()),
                        norm::bind_params<T>(specs, std::span<T>(grads)), cache,
                        std::span<const T>(dy.data(), dy.size()),
                        std::span<const T>(x.data(), x.size()), params, B, D);
    out.write("dx", dx);
    std::size_t offset = 0;
    for (const auto& spec : specs) {
      out.write<T>("d_" + spec.name, {spec.size},
                   std::span<const T>(grads.data() + offset, spec.size));
      offset += spec.size;
    }
  }
  std::string dtype = sizeof(T) == 4 ? "float32" : "float64";
  out.write_attribute("/", "normalizer", norm::describe(normalizer.config()));
  out.write_attribute("/", "kind", normalizer.kind());
  out.write_attribute("/", "options", norm::options_string(normalizer.config()));
  out.write_attribute("/", "dtype", dtype);
  out.write_attribute("/", "source", file);
  out.write_attribute("/", "normlab_version", std::string(NORMLAB_VERSION));
  out.close();
  return {out_path, norm::describe(normalizer.config()), dtype, B, D, backward};
}

}  // namespace

ApplyResult apply_file(const ApplyRequest& request) {
  // Validate everything that needs no file first: a bad option never touches the disk.
  auto normalizer = norm::make_normalizer(request.kind, request.options);
  if (request.dtype != "auto" && request.dtype != "float32" && request.dtype != "float64") {
    fail("--dtype: '", request.dtype, "' is not one of auto, float32, float64");
  }
  if (request.in.empty()) fail("no input file (--in X.h5)");
  const std::string out = request.out.empty() ? default_output_path(request.in) : request.out;
  const std::string partial = out + ".partial";
  for (const auto& path : {out, partial}) {
    if (fs::exists(path) && fs::exists(request.in) && fs::equivalent(path, request.in)) {
      fail(path, ": writing the output there would overwrite the input file");
    }
  }

  h5::File in = h5::open_untrusted(request.in);  // anyone's file: libhdf5 may choke on it
  if (!in.is_dataset("x")) fail(request.in, ": no dataset 'x' (the (B, D) input to normalize)");
  std::string dtype = request.dtype;
  if (dtype == "auto") dtype = in.float_bits("x") == 64 ? "float64" : "float32";

  try {
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
