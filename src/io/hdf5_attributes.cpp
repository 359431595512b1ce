// The HDF5 wrapper's attributes and listings, and the checks every read makes (hdf5_detail.hpp).
#include <algorithm>
#include <cstring>
#include <limits>

#include "core/error.hpp"
#include "io/hdf5.hpp"
#include "io/hdf5_detail.hpp"
#include "io/hdf5_guard.hpp"

namespace normlab::h5 {

namespace detail {

void silence_hdf5() {
  static const bool silenced = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)silenced;
}

std::string hdf5_reason() {
  std::string reason;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned n, const H5E_error2_t* e, void* out) -> herr_t {
        if (n == 0 && e->desc) *static_cast<std::string*>(out) = e->desc;
        return 0;
      },
      &reason);
  H5Eclear2(H5E_DEFAULT);
  return reason.empty() ? std::string() : ": " + reason;
}

std::string type_name(hid_t type) {
  const std::size_t bits = 8 * H5Tget_size(type);
  switch (H5Tget_class(type)) {
    case H5T_FLOAT: return cat("float", bits);
    case H5T_INTEGER: return cat(H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int", bits);
    case H5T_STRING: return H5Tis_variable_str(type) > 0 ? "a variable-length string" : "a fixed-length string";
    case H5T_COMPOUND: return "a compound type";
    case H5T_ENUM: return "an enum";
    case H5T_ARRAY: return "an array type";
    case H5T_VLEN: return "a variable-length sequence";
    case H5T_REFERENCE: return "a reference";
    case H5T_OPAQUE: return "an opaque type";
    case H5T_BITFIELD: return "a bitfield";
    default: return "an unreadable datatype";
  }
}

namespace {
// Where IEEE 754 puts the fields of a binary16, binary32 and binary64 number.
struct FloatLayout {
  std::size_t bytes, sign, exponent_pos, exponent_bits, mantissa_bits, bias;
};
constexpr FloatLayout kIeeeLayouts[] = {{2, 15, 10, 5, 10, 15}, {4, 31, 23, 8, 23, 127},
                                        {8, 63, 52, 11, 52, 1023}};

bool is_ieee_float(hid_t type) {
  const H5T_order_t order = H5Tget_order(type);
  if (order != H5T_ORDER_LE && order != H5T_ORDER_BE) return false;
  std::size_t spos = 0, epos = 0, esize = 0, mpos = 0, msize = 0;
  if (H5Tget_fields(type, &spos, &epos, &esize, &mpos, &msize) < 0) return false;
  const std::size_t bytes = H5Tget_size(type);
  for (const FloatLayout& l : kIeeeLayouts) {
    if (bytes == l.bytes && spos == l.sign && epos == l.exponent_pos && esize == l.exponent_bits &&
        mpos == 0 && msize == l.mantissa_bits && H5Tget_ebias(type) == l.bias &&
        H5Tget_norm(type) == H5T_NORM_IMPLIED && H5Tget_precision(type) == 8 * bytes &&
        H5Tget_offset(type) == 0) {
      return true;
    }
  }
  return false;
}

bool is_whole_integer(hid_t type) {
  const std::size_t bytes = H5Tget_size(type);
  const H5T_order_t order = H5Tget_order(type);
  return (bytes == 1 || bytes == 2 || bytes == 4 || bytes == 8) &&
         (order == H5T_ORDER_LE || order == H5T_ORDER_BE || bytes == 1) &&
         H5Tget_precision(type) == 8 * bytes && H5Tget_offset(type) == 0 &&
         H5Tget_sign(type) != H5T_SGN_ERROR;
}
}  // namespace

void check_numeric_type(hid_t type, const std::string& what) {
  const H5T_class_t kind = H5Tget_class(type);
  if (kind == H5T_FLOAT) {
    if (!is_ieee_float(type)) {
      fail(what, ": expected IEEE float16/32/64 values, found a ", 8 * H5Tget_size(type),
           "-bit float datatype with another layout (a damaged or unusual file)");
    }
  } else if (kind == H5T_INTEGER) {
    if (!is_whole_integer(type)) {
      fail(what, ": expected 8-, 16-, 32- or 64-bit integers, found an integer datatype of ",
           H5Tget_precision(type), " bits in ", H5Tget_size(type), " bytes (a damaged or unusual file)");
    }
  } else {
    fail(what, ": expected numbers (float or integer values), found ", type_name(type));
  }
}

Shape checked_extent(hid_t space, const std::string& what) {
  const H5S_class_t kind = H5Sget_simple_extent_type(space);
  if (kind == H5S_NULL) fail(what, ": holds no value (a null dataspace)");
  if (kind != H5S_SIMPLE && kind != H5S_SCALAR) fail(what, ": cannot read the shape", hdf5_reason());
  const int rank = H5Sget_simple_extent_ndims(space);
  if (rank < 0 || rank > H5S_MAX_RANK) fail(what, ": cannot read the shape", hdf5_reason());
  std::vector<hsize_t> dims(std::size_t(rank), 0);
  if (rank > 0 && H5Sget_simple_extent_dims(space, dims.data(), nullptr) < 0) {
    fail(what, ": cannot read the shape", hdf5_reason());
  }
  return Shape(dims.begin(), dims.end());
}

std::size_t checked_count(const Shape& shape, std::size_t element_bytes, std::size_t max_bytes,
                          const std::string& what) {
  if (std::find(shape.begin(), shape.end(), std::size_t(0)) != shape.end()) return 0;
  const std::size_t max_count = max_bytes / element_bytes;
  std::size_t count = 1;
  for (std::size_t n : shape) {
    if (count > max_count / n) {  // count * n > max_count, without overflowing
      fail(what, ": shape ", shape_string(shape), " would take more than ", max_bytes >> 20,
           " MiB to read (a damaged extent?)");
    }
    count *= n;
  }
  return count;
}

}  // namespace detail

