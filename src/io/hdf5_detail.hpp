// Internals shared by the HDF5 wrapper's source files (hdf5.cpp, hdf5_attributes.cpp): HDF5's
// error stack, and the checks every read makes before it touches the data.
#pragma once

#include <hdf5.h>

#include <cstddef>
#include <string>

#include "io/hdf5.hpp"

namespace normlab::h5::detail {

void silence_hdf5();  // HDF5 prints an error stack on every failed call; we report errors ourselves
std::string hdf5_reason();  // ": <innermost message on HDF5's error stack>", or ""; clears the stack

// What a datatype is, for messages: "float32", "int64", "string", "compound", ...
std::string type_name(hid_t type);

// Throws unless `type` is a number this wrapper converts faithfully: an IEEE binary16/32/64 float
// (every field where IEEE puts it) or an integer of 1, 2, 4 or 8 bytes using every bit. A damaged
// datatype message (an exponent bias or a mantissa size flipped) converts to garbage or zeros
// without any error from HDF5, so it is refused here. `what` names the object ("dataset 'x'").
void check_numeric_type(hid_t type, const std::string& what);

// The extent of a dataspace, checked: simple or scalar (not null), rank at most H5S_MAX_RANK.
Shape checked_extent(hid_t space, const std::string& what);

// The number of elements of `shape`; throws when the product overflows or the values would take
// more than `max_bytes` in memory at `element_bytes` each (a damaged extent claiming 2^60 rows).
std::size_t checked_count(const Shape& shape, std::size_t element_bytes, std::size_t max_bytes,
                          const std::string& what);

}  // namespace normlab::h5::detail
