// The input of a CLI command: a file, or stdin when the path is "-".
#pragma once

#include <string>

namespace tern::cli {

// Reads all of `path` ("-": stdin) into `out`; false when the file cannot
// be opened (the caller says so in its own words).
bool read_input(const std::string& path, std::string& out);

}  // namespace tern::cli
