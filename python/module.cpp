// normlab._core: the normalizers of src/norm on numpy arrays. Forward and backward of every kind,
// in float32 and float64, on arrays of any rank normalized over their last axis, with the options
// as keyword arguments and the parameters as arrays; the emulated storage formats through the
// storage and accumulate options. analysis/normlab re-exports it (normlab.Normalizer) and
// normlab.torch builds its autograd functions on it.
//
// Bad input raises normlab.NormlabError (a ValueError) with the message the command line gives for
// the same mistake (norm/array_call.hpp, norm/registry.hpp); a dtype other than float32 or float64
// raises TypeError. The computation runs without the GIL.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "core/strings.hpp"
#include "norm/array_call.hpp"
#include "norm/registry.hpp"

namespace py = pybind11;

namespace normlab::python {
namespace {

norm::Shape shape_of(const py::array& a) { return norm::Shape(a.shape(), a.shape() + a.ndim()); }

// "float32": the dtype's name, whatever its byte order.
std::string dtype_name(const py::array& a) { return py::str(a.dtype().attr("name")).cast<std::string>(); }

// An option's value as the text set_option reads ("1e-05", "true", "bfloat16").
std::string option_text(const std::string& name, py::handle value) {
  if (py::isinstance<py::bool_>(value)) return value.cast<bool>() ? "true" : "false";
  if (py::isinstance<py::int_>(value)) return py::str(value).cast<std::string>();
  if (py::isinstance<py::float_>(value)) return format_double(value.cast<double>());
  if (py::isinstance<py::str>(value)) return value.cast<std::string>();
  fail("option ", name, ": a value of type ", py::str(value.get_type().attr("__name__")).cast<std::string>(),
       " is not an option value (give a number, a bool or a string)");
}

// Anything numpy.asarray takes (an array, a list, a scalar, a CPU tensor) as an array.
py::array as_array(py::handle value) {
  return py::module_::import("numpy").attr("asarray")(value).cast<py::array>();
}

// The bytes of a floating-point dtype (any byte order), 0 for another kind. Read through the dtype's
// Python attributes, not pybind11's view of the C struct, whose layout numpy 2 changed.
int float_bytes(const py::array& a) {
  const py::object dtype = a.attr("dtype");
  return dtype.attr("kind").cast<std::string>() == "f" ? dtype.attr("itemsize").cast<int>() : 0;
}

// lambda_ -> lambda: Python reserves `lambda`, so a trailing underscore is dropped from a name.
std::string plain_name(std::string name) {
  if (name.size() > 1 && name.back() == '_') name.pop_back();
  return name;
}

// The per-row statistics of one forward call, kept for its backward, and what they belong to.
struct Cache {
  norm::NormCache rows;
  std::string normalizer;  // describe() of the normalizer that made it
  norm::Shape x_shape;
  std::string dtype;

  py::array_t<double> column(const std::vector<double>& v) const {
    return py::array_t<double>(py::ssize_t(v.size()), v.data());
  }
};

// The arrays of one call, checked and made C-contiguous in T.
template <class T>
struct Inputs {
  using Array = py::array_t<T, py::array::c_style>;
  norm::Rows rows;
  norm::Shape shape;
  Array x;
  std::vector<norm::ParamSpec> specs;  // the normalizer's, for D = rows.D
  std::vector<T> params;               // flat, in specs order

  std::span<const T> view(const Array& a) const { return {a.data(), std::size_t(a.size())}; }
};

class Normalizer {
 public:
  Normalizer(const std::string& kind, const py::kwargs& options) {
    norm::NormOptions text;
    for (const auto& [key, value] : options) {
      const std::string name = plain_name(key.cast<std::string>());
      text[name] = option_text(name, value);
    }
    impl_ = norm::make_normalizer(kind, text);
    description_ = norm::describe(impl_->config());
  }

