// backend/summarize.h — a compaction summariser (compact::Summarizer) over
// any Backend: one non-streamed chat request per summary, greedy, the
// summariser prompt as the user message. Blocks the calling thread until the
// backend answers, so call it from a worker thread (tern's stage threads),
// never from a backend's own thread.
#pragma once

#include <cstdint>

#include "backend/backend.h"
#include "compact/compactor.h"

namespace tern::opt {

// `backend` must outlive the returned function. The request's max_tokens is
// the compactor's room for the summary, at most `max_tokens`.
compact::Summarizer backend_summarizer(Backend& backend, int32_t max_tokens = 1024);

}  // namespace tern::opt
