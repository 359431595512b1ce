// Small string helpers shared by option parsing and the command line.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace normlab {

// Levenshtein distance; used to suggest the nearest valid name for a misspelt one.
std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to `name` if it is plausibly a misspelling of it, else "".
std::string closest_match(std::string_view name, const std::vector<std::string>& candidates);

// " (did you mean 'x'?)" or "" — ready to append to an error message.
std::string did_you_mean(std::string_view name, const std::vector<std::string>& candidates);

std::string join(const std::vector<std::string>& parts, std::string_view sep);

// An array's shape as Python prints it: "(2, 3)", "(64,)", "()".
std::string shape_string(const std::vector<std::size_t>& shape);

std::vector<std::string> split(std::string_view text, char sep);

std::string_view trim(std::string_view text);

// Strict parsers: the whole text must be the value; throw Error naming `what` otherwise.
double parse_double(std::string_view text, std::string_view what);
bool parse_bool(std::string_view text, std::string_view what);

// Shortest text that reads back as the same double ("1e-05", "0.0625").
std::string format_double(double value);

// format_double, or "" for NaN (a missing value in a CSV cell).
std::string format_double_or_blank(double value);

// One CSV record (RFC 4180): the fields joined by commas, a field holding a comma, quote or newline
// quoted with its quotes doubled, and a closing newline.
std::string csv_record(const std::vector<std::string>& fields);

// Whether `text` is well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF):
// TOML text must be, so a config string that is not could not be read back from a run file.
bool valid_utf8(std::string_view text);
// `text` printable in an error message: bytes outside printable ASCII as \xNN.
std::string escaped_bytes(std::string_view text);

// `text` as a TOML basic string: in double quotes, with " and \ escaped.
std::string toml_quoted(std::string_view text);

// Comma-separated lists as the command line takes them ("--dims 64,256", "--rows a,b").
// The items of `text`, trimmed, blank ones dropped ("a, b,,c" -> a, b, c; "" -> none).
std::vector<std::string> split_list(std::string_view text);
// The items of `text` (blank ones dropped) as positive whole numbers; throws Error naming `what`
// and the item otherwise.
std::vector<std::size_t> parse_positive_integers(std::string_view text, std::string_view what);
// Every item of `text` as a number (parse_double, naming `what`); at least one.
std::vector<double> parse_doubles(std::string_view text, std::string_view what);

}  // namespace normlab