  std::string kind() const { return impl_->kind(); }
  const std::string& describe() const { return description_; }
  std::map<std::string, std::string> options() const {
    const norm::NormOptions parsed = norm::parse_options(norm::options_string(impl_->config()));
    return {parsed.begin(), parsed.end()};
  }

  py::list param_specs(std::size_t D) const {
    py::list specs;
    for (const auto& s : impl_->param_specs(D)) {
      specs.append(py::dict(py::arg("name") = s.name, py::arg("size") = s.size, py::arg("init") = s.init));
    }
    return specs;
  }

  py::dict init_params(std::size_t D, const py::object& dtype) const {
    py::dict params;
    const py::dtype type = py::dtype::from_args(dtype);
    for (const auto& s : impl_->param_specs(D)) {
      py::array values(type, std::vector<py::ssize_t>{py::ssize_t(s.size)});
      params[py::str(s.name)] = values;
      values.attr("fill")(s.init);
    }
    return params;
  }

  py::tuple forward(const py::object& x_given, const py::object& params, const py::kwargs& named) const {
    const py::array x = as_array(x_given);
    return dispatch(x, [&](auto tag) { return forward_typed<decltype(tag)>(x, params, named); });
  }

  py::tuple backward(const py::object& dy_given, const py::object& x_given, const py::object& cache,
                     const py::object& params, const py::kwargs& named) const {
    const py::array x = as_array(x_given), dy = as_array(dy_given);
    return dispatch(x, [&](auto tag) { return backward_typed<decltype(tag)>(dy, x, cache, params, named); });
  }

 private:
  std::unique_ptr<norm::Normalizer> impl_;
  std::string description_;  // describe() of its config, which never changes: made once

  template <class F>
  static py::tuple dispatch(const py::array& x, F&& typed) {
    const int bytes = float_bytes(x);
    if (bytes == 4) return typed(float{});
    if (bytes == 8) return typed(double{});
    throw py::type_error(cat("'x' has dtype ", dtype_name(x),
                             "; normlab's normalizers take float32 or float64 (convert with "
                             "x.astype(numpy.float32)); bfloat16 and float16 are emulated with the "
                             "storage option"));
  }

  template <class T>
  static typename Inputs<T>::Array same_dtype(const py::array& a, const char* name, const py::array& x) {
    if (float_bytes(a) != float_bytes(x)) {
      throw py::type_error(cat("'", name, "' has dtype ", dtype_name(a), ", but x is ", dtype_name(x),
                               ": give every array in x's dtype"));
    }
    return Inputs<T>::Array::ensure(a);
  }

  // The given parameters by name: `params` (a dict, or None) and keyword arguments.
  static std::map<std::string, py::array> given_params(const py::object& params, const py::kwargs& named) {
    std::map<std::string, py::array> given;
    auto add = [&](const std::string& key, py::handle value) {
      const std::string name = plain_name(key);
      if (given.count(name)) fail("'", name, "' is given twice (in params and as a keyword)");
      given[name] = as_array(value);
    };
    if (!params.is_none()) {
      if (!py::isinstance<py::dict>(params)) {
        throw py::type_error(cat("params is a ", py::str(params.get_type().attr("__name__")).cast<std::string>(),
                                 ", not a dict of parameter name -> array ({\"gain\": g, ...})"));
      }
      for (const auto& [key, value] : params.cast<py::dict>()) add(py::str(key).cast<std::string>(), value);
    }
    for (const auto& [key, value] : named) add(key.cast<std::string>(), value);
    return given;
  }

