#include "input.h"

#include <fstream>
#include <iostream>
#include <sstream>

namespace tern::cli {

bool read_input(const std::string& path, std::string& out) {
  std::stringstream ss;
  if (path == "-") {
    ss << std::cin.rdbuf();
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) return false;
    ss << in.rdbuf();
  }
  out = ss.str();
  return true;
}

}  // namespace tern::cli
