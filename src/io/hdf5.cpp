#include "io/hdf5.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include <hdf5_hl.h>

#include "core/error.hpp"
#include "io/hdf5_detail.hpp"
#include "io/hdf5_guard.hpp"

namespace normlab::h5 {

using detail::hdf5_reason;
using detail::silence_hdf5;

namespace {

// HDF5 retries a metadata read whose checksum fails this many times when reading with SWMR (a
// writer may be midway through a flush); its default of 100 retries, each sleeping, kept a reader
// of a damaged .partial file blocked for minutes.
constexpr unsigned kSwmrReadAttempts = 4;

// A read allocates at most this much, or 64 times the file's size when that is more: a damaged
// extent cannot make a reader allocate terabytes (compressed data of a legitimate file stays well
// inside 64 times its size unless it is nearly constant).
constexpr std::size_t kMinReadLimitBytes = std::size_t(256) << 20;
constexpr std::size_t kReadLimitPerFileByte = 64;

template <class T>
hid_t native_type() {
  if constexpr (std::is_same_v<T, float>) return H5T_NATIVE_FLOAT;
  else if constexpr (std::is_same_v<T, double>) return H5T_NATIVE_DOUBLE;
  else if constexpr (std::is_same_v<T, long long>) return H5T_NATIVE_LLONG;
  else static_assert(sizeof(T) == 0, "unsupported element type");
}

Handle link_creation_with_parents() {
  Handle plist(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  H5Pset_create_intermediate_group(plist.get(), 1);
  return plist;
}

}  // namespace

Handle& Handle::operator=(Handle&& other) noexcept {
  if (this != &other) {
    reset();
    id_ = std::exchange(other.id_, H5I_INVALID_HID);
    close_ = std::exchange(other.close_, nullptr);
  }
  return *this;
}

void Handle::reset() {
  if (id_ >= 0 && close_) close_(id_);
  id_ = H5I_INVALID_HID;
}

File File::open(const std::string& path, Mode mode, bool lock) {
  silence_hdf5();
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    FILE* probe = std::fopen(path.c_str(), "rb");
    if (!probe) fail(path, ": no such file (or not readable)");
    std::fclose(probe);
    fail(path, ": not an HDF5 file");
  }
  unsigned flags = mode == Mode::read        ? H5F_ACC_RDONLY
                   : mode == Mode::read_swmr ? H5F_ACC_RDONLY | H5F_ACC_SWMR_READ
                                             : H5F_ACC_RDWR;
  Handle access(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  if (!lock) H5Pset_file_locking(access.get(), false, true);
  if (mode == Mode::read_swmr) H5Pset_metadata_read_attempts(access.get(), kSwmrReadAttempts);
  hid_t id = H5Fopen(path.c_str(), flags, access.get());
  if (id < 0) fail(path, ": cannot open", hdf5_reason());
  return File(path, Handle(id, H5Fclose));
}

File File::create(const std::string& path, bool latest_format) {
  silence_hdf5();
  Handle access(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  if (latest_format) H5Pset_libver_bounds(access.get(), H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
  hid_t id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, access.get());
  if (id < 0) fail(path, ": cannot create", hdf5_reason());
  return File(path, Handle(id, H5Fclose));
}

void File::close() {
  if (file_.get() < 0) return;
  if (H5Fflush(file_.get(), H5F_SCOPE_LOCAL) < 0) fail(path_, ": cannot flush", hdf5_reason());
  if (H5Fclose(file_.release()) < 0) fail(path_, ": cannot close", hdf5_reason());
}

hid_t File::id() const {
  if (file_.get() < 0) fail(path_, ": file is closed");
  return file_.get();
}

std::string File::where(std::string_view object) const { return cat(path_, ":", object); }

bool File::has(std::string_view name) const {
  std::string path(name);
  if (path == "/") return true;
  // H5Lexists fails when an intermediate group is missing, so walk the path one link at a time.
  std::size_t pos = path.front() == '/' ? 1 : 0;
  while (true) {
    std::size_t end = path.find('/', pos);
    std::string prefix = path.substr(0, end);
    if (H5Lexists(id(), prefix.c_str(), H5P_DEFAULT) <= 0) return false;
    if (end == std::string::npos) return true;
    pos = end + 1;
  }
}

bool File::is_dataset(std::string_view name) const {
  if (!has(name)) return false;
  H5O_info_t info;
  // Only the type: the full info (H5O_INFO_ALL) walks the object header and its attributes.
  if (H5Oget_info_by_name2(id(), std::string(name).c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0) {
    return false;
  }
  return info.type == H5O_TYPE_DATASET;
}

std::vector<std::string> File::members(std::string_view group) const {
  Handle g(H5Gopen2(id(), std::string(group).c_str(), H5P_DEFAULT), H5Gclose);
  if (g.get() < 0) fail(where(group), ": not a group", hdf5_reason());
  std::vector<std::string> names;
  H5Literate(
      g.get(), H5_INDEX_NAME, H5_ITER_INC, nullptr,
      [](hid_t, const char* name, const H5L_info_t*, void* out) -> herr_t {
        static_cast<std::vector<std::string>*>(out)->emplace_back(name);
        return 0;
      },
      &names);
  std::sort(names.begin(), names.end());
  return names;
}

Handle File::open_dataset(std::string_view dataset) const {
  if (!is_dataset(dataset)) fail(where(dataset), ": no such dataset");
  Handle d(H5Dopen2(id(), std::string(dataset).c_str(), H5P_DEFAULT), H5Dclose);
  if (d.get() < 0) fail(where(dataset), ": cannot open the dataset", hdf5_reason());
  return d;
}

Shape File::shape(std::string_view dataset) const {
  Handle d = open_dataset(dataset);
  Handle space(H5Dget_space(d.get()), H5Sclose);
  if (space.get() < 0) fail(where(dataset), ": cannot read the shape", hdf5_reason());
  return detail::checked_extent(space.get(), where(dataset));
}

std::size_t File::length(std::string_view dataset) const {
  const Shape s = shape(dataset);
  if (s.size() != 1) {
    fail(where(dataset), ": expected a 1-D dataset, found shape ", shape_string(s));
  }
  return s[0];
}

std::size_t File::float_bits(std::string_view dataset) const {
  Handle d = open_dataset(dataset);
  Handle type(H5Dget_type(d.get()), H5Tclose);
  if (type.get() < 0) fail(where(dataset), ": cannot read the datatype", hdf5_reason());
  return H5Tget_class(type.get()) == H5T_FLOAT ? 8 * H5Tget_size(type.get()) : 0;
}

template <class T>
xt::xarray<T> File::read(std::string_view dataset) const {
  Handle d = open_dataset(dataset);
  Handle type(H5Dget_type(d.get()), H5Tclose);
  if (type.get() < 0) fail(where(dataset), ": cannot read the datatype", hdf5_reason());
  detail::check_numeric_type(type.get(), where(dataset));
  Handle space(H5Dget_space(d.get()), H5Sclose);
  if (space.get() < 0) fail(where(dataset), ": cannot read the shape", hdf5_reason());
  const Shape dims = detail::checked_extent(space.get(), where(dataset));
  hsize_t file_bytes = 0;
  H5Fget_filesize(id(), &file_bytes);
  const std::size_t limit = std::max<std::size_t>(kMinReadLimitBytes, kReadLimitPerFileByte * file_bytes);
  const std::size_t count = detail::checked_count(dims, sizeof(T), limit, where(dataset));
  xt::xarray<T> out = xt::xarray<T>::from_shape(dims);
  if (out.size() != count) fail("internal: ", where(dataset), ": ", out.size(), " != ", count);
  if (count > 0 &&
      H5Dread(d.get(), native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0) {
    fail(where(dataset), ": cannot read", hdf5_reason());
  }
  return out;
}

template <class T>
std::vector<T> File::read_vector(std::string_view dataset) const {
  const xt::xarray<T> values = read<T>(dataset);
  if (values.dimension() != 1) {
    fail(where(dataset), ": expected a 1-D dataset, found shape ",
         shape_string(Shape(values.shape().begin(), values.shape().end())));
  }
  return std::vector<T>(values.begin(), values.end());
}

template <class T>
void File::write(std::string_view dataset, const Shape& shape, std::span<const T> data) {
  std::size_t count = 1;
  for (auto n : shape) count *= n;
  if (count != data.size()) {
    fail(where(dataset), ": shape ", shape_string(shape), " needs ", count, " values, got ",
         data.size());
  }
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  Handle space(H5Screate_simple(int(dims.size()), dims.data(), nullptr), H5Sclose);
  Handle links = link_creation_with_parents();
  Handle d(H5Dcreate2(id(), std::string(dataset).c_str(), native_type<T>(), space.get(),
                      links.get(), H5P_DEFAULT, H5P_DEFAULT),
           H5Dclose);
  if (d.get() < 0) fail(where(dataset), ": cannot create dataset", hdf5_reason());
  if (count > 0 &&
      H5Dwrite(d.get(), native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data()) < 0) {
    fail(where(dataset), ": cannot write", hdf5_reason());
  }
}

template <class T>
void File::create_series(std::string_view dataset, std::size_t columns, std::size_t chunk_rows) {
  const int rank = columns ? 2 : 1;
  hsize_t dims[2] = {0, columns}, max[2] = {H5S_UNLIMITED, columns};
  hsize_t chunk[2] = {std::max<hsize_t>(chunk_rows, 1), std::max<hsize_t>(columns, 1)};
  Handle space(H5Screate_simple(rank, dims, max), H5Sclose);
  Handle props(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  H5Pset_chunk(props.get(), rank, chunk);
  Handle links = link_creation_with_parents();
  Handle d(H5Dcreate2(id(), std::string(dataset).c_str(), native_type<T>(), space.get(),
                      links.get(), props.get(), H5P_DEFAULT),
           H5Dclose);
  if (d.get() < 0) fail(where(dataset), ": cannot create series", hdf5_reason());
}

template <class T>
void File::append(std::string_view dataset, std::span<const T> rows) {
  Handle d(H5Dopen2(id(), std::string(dataset).c_str(), H5P_DEFAULT), H5Dclose);
  if (d.get() < 0) fail(where(dataset), ": no such series", hdf5_reason());
  Handle space(H5Dget_space(d.get()), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space.get());
  hsize_t dims[2] = {0, 1};
  H5Sget_simple_extent_dims(space.get(), dims, nullptr);
  const hsize_t width = rank == 2 ? dims[1] : 1;
  if (rows.size() % width != 0) {
    fail(where(dataset), ": ", rows.size(), " values are not whole rows of ", width);
  }
  if (rows.empty()) return;
  hsize_t start[2] = {dims[0], 0}, count[2] = {rows.size() / width, width};
  hsize_t grown[2] = {dims[0] + count[0], width};
  if (H5Dset_extent(d.get(), grown) < 0) fail(where(dataset), ": cannot extend", hdf5_reason());
  Handle file_space(H5Dget_space(d.get()), H5Sclose);
  H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr);
  Handle memory(H5Screate_simple(rank, count, nullptr), H5Sclose);
  if (H5Dwrite(d.get(), native_type<T>(), memory.get(), file_space.get(), H5P_DEFAULT,
               rows.data()) < 0) {
    fail(where(dataset), ": cannot append", hdf5_reason());
  }
}

void File::write_strings(std::string_view dataset, const std::vector<std::string>& values) {
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  hsize_t n = values.size();
  Handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  Handle links = link_creation_with_parents();
  Handle d(H5Dcreate2(id(), std::string(dataset).c_str(), type.get(), space.get(), links.get(),
                      H5P_DEFAULT, H5P_DEFAULT),
           H5Dclose);
  if (d.get() < 0) fail(where(dataset), ": cannot create dataset", hdf5_reason());
  std::vector<const char*> pointers;
  for (const auto& v : values) pointers.push_back(v.c_str());
  if (n > 0 && H5Dwrite(d.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, pointers.data()) < 0) {
    fail(where(dataset), ": cannot write", hdf5_reason());
  }
}

namespace {
// Strings through a pipe: each as its length (8 bytes) and its bytes.
std::string pack(const std::vector<std::string>& values) {
  std::string out;
  for (const auto& v : values) {
    const std::uint64_t n = v.size();
    out.append(reinterpret_cast<const char*>(&n), sizeof n).append(v);
  }
  return out;
}

std::vector<std::string> unpack(const std::string& packed) {
  std::vector<std::string> out;
  for (std::size_t at = 0; at + sizeof(std::uint64_t) <= packed.size();) {
    std::uint64_t n = 0;
    std::memcpy(&n, packed.data() + at, sizeof n);
    at += sizeof n;
    out.push_back(packed.substr(at, std::size_t(n)));
    at += std::size_t(n);
  }
  return out;
}
}  // namespace

std::vector<std::string> File::read_strings(std::string_view dataset) const {
  if (strings_in_child_) {
    File here(path_, Handle(id(), nullptr));  // the same file in the child, not closed by this copy
    const std::string packed = in_child(path_, [&] { return pack(here.read_strings(dataset)); });
    return unpack(packed);
  }
  Handle d = open_dataset(dataset);
  Handle type(H5Dget_type(d.get()), H5Tclose);
  if (type.get() < 0) fail(where(dataset), ": cannot read the datatype", hdf5_reason());
  if (H5Tget_class(type.get()) != H5T_STRING || H5Tis_variable_str(type.get()) <= 0) {
    fail(where(dataset), ": expected variable-length strings, found ", detail::type_name(type.get()));
  }
  Handle space(H5Dget_space(d.get()), H5Sclose);
  const Shape dims = detail::checked_extent(space.get(), where(dataset));
  if (dims.size() != 1) fail(where(dataset), ": expected a 1-D dataset, found shape ", shape_string(dims));
  const std::size_t n = detail::checked_count(dims, sizeof(char*), kMinReadLimitBytes, where(dataset));
  Handle memtype(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(memtype.get(), H5T_VARIABLE);
  H5Tset_cset(memtype.get(), H5Tget_cset(type.get()) == H5T_CSET_UTF8 ? H5T_CSET_UTF8 : H5T_CSET_ASCII);
  std::vector<char*> text(n, nullptr);
  if (n > 0 && H5Dread(d.get(), memtype.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, text.data()) < 0) {
    fail(where(dataset), ": cannot read", hdf5_reason());
  }
  std::vector<std::string> out;
  out.reserve(n);
  for (char* t : text) out.emplace_back(t ? t : "");  // a null pointer is an empty string
  if (n > 0) H5Dvlen_reclaim(memtype.get(), space.get(), H5P_DEFAULT, text.data());
  return out;
}

void File::make_dimension_scale(std::string_view scale, std::string_view name) {
  Handle d(H5Dopen2(id(), std::string(scale).c_str(), H5P_DEFAULT), H5Dclose);
  if (d.get() < 0 || H5DSset_scale(d.get(), std::string(name).c_str()) < 0) {
    fail(where(scale), ": cannot make it a dimension scale", hdf5_reason());
  }
}

void File::attach_dimension_scale(std::string_view dataset, std::string_view scale, unsigned axis) {
  Handle d(H5Dopen2(id(), std::string(dataset).c_str(), H5P_DEFAULT), H5Dclose);
  Handle s(H5Dopen2(id(), std::string(scale).c_str(), H5P_DEFAULT), H5Dclose);
  if (d.get() < 0 || s.get() < 0 || H5DSattach_scale(d.get(), s.get(), axis) < 0) {
    fail(where(dataset), ": cannot attach dimension scale ", scale, " to axis ", axis,
         hdf5_reason());
  }
}

void File::start_swmr_write() {
  if (H5Fstart_swmr_write(id()) < 0) fail(path_, ": cannot start SWMR writing", hdf5_reason());
}

void File::flush() {
  if (H5Fflush(id(), H5F_SCOPE_LOCAL) < 0) fail(path_, ": cannot flush", hdf5_reason());
}

template xt::xarray<float> File::read<float>(std::string_view) const;
template xt::xarray<double> File::read<double>(std::string_view) const;
template xt::xarray<long long> File::read<long long>(std::string_view) const;
template std::vector<float> File::read_vector<float>(std::string_view) const;
template std::vector<double> File::read_vector<double>(std::string_view) const;
template std::vector<long long> File::read_vector<long long>(std::string_view) const;
template void File::write<float>(std::string_view, const Shape&, std::span<const float>);
template void File::write<double>(std::string_view, const Shape&, std::span<const double>);
template void File::write<long long>(std::string_view, const Shape&, std::span<const long long>);
template void File::create_series<float>(std::string_view, std::size_t, std::size_t);
template void File::create_series<double>(std::string_view, std::size_t, std::size_t);
template void File::create_series<long long>(std::string_view, std::size_t, std::size_t);
template void File::append<float>(std::string_view, std::span<const float>);
template void File::append<double>(std::string_view, std::span<const double>);
template void File::append<long long>(std::string_view, std::span<const long long>);

}  // namespace normlab::h5
