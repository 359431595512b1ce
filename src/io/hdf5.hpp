// A small RAII wrapper over the HDF5 C API (HDF5 1.10): files, numeric datasets, string attributes.
// Every failure throws normlab::Error naming the file, the object and what HDF5 reported;
// HDF5's own error printing is switched off.
// Readers trust nothing in the file: every read checks the stored class (float, integer, string),
// the datatype's layout (IEEE binary16/32/64 floats, whole-byte integers), the rank and the size
// before reading, and says what was expected and what was found. What libhdf5 itself cannot read
// safely (it crashes or loops on some damaged files) is for io/hdf5_guard.hpp.
#pragma once

#include <hdf5.h>

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
#include <xtensor/xarray.hpp>

#include "core/strings.hpp"

namespace normlab::h5 {

using Shape = std::vector<std::size_t>;

using normlab::shape_string;  // core/strings.hpp: "(3, 4)"

// Owns one HDF5 identifier and closes it with the matching H5?close.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer close) : id_(id), close_(close) {}
  Handle(Handle&& other) noexcept { *this = std::move(other); }
  Handle& operator=(Handle&& other) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }
  hid_t get() const { return id_; }
  void reset();
  hid_t release() { return std::exchange(id_, H5I_INVALID_HID); }  // the caller closes it

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer close_ = nullptr;
};

class File {
 public:
  // read_swmr: reading a file another process writes in SWMR mode (see start_swmr_write).
  enum class Mode { read, read_write, read_swmr };
  // `lock` = false opens without HDF5's file lock: how a writer reopens its own file while SWMR
  // readers still hold it (they keep the lock and would make the open fail).
  static File open(const std::string& path, Mode mode = Mode::read, bool lock = true);
  // Truncates an existing file. `latest_format` writes HDF5's newest file format, which SWMR
  // (single writer, multiple readers) needs; readers need HDF5 >= 1.10.
  static File create(const std::string& path, bool latest_format = false);

  const std::string& path() const { return path_; }
  void close();  // flushes and closes now; further use throws

  bool has(std::string_view name) const;  // a link (dataset or group) at this path
  bool is_dataset(std::string_view name) const;
  std::vector<std::string> members(std::string_view group = "/") const;  // sorted link names
  Shape shape(std::string_view dataset) const;
  // The length of a 1-D dataset (an axis such as `step`); throws when it is not 1-D.
  std::size_t length(std::string_view dataset) const;
  // Bits per value when the dataset stores floating-point numbers, 0 otherwise.
  std::size_t float_bits(std::string_view dataset) const;

  // Reads a numeric dataset, converting from the stored type (float or integer) to T.
  template <class T>
  xt::xarray<T> read(std::string_view dataset) const;
  // The same for a dataset that must be 1-D.
  template <class T>
  std::vector<T> read_vector(std::string_view dataset) const;

  // Writes a new dataset (float32, float64 or int64 by T); parent groups are created.
  template <class T>
  void write(std::string_view dataset, const Shape& shape, std::span<const T> data);
  template <class T>
  void write(std::string_view dataset, const xt::xarray<T>& data) {
    write<T>(dataset, Shape(data.shape().begin(), data.shape().end()),
             std::span<const T>(data.data(), data.size()));
  }

  // ---- series written while a run goes on ----
  // An empty dataset of shape (0,) (columns = 0) or (0, columns), unlimited along axis 0,
  // chunked by `chunk_rows` rows.
  template <class T>
  void create_series(std::string_view dataset, std::size_t columns, std::size_t chunk_rows);
  // Appends rows at the end of axis 0: rows.size() is a multiple of the row length.
  template <class T>
  void append(std::string_view dataset, std::span<const T> rows);
  // A new 1-D dataset of variable-length UTF-8 strings, and reading one back.
  void write_strings(std::string_view dataset, const std::vector<std::string>& values);
  std::vector<std::string> read_strings(std::string_view dataset) const;

  // A file not known to be intact (io/hdf5_guard.hpp's open_untrusted sets this): its
  // variable-length strings are read in a forked child. They live in HDF5's global heap, and
  // libhdf5 copies a corrupt heap object without checking its size (a crash or not, depending on
  // what lies beyond it in memory, so the guard's first read cannot rule it out).
  void read_strings_in_child() { strings_in_child_ = true; }

  // Dimension scales (what netCDF-4 and xarray read as a dimension with coordinates): makes the
  // 1-D dataset `scale` the scale of dimension `name`, or attaches it to `axis` of `dataset`.
  void make_dimension_scale(std::string_view scale, std::string_view name);
  void attach_dimension_scale(std::string_view dataset, std::string_view scale, unsigned axis);

  // Enters SWMR writing: readers opening with SWMR see the data up to each flush. No datasets,
  // groups or attributes may be created from here on (HDF5 1.10), only datasets extended and written.
  void start_swmr_write();
  void flush();  // pushes everything written so far to the file

  // Every object (group or dataset) below the root, as paths "a", "a/b"; and an object's attributes.
  std::vector<std::string> objects() const;
  std::vector<std::string> attribute_names(std::string_view object) const;

  // Attributes on any object ("/" is the file). Strings are variable-length UTF-8. The readers
  // take one value (a scalar or a one-element array) except read_integers_attribute.
  bool has_attribute(std::string_view object, std::string_view name) const;
  std::string read_string_attribute(std::string_view object, std::string_view name) const;
  long long read_integer_attribute(std::string_view object, std::string_view name) const;
  void write_attribute(std::string_view object, std::string_view name, std::string_view value);
  void write_attribute(std::string_view object, std::string_view name, double value);
  void write_attribute(std::string_view object, std::string_view name, long long value);
  // A float attribute (read as double), and 1-D int64 attributes (possibly empty).
  double read_number_attribute(std::string_view object, std::string_view name) const;
  void write_integers_attribute(std::string_view object, std::string_view name,
                                std::span<const long long> values);
  std::vector<long long> read_integers_attribute(std::string_view object,
                                                 std::string_view name) const;

 private:
  File(std::string path, Handle file) : path_(std::move(path)), file_(std::move(file)) {}
  hid_t id() const;
  std::string where(std::string_view object) const;  // "FILE:/object"
  Handle open_attribute(std::string_view object, std::string_view name) const;  // throws if absent
  Handle open_dataset(std::string_view dataset) const;                           // throws if absent

  std::string path_;
  Handle file_;
  bool strings_in_child_ = false;
};

}  // namespace normlab::h5
