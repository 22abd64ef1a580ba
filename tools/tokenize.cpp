// tern tokenize -m MODEL [--no-bos] TEXT — print token ids separated by spaces.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "commands.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

namespace tern::cli {

int tokenize_main(int argc, char** argv) {
  CLI::App app{"Print the token ids of a text", "tern tokenize"};
  std::string path, text;
  bool no_bos = false, special = false, pieces = false;
  app.add_option("-m,--model", path, "GGUF model or vocab file")->required();
  app.add_option("text", text, "text to tokenize")->required();
  app.add_flag("--no-bos", no_bos, "do not add BOS/EOS even if the model's metadata asks for it");
  app.add_flag("--parse-special", special, "recognise special-token text such as <|im_start|>");
  app.add_flag("--pieces", pieces, "print id:piece pairs, one per line");
  CLI11_PARSE(app, argc, argv);
  // Only the vocabulary is needed: vocab-only GGUFs work too.
  auto file = GgufFile::open(path);
  if (!file.ok()) {
    std::fprintf(stderr, "tern: %s\n", file.status().message().c_str());
    return 1;
  }
  auto tok = Tokenizer::from_gguf(**file);
  if (!tok.ok()) {
    std::fprintf(stderr, "tern: %s: %s\n", path.c_str(), tok.status().message().c_str());
    return 1;
  }
  const std::vector<TokenId> ids = (*tok)->encode(text, !no_bos, special);
  for (size_t i = 0; i < ids.size(); ++i) {
    if (pieces) {
      std::printf("%d:%s\n", ids[i], (*tok)->token_to_piece(ids[i]).c_str());
    } else {
      std::printf(i ? " %d" : "%d", ids[i]);
    }
  }
  if (!pieces) std::printf("\n");
  return 0;
}

}  // namespace tern::cli
