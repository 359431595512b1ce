// Prints io/run_schema.hpp's names as JSON (io::schema::schema_json) for tests/python/test_schema.py,
// which holds the Python reader's names to them.
#include <iostream>

#include "io/run_schema.hpp"

int main() {
  std::cout << normlab::io::schema::schema_json() << "\n";
  return 0;
}