  template <class T>
  Inputs<T> inputs(const py::array& x, const py::object& params, const py::kwargs& named) const {
    Inputs<T> in;
    in.shape = shape_of(x);
    in.rows = norm::rows_of("", in.shape, /*allow_empty=*/true);
    in.x = Inputs<T>::Array::ensure(x);
    in.specs = impl_->param_specs(in.rows.D);
    const auto given = given_params(params, named);
    for (const auto& [name, value] : given) norm::check_param_name("", *impl_, in.specs, name);
    for (const auto& spec : in.specs) {
      auto it = given.find(spec.name);
      if (it == given.end()) {
        in.params.insert(in.params.end(), spec.size, T(spec.init));
        continue;
      }
      auto values = same_dtype<T>(it->second, spec.name.c_str(), x);
      norm::check_param_shape("", *impl_, spec, shape_of(values));
      norm::check_param_values("", spec, std::span<const T>(values.data(), std::size_t(values.size())));
      in.params.insert(in.params.end(), values.data(), values.data() + values.size());
    }
    return in;
  }

  template <class T>
  py::tuple forward_typed(const py::array& x, const py::object& params, const py::kwargs& named) const {
    Inputs<T> in = inputs<T>(x, params, named);
    py::array_t<T> y(in.shape);
    auto cache = std::make_unique<Cache>();
    cache->normalizer = describe();
    cache->x_shape = in.shape;
    cache->dtype = dtype_name(x);
    if (in.rows.B > 0) {
      py::gil_scoped_release unlocked;
      impl_->forward(std::span<T>(y.mutable_data(), std::size_t(y.size())), cache->rows, in.view(in.x),
                     norm::bind_params<const T>(in.specs, std::span<const T>(in.params)), in.rows.B, in.rows.D);
    }
    return py::make_tuple(y, py::cast(std::move(cache)));
  }

  template <class T>
  py::tuple backward_typed(const py::array& dy_given, const py::array& x, const py::object& cache_given,
                           const py::object& params, const py::kwargs& named) const {
    Inputs<T> in = inputs<T>(x, params, named);
    auto dy = same_dtype<T>(dy_given, "dy", x);
    norm::check_like_x("", "dy", shape_of(dy), in.shape);
    const auto bound = norm::bind_params<const T>(in.specs, std::span<const T>(in.params));
    Cache fresh;
    const Cache* cache = &fresh;
    if (cache_given.is_none()) {  // no cache: the forward's statistics again
      std::vector<T> y(in.rows.B * in.rows.D);
      if (in.rows.B > 0) impl_->forward(std::span<T>(y), fresh.rows, in.view(in.x), bound, in.rows.B, in.rows.D);
    } else {
      cache = &cache_given.cast<const Cache&>();
      check_cache(*cache, in.shape, dtype_name(x));
    }
    py::array_t<T> dx(in.shape);
    std::vector<T> grads(in.params.size(), T(0));
    if (in.rows.B > 0) {
      py::gil_scoped_release unlocked;
      impl_->backward(std::span<T>(dx.mutable_data(), std::size_t(dx.size())),
                      norm::bind_params<T>(in.specs, std::span<T>(grads)), cache->rows, in.view(dy),
                      in.view(in.x), bound, in.rows.B, in.rows.D);
    }
    py::dict named_grads;
    std::size_t offset = 0;
    for (const auto& spec : in.specs) {
      named_grads[py::str(spec.name)] = py::array_t<T>(py::ssize_t(spec.size), grads.data() + offset);
      offset += spec.size;
    }
    return py::make_tuple(dx, named_grads);
  }

  void check_cache(const Cache& cache, const norm::Shape& x_shape, const std::string& dtype) const {
    if (cache.normalizer != describe()) {
      fail("the cache is from ", cache.normalizer, ", not from this ", describe());
    }
    if (cache.x_shape != x_shape || cache.dtype != dtype) {
      fail("the cache is from a forward of x with shape ", shape_string(cache.x_shape), " and dtype ",
           cache.dtype, ", but x has shape ", shape_string(x_shape), " and dtype ", dtype);
    }
  }
};

py::dict kind_info(const std::string& name) {
  const norm::KindInfo& info = norm::kind_info(name);
  py::dict defaults;
  for (const auto& option : info.options) defaults[py::str(option)] = norm::get_option(info.defaults, option);
  return py::dict(py::arg("name") = info.name, py::arg("formula") = info.formula,
                  py::arg("reference") = info.reference, py::arg("options") = defaults);
}

py::list options() {
  py::list all;
  for (const auto& o : norm::all_options()) {
    all.append(py::dict(py::arg("name") = o.name, py::arg("values") = o.values, py::arg("help") = o.help));
  }
  return all;
}

}  // namespace
}  // namespace normlab::python

