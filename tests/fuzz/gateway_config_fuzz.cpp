// libFuzzer target for the gateway's YAML configuration (opt/config): any
// text must give a configuration or a line-numbered error, never crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/gateway_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string yaml(reinterpret_cast<const char*>(data), size);
  (void)tern::opt::parse_gateway_config(yaml, "fuzz.yaml");
  return 0;
}