using detail::hdf5_reason;

std::vector<std::string> File::objects() const {
  std::vector<std::string> names;
  herr_t visited = H5Ovisit2(
      id(), H5_INDEX_NAME, H5_ITER_INC,
      [](hid_t, const char* name, const H5O_info_t*, void* out) -> herr_t {
        if (std::strcmp(name, ".") != 0) static_cast<std::vector<std::string>*>(out)->emplace_back(name);
        return 0;
      },
      &names, H5O_INFO_BASIC);
  if (visited < 0) fail(path_, ": cannot list its objects", hdf5_reason());
  return names;
}

std::vector<std::string> File::attribute_names(std::string_view object) const {
  Handle o(H5Oopen(id(), std::string(object).c_str(), H5P_DEFAULT), H5Oclose);
  if (o.get() < 0) fail(where(object), ": cannot open", hdf5_reason());
  std::vector<std::string> names;
  herr_t listed = H5Aiterate2(
      o.get(), H5_INDEX_NAME, H5_ITER_INC, nullptr,
      [](hid_t, const char* name, const H5A_info_t*, void* out) -> herr_t {
        static_cast<std::vector<std::string>*>(out)->emplace_back(name);
        return 0;
      },
      &names);
  if (listed < 0) fail(where(object), ": cannot list its attributes", hdf5_reason());
  return names;
}

bool File::has_attribute(std::string_view object, std::string_view name) const {
  return has(object) &&
         H5Aexists_by_name(id(), std::string(object).c_str(), std::string(name).c_str(),
                           H5P_DEFAULT) > 0;
}

Handle File::open_attribute(std::string_view object, std::string_view name) const {
  if (!has_attribute(object, name)) fail(where(object), ": no attribute '", name, "'");
  Handle a(H5Aopen_by_name(id(), std::string(object).c_str(), std::string(name).c_str(),
                           H5P_DEFAULT, H5P_DEFAULT),
           H5Aclose);
  if (a.get() < 0) fail(where(object), ": cannot open attribute '", name, "'", hdf5_reason());
  return a;
}

namespace {

// An opened attribute's datatype and extent, read and checked before any value is.
struct AttributeLayout {
  Handle type, space;
  Shape shape;
  std::size_t count = 0;
};

constexpr std::size_t kMaxAttributeBytes = std::size_t(64) << 20;

AttributeLayout layout_of(hid_t attribute, const std::string& what) {
  AttributeLayout l;
  l.type = Handle(H5Aget_type(attribute), H5Tclose);
  l.space = Handle(H5Aget_space(attribute), H5Sclose);
  if (l.type.get() < 0 || l.space.get() < 0) fail(what, ": cannot read it", hdf5_reason());
  l.shape = detail::checked_extent(l.space.get(), what);
  l.count = detail::checked_count(l.shape, std::max<std::size_t>(H5Tget_size(l.type.get()), 1),
                                  kMaxAttributeBytes, what);
  return l;
}

// One value expected: a scalar or an array of one element.
void check_single(const AttributeLayout& l, const std::string& what, const char* expected) {
  if (l.count != 1) {
    fail(what, " is not one ", expected, ": found an array of shape ", shape_string(l.shape));
  }
}

}  // namespace

