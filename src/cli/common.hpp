// What every subcommand file of the command line shares: option parsing with --help, flag names,
// this program's path, and the subcommands themselves (one file each: cli/<name>.cpp), which the
// dispatcher (cli.cpp) lists. A subcommand parses and validates its options, calls the library
// and prints what it did; returns the exit status, throws an Error for a one-line message.
#pragma once

#include <boost/program_options.hpp>

#include <ostream>
#include <string>
#include <vector>

namespace normlab::cli {

namespace po = boost::program_options;

using Args = std::vector<std::string>;  // the arguments after the subcommand's name

// Parses args against `desc` (+ --help); returns false if help was printed (usage, blank line,
// the options).
bool parse(const Args& args, const po::options_description& desc, po::variables_map& vm,
           std::ostream& out, const std::string& usage,
           const po::positional_options_description* positional = nullptr);

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
