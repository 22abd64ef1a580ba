#include "template/chat_template.h"

#include <gtest/gtest.h>

TEST(ChatTemplate, Smoke) {
  auto t = tern::ChatTemplate::parse("Hello {{ name }}!");
  ASSERT_TRUE(t.ok()) << t.status().message();
  auto r = t->render(nlohmann::json{{"name", "x"}});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, "Hello x!");
}