PYBIND11_MODULE(_core, m) {
  using namespace normlab::python;
  m.doc() = "normlab's normalizers on numpy arrays (forward and backward, float32 and float64)";
  m.attr("__version__") = NORMLAB_VERSION;
  // The normlab executable of the build tree this module was built in (normlab.train's fallback).
  m.attr("build_binary") = NORMLAB_BUILD_BINARY;
  static py::exception<normlab::Error> error(m, "NormlabError", PyExc_ValueError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const normlab::Error& e) {
      error(e.what());
    }
  });

  m.def("kinds", &normlab::norm::kind_names, "The normalizer kinds, as `normlab norms` lists them.");
  m.def("kind_info", &kind_info, py::arg("kind"),
        "A kind's formula, reference and the default of every option it takes.");
  m.def("options", &options, "Every normalizer option: name, values, help.");
  m.def("set_threads", &normlab::set_threads, py::arg("threads"),
        "Threads for the normalizers' rows (default 1, capped at the usable CPUs); returns the count set. "
        "Not while a call runs.");
  m.def("threads", &normlab::threads, "The thread count set_threads set.");

  py::class_<Cache>(m, "Cache", "The per-row statistics of one forward call, for its backward.")
      .def_property_readonly("mean", [](const Cache& c) { return c.column(c.rows.mean); },
                             "(B) row means (0 where the kind does not center)")
      .def_property_readonly("stat", [](const Cache& c) { return c.column(c.rows.stat); },
                             "(B) the statistic under the root: mean square, variance or |x|^2")
      .def_property_readonly("rstd", [](const Cache& c) { return c.column(c.rows.rstd); },
                             "(B) 1 / denominator (1 where the kind does not rescale)")
      .def_readonly("normalizer", &Cache::normalizer)
      .def("__repr__", [](const Cache& c) {
        return normlab::cat("<normlab Cache of ", c.normalizer, ", x ", normlab::shape_string(c.x_shape),
                            " ", c.dtype, ">");
      });

  py::class_<Normalizer>(m, "Normalizer", R"(A normalizer over the last axis: Normalizer("rmsnorm", eps=1e-6).

Options are keyword arguments as `normlab norms` lists them (lambda as lambda_); unknown or
inapplicable ones raise NormlabError naming the nearest.)")
      .def(py::init<const std::string&, const py::kwargs&>(), py::arg("kind"))
      .def_property_readonly("kind", &Normalizer::kind)
      .def_property_readonly("options", &Normalizer::options, "Every applicable option, resolved, as text.")
      .def("describe", &Normalizer::describe)
      .def("__repr__", [](const Normalizer& n) { return "<normlab Normalizer " + n.describe() + ">"; })
      .def("param_specs", &Normalizer::param_specs, py::arg("D"),
           "The learned parameters for D features: name, size, init, in order.")
      .def("init_params", &Normalizer::init_params, py::arg("D"), py::arg("dtype") = "float32",
           "Every parameter at its initial value, by name.")
      .def("forward", &Normalizer::forward, py::arg("x"), py::arg("params") = py::none(),
           "(y, cache) <- norm(x) over x's last axis. Parameters by name, in `params` or as keywords "
           "(gain=, bias=, lambda_=, alpha=), in x's dtype; absent ones take their initial value.")
      .def("backward", &Normalizer::backward, py::arg("dy"), py::arg("x"), py::arg("cache") = py::none(),
           py::arg("params") = py::none(),
           "(dx, grads) for upstream dy, with the cache of x's forward (None: recomputed); grads by "
           "parameter name.");
}
