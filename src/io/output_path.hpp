// One meaning for `--out`: where results go. Every command takes a directory; a command that
// writes one file (apply, table, numerics, analyze) also takes a file name. An existing directory,
// or a value ending in '/', is a directory: the file goes into it under the command's default name.
#pragma once

#include <string>

namespace normlab::io {

// The file a single-file command writes: `default_path` when `out` is empty; out/NAME (NAME the
// file name of default_path) when `out` is an existing directory or ends in '/'; else `out`.
std::string output_file(const std::string& out, const std::string& default_path);

// Creates the directory `out` names when it ends in '/' and is missing (the file commands' form
// of "--out DIR/"), just before the file is written; nothing otherwise. Throws an Error naming it.
void make_output_directory(const std::string& out);

}  // namespace normlab::io
