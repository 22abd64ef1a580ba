#include "backend/summarize.h"

#include <algorithm>
#include <future>
#include <memory>
#include <string>

namespace tern::opt {

compact::Summarizer backend_summarizer(Backend& backend, int32_t max_tokens) {
  return [&backend, max_tokens](const std::string& prompt, int64_t room) -> Result<std::string> {
    BackendRequest req;
    req.kind = ApiKind::kChat;
    req.body = {{"messages", json::array({{{"role", "user"}, {"content", prompt}}})},
                {"max_tokens", std::max<int64_t>(1, std::min<int64_t>(max_tokens, room))},
                {"temperature", 0}};
    struct Reply {
      std::string text;
      std::promise<Status> done;
    };
    auto reply = std::make_shared<Reply>();
    std::future<Status> done = reply->done.get_future();
    backend.start(std::move(req), [reply](BackendEvent ev) {
      reply->text += ev.text;
      if (ev.finished) reply->done.set_value(ev.error);
    });
    const Status st = done.get();
    if (!st.ok()) return Status(st.code(), "summariser '" + backend.name() + "': " + st.message());
    if (reply->text.empty()) return Internal("summariser '" + backend.name() + "' answered nothing");
    return reply->text;
  };
}

}  // namespace tern::opt
