// tern info MODEL — what is inside a GGUF file.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <map>

#include "commands.h"
#include "gguf/gguf.h"

namespace tern::cli {

namespace {
std::string value_summary(const GgufValue& v) {
  switch (v.type) {
    case GgufType::STRING: {
      std::string s(v.str.substr(0, 80));
      for (char& c : s) if (c == '\n') c = ' ';
      return "\"" + s + (v.str.size() > 80 ? "...\"" : "\"");
    }
    case GgufType::ARRAY: return "[" + std::string(gguf_type_name(v.elem_type)) + " x " + std::to_string(v.count) + "]";
    case GgufType::F32: case GgufType::F64: return std::to_string(v.f);
    case GgufType::BOOL: return v.u ? "true" : "false";
    default: return std::to_string(v.i);
  }
}
}  // namespace

int info_main(int argc, char** argv) {
  CLI::App app{"Show a GGUF model's architecture, hyper-parameters, tensors and tokenizer", "tern info"};
  std::string path;
  bool all_tensors = false;
  app.add_option("model", path, "GGUF file")->required();
  app.add_flag("--tensors", all_tensors, "list every tensor");
  CLI11_PARSE(app, argc, argv);

  auto file = GgufFile::open(path);
  if (!file.ok()) {
    std::fprintf(stderr, "tern: %s\n", file.status().message().c_str());
    return 1;
  }
  const GgufFile& f = **file;
  std::printf("file:         %s (GGUF v%u, %.1f MiB)\n", path.c_str(), f.version(), f.file_size() / 1048576.0);
  std::printf("metadata:\n");
  for (const auto& [k, v] : f.kvs()) {
    if (k == "tokenizer.chat_template") {
      std::printf("  %-40s present (%zu bytes)\n", k.c_str(), v.str.size());
      continue;
    }
    std::printf("  %-40s %s\n", k.c_str(), value_summary(v).c_str());
  }
  if (!f.find("tokenizer.chat_template")) std::printf("  %-40s absent\n", "tokenizer.chat_template");
  std::map<std::string, std::pair<int, uint64_t>> by_type;
  uint64_t params = 0, bytes = 0;
  for (const auto& t : f.tensors()) {
    auto& e = by_type[std::string(type_traits(t.type).name)];
    e.first++;
    e.second += t.nbytes;
    params += static_cast<uint64_t>(t.n_elements());
    bytes += t.nbytes;
  }
  std::printf("tensors:      %zu, %.2f M parameters, %.1f MiB\n", f.tensors().size(), params / 1e6, bytes / 1048576.0);
  for (const auto& [name, e] : by_type)
    std::printf("  %-8s %4d tensors  %9.1f MiB\n", name.c_str(), e.first, e.second / 1048576.0);
  if (all_tensors) {
    for (const auto& t : f.tensors()) {
      std::printf("  %-32s %-6s [", t.name.c_str(), std::string(type_traits(t.type).name).c_str());
      for (int d = 0; d < t.n_dims; ++d) std::printf(d ? ", %lld" : "%lld", static_cast<long long>(t.ne[d]));
      std::printf("]\n");
    }
  }
  return 0;
}

}  // namespace tern::cli
