// Runs the built `tern` binary (TERN_BIN) as a user would, for the tools
// tests: its exit code and stdout.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace tern::test {

struct Ran {
  int exit_code = -1;
  std::string out;  // stdout
};

// `tern <args>`; stderr goes to `err_file` when given (else the test log).
inline Ran run_tern(const std::string& args, const std::string& err_file = "") {
  std::string cmd = std::string(TERN_BIN) + " " + args;
  if (!err_file.empty()) cmd += " 2>" + err_file;
  Ran r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int st = pclose(p);
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

}  // namespace tern::test
