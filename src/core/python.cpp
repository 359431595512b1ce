#include "core/python.hpp"

#include <cstdlib>

#include "core/error.hpp"

namespace normlab {

namespace {

std::string single_quoted(const std::string& who, const std::string& text) {
  if (text.find('\'') != std::string::npos) fail(who, ": argument with a quote: ", text);
  return "'" + text + "'";
}

}  // namespace

std::string python_command(const std::string& who, const std::vector<std::string>& args,
                           const std::string& pythonpath) {
  std::string command = pythonpath.empty()
                            ? std::string("/usr/bin/python3")
                            : cat("PYTHONPATH=", single_quoted(who, pythonpath),
                                  " PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3");
  for (const auto& a : args) {
    command += ' ';  // appended piecewise: GCC 12 warns falsely (-Wrestrict) on " " + string
    command += single_quoted(who, a);
  }
  return command;
}

int run_python(const std::string& who, const std::vector<std::string>& args,
               const std::string& pythonpath) {
  return std::system(python_command(who, args, pythonpath).c_str());
}

}  // namespace normlab
