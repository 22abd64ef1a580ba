// libFuzzer target for the GGUF parser: any byte string must parse or fail
// with a Status, never crash, hang or allocate without bound.
#include <cstddef>
#include <cstdint>

#include "gguf/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto f = tern::GgufFile::parse(data, size, "fuzz");
  if (f.ok()) {
    // Touch what a loader would read.
    const tern::GgufFile& g = **f;
    for (const auto& [k, v] : g.kvs()) {
      (void)g.get_int(k);
      (void)g.get_f32_array(k);
    }
    volatile uint8_t sink = 0;
    for (const auto& t : g.tensors())
      if (t.nbytes) sink = sink ^ t.data[0] ^ t.data[t.nbytes - 1];
  }
  return 0;
}