std::string File::read_string_attribute(std::string_view object, std::string_view name) const {
  Handle a = open_attribute(object, name);
  const std::string what = cat(where(object), ": attribute '", name, "'");
  const AttributeLayout l = layout_of(a.get(), what);
  if (H5Tget_class(l.type.get()) != H5T_STRING) {
    fail(what, " is not a string (found ", detail::type_name(l.type.get()), ")");
  }
  check_single(l, what, "string");
  if (H5Tis_variable_str(l.type.get()) > 0 && strings_in_child_) {  // see read_strings_in_child
    const File here(path_, Handle(id(), nullptr));
    return in_child(path_, [&] { return here.read_string_attribute(object, name); });
  }
  if (H5Tis_variable_str(l.type.get()) > 0) {
    Handle memtype(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(memtype.get(), H5T_VARIABLE);
    H5Tset_cset(memtype.get(),
                H5Tget_cset(l.type.get()) == H5T_CSET_UTF8 ? H5T_CSET_UTF8 : H5T_CSET_ASCII);
    char* text = nullptr;
    if (H5Aread(a.get(), memtype.get(), &text) < 0) fail(what, ": cannot read it", hdf5_reason());
    std::string out = text ? text : "";
    H5free_memory(text);
    return out;
  }
  // Fixed length: read in the stored type, with room for a terminating NUL it may lack.
  std::string out(H5Tget_size(l.type.get()) + 1, '\0');
  if (H5Aread(a.get(), l.type.get(), out.data()) < 0) fail(what, ": cannot read it", hdf5_reason());
  out.resize(std::strlen(out.c_str()));  // fixed-length strings are NUL-padded
  return out;
}

long long File::read_integer_attribute(std::string_view object, std::string_view name) const {
  Handle a = open_attribute(object, name);
  const std::string what = cat(where(object), ": attribute '", name, "'");
  const AttributeLayout l = layout_of(a.get(), what);
  if (H5Tget_class(l.type.get()) != H5T_INTEGER) {
    fail(what, " is not an integer (found ", detail::type_name(l.type.get()), ")");
  }
  detail::check_numeric_type(l.type.get(), what);
  check_single(l, what, "integer");
  long long value = 0;
  if (H5Aread(a.get(), H5T_NATIVE_LLONG, &value) < 0) fail(what, ": cannot read it", hdf5_reason());
  return value;
}

double File::read_number_attribute(std::string_view object, std::string_view name) const {
  Handle a = open_attribute(object, name);
  const std::string what = cat(where(object), ": attribute '", name, "'");
  const AttributeLayout l = layout_of(a.get(), what);
  detail::check_numeric_type(l.type.get(), what);
  check_single(l, what, "number");
  double value = 0;
  if (H5Aread(a.get(), H5T_NATIVE_DOUBLE, &value) < 0) fail(what, ": cannot read it", hdf5_reason());
  return value;
}

std::vector<long long> File::read_integers_attribute(std::string_view object,
                                                     std::string_view name) const {
  Handle a = open_attribute(object, name);
  const std::string what = cat(where(object), ": attribute '", name, "'");
  const AttributeLayout l = layout_of(a.get(), what);
  if (H5Tget_class(l.type.get()) != H5T_INTEGER) {
    fail(what, " is not a list of integers (found ", detail::type_name(l.type.get()), ")");
  }
  detail::check_numeric_type(l.type.get(), what);
  if (l.shape.size() > 1) {
    fail(what, " is not a 1-D list of integers (found shape ", shape_string(l.shape), ")");
  }
  std::vector<long long> values(l.count);
  if (!values.empty() && H5Aread(a.get(), H5T_NATIVE_LLONG, values.data()) < 0) {
    fail(what, ": cannot read it", hdf5_reason());
  }
  return values;
}

namespace {
// Writes (replacing) attribute `name` of `object`: a scalar, or with `count` a 1-D array.
void write_attribute_raw(hid_t file, const std::string& where, std::string_view object,
                         std::string_view name, hid_t type, const void* value,
                         const hsize_t* count = nullptr) {
  std::string obj(object), attr(name);
  if (H5Aexists_by_name(file, obj.c_str(), attr.c_str(), H5P_DEFAULT) > 0) {
    H5Adelete_by_name(file, obj.c_str(), attr.c_str(), H5P_DEFAULT);
  }
  Handle space(count ? H5Screate_simple(1, count, nullptr) : H5Screate(H5S_SCALAR), H5Sclose);
  Handle a(H5Acreate_by_name(file, obj.c_str(), attr.c_str(), type, space.get(), H5P_DEFAULT,
                             H5P_DEFAULT, H5P_DEFAULT),
           H5Aclose);
  if (a.get() < 0 || ((!count || *count > 0) && H5Awrite(a.get(), type, value) < 0)) {
    fail(where, ": cannot write attribute '", name, "'", hdf5_reason());
  }
}
}  // namespace

void File::write_attribute(std::string_view object, std::string_view name, std::string_view value) {
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  std::string text(value);
  const char* pointer = text.c_str();
  write_attribute_raw(id(), where(object), object, name, type.get(), &pointer);
}

void File::write_attribute(std::string_view object, std::string_view name, double value) {
  write_attribute_raw(id(), where(object), object, name, H5T_NATIVE_DOUBLE, &value);
}

void File::write_attribute(std::string_view object, std::string_view name, long long value) {
  write_attribute_raw(id(), where(object), object, name, H5T_NATIVE_LLONG, &value);
}

void File::write_integers_attribute(std::string_view object, std::string_view name,
                                    std::span<const long long> values) {
  const hsize_t count = values.size();
  write_attribute_raw(id(), where(object), object, name, H5T_NATIVE_LLONG, values.data(), &count);
}

}  // namespace normlab::h5
