// Locating the shared test assets (models, tokenizer vectors, references).
// One variable, TERN_ASSETS, defaults to ../shared relative to the source tree.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace tern::test {

inline std::string assets_dir() {
  if (const char* env = std::getenv("TERN_ASSETS"); env && *env) return env;
  return std::string(TERN_SOURCE_DIR) + "/../shared";
}

inline std::string asset(const std::string& rel) { return assets_dir() + "/" + rel; }

}  // namespace tern::test

// Skip the current test with a clear message when an asset is absent.
#define TERN_REQUIRE_ASSET(rel)                                                        \
  do {                                                                                 \
    if (!std::filesystem::exists(::tern::test::asset(rel)))                           \
      GTEST_SKIP() << "asset " << ::tern::test::asset(rel)                             \
                   << " not found; set TERN_ASSETS to the shared assets folder (see README)"; \
  } while (0)
