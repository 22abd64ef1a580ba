// libFuzzer target for the TOON decoder (opt/toon): any text must decode or
// fail with a Status (strict and lenient), and whatever decodes must survive
// encode -> decode -> encode unchanged (the encoder's output is valid TOON
// and a fixed point).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "toon/toon.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (bool strict : {true, false}) {
    tern::toon::DecodeOptions o;
    o.strict = strict;
    auto value = tern::toon::decode(text, o);
    if (!value.ok()) continue;
    const std::string once = tern::toon::encode(*value);
    auto back = tern::toon::decode(once, o);  // lenient input may carry invalid UTF-8 through
    if (!back.ok()) __builtin_trap();                   // the encoder wrote invalid TOON
    if (tern::toon::encode(*back) != once) __builtin_trap();  // not a fixed point
  }
  return 0;
}
