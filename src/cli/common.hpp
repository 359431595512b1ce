// What every subcommand file of the command line shares: option parsing with --help, flag names,
// this program's path, and the subcommands themselves (one file each: cli/<name>.cpp), which the
// dispatcher (cli.cpp) lists. A subcommand parses and validates its options, calls the library
// and prints what it did; returns the exit status, throws an Error for a one-line message.
#pragma once

#include <boost/program_options.hpp>

#include "core/error.hpp"

#include <ostream>
#include <string>
#include <vector>

namespace normlab::cli {

namespace po = boost::program_options;

using Args = std::vector<std::string>;  // the arguments after the subcommand's name

// A usage error (unknown option or subcommand, missing argument): exit status 2, where a failure
// of the work itself is 1 (cli::run maps them; po::error counts as usage too).
class UsageError : public Error {
 public:
  using Error::Error;
};

template <class... Parts>
[[noreturn]] void usage_fail(Parts&&... parts) {
  throw UsageError(cat(std::forward<Parts>(parts)...));
}

// Refuses `--set KEY VALUE` (the value taken for a positional) with the spelling meant:
// `--set KEY=VALUE`. A UsageError naming both.
void check_set_spelling(const Args& args);

// The positionals of train: `key=value` (containing '=', not an existing file) are overrides,
// appended to `sets`; at most one other, the config file. Usage errors otherwise.
std::string split_config_and_overrides(const std::vector<std::string>& positionals,
                                       std::vector<std::string>& sets);

// Parses args against `desc` (+ --help) and `hidden` (options not shown in the help: the
// positionals' names); returns false if help was printed (usage, blank line, the options).
bool parse(const Args& args, const po::options_description& desc, po::variables_map& vm,
           std::ostream& out, const std::string& usage,
           const po::positional_options_description* positional = nullptr,
           const po::options_description* hidden = nullptr);

// A TOML value as printed for a person: a float in its shortest round-trip form ("0.003", not
// "0.0030000000000000001"), still a float ("1.0"); anything else unchanged.
std::string shortest_value_text(const std::string& toml_value);

// TOML text with every `key = value` line's floats (scalars and in flat arrays) printed as
// shortest_value_text does.
std::string shortest_numbers(const std::string& toml_text);

// An option name as a flag: eps_mode -> eps-mode.
std::string flag_name(const std::string& option);

// This program's path, for the processes a sweep starts ("" if /proc cannot tell).
std::string self_executable();

int cmd_demo(const Args& args, std::ostream& out);
int cmd_train(const Args& args, std::ostream& out);
int cmd_sweep(const Args& args, std::ostream& out);
int cmd_collect(const Args& args, std::ostream& out);
int cmd_table(const Args& args, std::ostream& out);
int cmd_plot(const Args& args, std::ostream& out);
int cmd_info(const Args& args, std::ostream& out);
int cmd_analyze(const Args& args, std::ostream& out);
int cmd_norms(const Args& args, std::ostream& out);
int cmd_apply(const Args& args, std::ostream& out);
int cmd_numerics(const Args& args, std::ostream& out);
int cmd_bench(const Args& args, std::ostream& out);

}  // namespace normlab::cli
