// chat_template_features_test: the Jinja-subset interpreter feature by feature
// (snippets with expected strings from Python jinja2 3.1.6 configured as HF
// transformers configures it), error reporting, limits on hostile templates,
// and the public helpers. The golden renders of real templates are in
// chat_template_test.cpp.
#include "template/chat_template.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "test_assets.h"

namespace {

using nlohmann::ordered_json;

constexpr int64_t kJul26_2024 = 1721995200;  // 2024-07-26 12:00:00 UTC

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ---- interpreter features, one snippet each ----

const char* kFeatureContext = R"({"name": "World", "items": [3, 1, 2], "d": {"b": 2, "a": 1, "c": {"x": [1, 2]}},
  "msgs": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}, {"role": "tool"}],
  "s": "  Hello, World  ", "n": null, "t": true, "f": 1.5, "words": ["b", "A", "a", "c"], "empty": [],
  "u": "héllo wörld", "num": -7})";

struct Snippet {
  const char* source;
  const char* expected;
};

const Snippet kSnippets[] = {
    {R"J({{ name }})J", R"J(World)J"},
    {R"J({{ 1 + 2 * 3 }})J", R"J(7)J"},
    {R"J({{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }})J", R"J(3 -4 1 2 3.5 1024)J"},
    {R"J({{ 1.0 }} {{ 0.1 + 0.2 }} {{ 1e20 }} {{ 1e-5 }} {{ 123.456 }} {{ 3.0 * 2 }})J", R"J(1.0 0.30000000000000004 1e+20 1e-05 123.456 6.0)J"},
    {R"J({{ 'a' ~ 1 ~ none ~ true }})J", R"J(a1NoneTrue)J"},
    {R"J({{ items }} {{ d }} {{ n }} {{ t }})J", R"J([3, 1, 2] {'b': 2, 'a': 1, 'c': {'x': [1, 2]}} None True)J"},
    {R"J({{ msgs[0] }})J", R"J({'role': 'user', 'content': 'hi'})J"},
    {R"J({% for x in items %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }}|{% endfor %})J", R"J(10TrueFalse33|21FalseFalse32|32FalseTrue31|)J"},
    {R"J({% for x in empty %}a{% else %}empty{% endfor %})J", R"J(empty)J"},
    {R"J({% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %})J", R"J(b=2;a=1;c={'x': [1, 2]};)J"},
    {R"J({% for k, v in d|items %}{{ k }}={{ v }};{% endfor %})J", R"J(b=2;a=1;c={'x': [1, 2]};)J"},
    {R"J({% for k in d %}{{ k }}{% endfor %})J", R"J(bac)J"},
    {R"J({% for x in items if x > 1 %}{{ x }}{{ loop.length }}{% endfor %})J", R"J(3222)J"},
    {R"J({% for x in items %}{% if x == 1 %}{% continue %}{% endif %}{% if x == 2 %}{% break %}{% endif %}{{ x }}{% endfor %})J", R"J(3)J"},
    {R"J({% for m in msgs %}{{ loop.previtem.role if loop.previtem else 'none' }}>{{ loop.nextitem.role if loop.nextitem is defined }}{% endfor %})J", R"J(none>assistantuser>toolassistant>)J"},
    {R"J({{ s|trim }}|{{ s|upper }}|{{ s|lower }}|{{ 'hello world-foo(bar'|title }}|{{ 'hELLO'|capitalize }})J", R"J(Hello, World|  HELLO, WORLD  |  hello, world  |Hello World-Foo(Bar|Hello)J"},
    {R"J({{ items|length }} {{ 'abc'|length }} {{ d|length }} {{ u|length }})J", R"J(3 3 3 11)J"},
    {R"J({{ d|tojson }} {{ d|tojson(indent=2) }} {{ items|tojson }} {{ 'x"y\n'|tojson }} {{ u|tojson }})J", R"J({"b": 2, "a": 1, "c": {"x": [1, 2]}} {
  "b": 2,
  "a": 1,
  "c": {
    "x": [
      1,
      2
    ]
  }
} [3, 1, 2] "x\"y\n" "héllo wörld")J"},
    {R"J({{ d|tojson(sort_keys=true) }})J", R"J({"a": 1, "b": 2, "c": {"x": [1, 2]}})J"},
    {R"J({{ msgs|tojson(indent=4) }})J", R"J([
    {
        "role": "user",
        "content": "hi"
    },
    {
        "role": "assistant",
        "content": "yo"
    },
    {
        "role": "tool"
    }
])J"},
    {R"J({{ [1.0, 2.5, none, true]|tojson }})J", R"J([1.0, 2.5, null, true])J"},
    {R"J({{ 'a-b-c'|replace('-', '+') }} {{ 'aaa'|replace('a', 'b', 2) }})J", R"J(a+b+c bba)J"},
    {R"J({{ items|join(', ') }} {{ words|join }})J", R"J(3, 1, 2 bAac)J"},
    {R"J({{ undefined_thing|default('dflt') }} {{ ''|default('x', true) }} {{ ''|default('x') }} {{ n|default('y') }})J", R"J(dflt x  None)J"},
    {R"J({{ items|first }} {{ items|last }} {{ 'abc'|first }})J", R"J(3 2 a)J"},
    {R"J({{ 'abc'|list }} {{ d|list }})J", R"J(['a', 'b', 'c'] ['b', 'a', 'c'])J"},
    {R"J({{ 5|string ~ 'x' }})J", R"J(5x)J"},
    {R"J({{ '42'|int + 1 }} {{ 'x'|int }} {{ 3.9|int }} {{ '3.5'|float }})J", R"J(43 0 3 3.5)J"},
    {R"J({{ num|abs }} {{ 2.567|round(2) }} {{ 2.5|round }} {{ 3.7|round(0, 'floor') }})J", R"J(7 2.57 2.0 3.0)J"},
    {R"J({{ msgs|map(attribute='role')|list }})J", R"J(['user', 'assistant', 'tool'])J"},
    {R"J({{ msgs|selectattr('role', 'equalto', 'user')|list }})J", R"J([{'role': 'user', 'content': 'hi'}])J"},
    {R"J({{ msgs|rejectattr('role', 'equalto', 'user')|map(attribute='role')|join(',') }})J", R"J(assistant,tool)J"},
    {R"J({{ msgs|selectattr('content', 'defined')|list|length }})J", R"J(2)J"},
    {R"J({{ items|select('odd')|list }} {{ items|reject('odd')|list }})J", R"J([3, 1] [2])J"},
    {R"J({{ words|unique|list }} {{ words|sort }} {{ words|sort(reverse=true) }} {{ words|sort(case_sensitive=true) }})J", R"J(['b', 'A', 'c'] ['A', 'a', 'b', 'c'] ['c', 'b', 'A', 'a'] ['A', 'a', 'b', 'c'])J"},
    {R"J({{ msgs|sort(attribute='role')|map(attribute='role')|list }})J", R"J(['assistant', 'tool', 'user'])J"},
    {R"J({{ 'a
b

c'|indent(2) }}|{{ 'a
b'|indent(2, first=true) }}|{{ 'a

b'|indent(2, blank=true) }})J", R"J(a
  b

  c|  a
  b|a
  
  b)J"},
    {R"J({{ x is defined }} {{ name is defined }} {{ n is none }} {{ name is string }} {{ d is mapping }} {{ items is iterable }} {{ name is iterable }} {{ 1 is number }} {{ t is boolean }} {{ t is true }} {{ t is false }} {{ items is sequence }})J", R"J(False True True True True True True True True True False True)J"},
    {R"J({{ 2 is even }} {{ 3 is odd }} {{ 9 is divisibleby 3 }} {{ 'a' is equalto 'a' }} {{ 1 is in [1,2] }} {{ x is not defined }})J", R"J(True True True True True True)J"},
    {R"J({{ s.strip() }}|{{ s.lstrip() }}|{{ s.rstrip() }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a b c'.split(' ', 1) }})J", R"J(Hello, World|Hello, World  |  Hello, World|['a', 'b', '', 'c']|['a', 'b']|['a', 'b c'])J"},
    {R"J({{ 'hello'.startswith('he') }} {{ 'hello'.endswith(('x', 'lo')) }} {{ 'Hi'.upper() }} {{ 'Hi'.lower() }} {{ 'ab'.replace('a', 'c') }} {{ 'hello world'.title() }})J", R"J(True True HI hi cb Hello World)J"},
    {R"J({{ '{} and {}'.format(1, 'b') }} {{ '{0}{name}'.format('x', name='y') }})J", R"J(1 and b xy)J"},
    {R"J({{ d.get('a') }} {{ d.get('zz', 'no') }} {{ d.get('zz') }} {{ d.keys()|list }} {{ d.values()|list }})J", R"J(1 no None ['b', 'a', 'c'] [2, 1, {'x': [1, 2]}])J"},
    {R"J({{ items[::-1] }} {{ items[1:] }} {{ items[:-1] }} {{ 'hello'[1:3] }} {{ 'hello'[::-1] }} {{ u[1:4] }} {{ items[-1] }} {{ 'abc'[-1] }} {{ items[0:10:2] }})J", R"J([2, 1, 3] [1, 2] [3, 1] el olleh éll 2 c [3, 2])J"},
    {R"J({{ 'a' in 'cat' }} {{ 'x' not in 'cat' }} {{ 2 in items }} {{ 'a' in d }} {{ 'z' not in d }})J", R"J(True True True True True)J"},
    {R"J({{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 == 1.0 }} {{ 'a' < 'b' }} {{ [1,2] < [1,3] }} {{ not 1 }} {{ 1 and 0 }} {{ 0 or 'x' }})J", R"J(True False True True True False 0 x)J"},
    {R"J({{ 'yes' if t else 'no' }} {{ 'yes' if n else 'no' }} {{ 'a' if false }}|)J", R"J(yes no |)J"},
    {R"J({{ [1, 'a', none] }} {{ {'k': 'v', 'n': 1} }} {{ ('a', 'b') }} {{ {'k': [1]}['k'][0] }})J", R"J([1, 'a', None] {'k': 'v', 'n': 1} ('a', 'b') 1)J"},
    {R"J({% set x = 5 %}{{ x }}{% set a, b = 1, 2 %}{{ a }}{{ b }})J", R"J(512)J"},
    {R"J({% set ns = namespace(c=0) %}{% for i in items %}{% set ns.c = ns.c + i %}{% endfor %}{{ ns.c }})J", R"J(6)J"},
    {R"J({% set x = 1 %}{% for i in items %}{% set x = i %}{% endfor %}{{ x }})J", R"J(1)J"},
    {R"J({% set block %}  inner {{ name }}  {% endset %}[{{ block }}])J", R"J([  inner World  ])J"},
    {R"J({% set b | upper %}abc{% endset %}{{ b }})J", R"J(ABC)J"},
    {R"J({% filter upper %}hello {{ name }}{% endfilter %})J", R"J(HELLO WORLD)J"},
    {R"J({% macro greet(who, greeting='Hello') %}{{ greeting }}, {{ who }}!{% endmacro %}{{ greet('A') }} {{ greet('B', 'Hi') }} {{ greet(greeting='Yo', who='C') }})J", R"J(Hello, A! Hi, B! Yo, C!)J"},
    {R"J({% macro rec(n) %}{% if n > 0 %}{{ n }}{{ rec(n - 1) }}{% endif %}{% endmacro %}{{ rec(5) }})J", R"J(54321)J"},
    {R"J({% macro wrap() %}<{{ caller() }}>{% endmacro %}{% call wrap() %}body {{ name }}{% endcall %})J", R"J(<body World>)J"},
    {R"J({% macro wrap2() %}<{{ caller(1, 2) }}>{% endmacro %}{% call(a, b) wrap2() %}{{ a + b }}{% endcall %})J", R"J(<3>)J"},
    {R"J(a
  {% if true %}
    b
  {% endif %}
c
)J", R"J(a
    b
c)J"},
    {R"J(a  {%- if true -%}  b  {%- endif -%}  c)J", R"J(abc)J"},
    {R"J(a {{- ' b ' -}} c)J", R"J(a b c)J"},
    {R"J(  {{ name }}
  {% if true %}x{% endif %}
)J", R"J(  World
x)J"},
    {R"J({# comment #}
x
  {# c2 #}
y)J", R"J(x
y)J"},
    {R"J({%+ if true %}
x{% endif +%}
y)J", R"J(x
y)J"},
    {R"J({% raw %}{{ not evaluated }}{% endraw %})J", R"J({{ not evaluated }})J"},
    {R"J(line1
line2

)J", R"J(line1
line2
)J"},
    {R"J({% with a = 1, b = 2 %}{{ a + b }}{% endwith %})J", R"J(3)J"},
    {R"J({{ range(3)|list }} {{ range(1, 7, 2)|list }} {{ '-' * 3 }} {{ [0] * 3 }})J", R"J([0, 1, 2] [1, 3, 5] --- [0, 0, 0])J"},
    {R"J({{ dict(a=1, b='x') }})J", R"J({'a': 1, 'b': 'x'})J"},
    {R"J({{ 'héllo'|upper }} {{ u|title }} {{ u.split(' ') }})J", R"J(HÉLLO Héllo Wörld ['héllo', 'wörld'])J"},
    {R"J({{ 'a' + 'b' }} {{ [1] + [2] }})J", R"J(ab [1, 2])J"},
    {R"J({{ msgs[0].role }} {{ msgs[0]['role'] }} {{ msgs.0.role }})J", R"J(user user user)J"},
    {R"J({{ d.c.x[1] }} {{ d['c']['x'] | length }})J", R"J(2 2)J"},
    {R"J({{ 'x'|safe + '<a>' }} {{ '<b>'|e }} {{ '<a>' ~ 'x'|safe }})J", R"J(x&lt;a&gt; &lt;b&gt; <a>x)J"},
    {R"J({%- for m in msgs -%}
  {{- m.role }}
{%- endfor %})J", R"J(userassistanttool)J"},
    {R"J({{ strftime_now('%d %b %Y') }})J", R"J(26 Jul 2024)J"},
    {R"J({{ name|center(11) }}|{{ items|sum }} {{ items|min }} {{ items|max }} {{ items|reverse|list }})J", R"J(   World   |6 1 3 [2, 1, 3])J"},
    {R"J({% for a, b in [('x', 1), ('y', 2)] %}{{ a }}{{ b }}{% endfor %})J", R"J(x1y2)J"},
    {R"J({{ loop is defined }})J", R"J(False)J"},
    {R"J({% if x is defined and x.y %}a{% else %}b{% endif %})J", R"J(b)J"},
    {R"J({{ 10 - 2 - 3 }} {{ 2 ** 3 ** 2 }} {{ -2 ** 2 }} {{ (1, ) }})J", R"J(5 64 4 (1,))J"},
    {R"J({{ 'abc' ~ 1.0 }} {{ 1 ~ 2 }} {{ '%s'|format('x') if false else 'fmt' }})J", R"J(abc1.0 12 fmt)J"},
    {R"J({{ items|map('string')|join('-') }})J", R"J(3-1-2)J"},
    {R"J({{ 'ab"c' }} {{ ['it\'s', "q\""] }})J", R"J(ab"c ["it's", 'q"'])J"},
    {R"J({{ msgs|selectattr('role', 'in', ['user', 'tool'])|list|length }})J", R"J(2)J"},
    {R"J({% set l = [] %}{% for i in items %}{% set l = l + [i * 2] %}{% endfor %}{{ l }})J", R"J([])J"},
    {R"J({{ {'a': 1}.items()|list }} {{ none is none }} {{ True }} {{ False }} {{ None }})J", R"J([('a', 1)] True True False None)J"},
    {R"J({{ 'A' if 'user' == 'user' and not false else 'B' }})J", R"J(A)J"},
    {R"J({{ 5 if 1 > 2 else 6 if 2 > 1 else 7 }})J", R"J(6)J"},
    {R"J({{ 7 is number and 7 is integer }} {{ 7.0 is float }} {{ '1' is number }})J", R"J(True True False)J"},
    {R"J({{ items|tojson(indent=2) is string }})J", R"J(True)J"},
};

class SnippetTest : public testing::TestWithParam<Snippet> {};

TEST_P(SnippetTest, MatchesJinja2) {
  auto tpl = tern::ChatTemplate::parse(GetParam().source);
  ASSERT_TRUE(tpl.ok()) << tpl.status().message();
  tern::RenderOptions options;
  options.now_unix = kJul26_2024;
  auto out = tpl->render(ordered_json::parse(kFeatureContext), options);
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(*out, GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(Features, SnippetTest, testing::ValuesIn(kSnippets));

// ---- errors ----

tern::Result<std::string> render(std::string_view source, const ordered_json& ctx = ordered_json::object(),
                                 tern::RenderOptions options = {}) {
  auto tpl = tern::ChatTemplate::parse(source);
  if (!tpl.ok()) return tpl.status();
  return tpl->render(ctx, options);
}

TEST(Errors, SyntaxErrorsReportLineAndColumn) {
  auto r = tern::ChatTemplate::parse("ok\n{% if x %}\n  {{ 1 + }}\n{% endif %}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), tern::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message().rfind("3:10:", 0), 0u) << r.status().message();

  for (const char* bad : {"{% if x %}never closed", "{{ unterminated", "{% endfor %}", "{% frobnicate %}",
                          "{{ 'open string }}", "{# open comment", "{% for x in %}{% endfor %}", "{{ a.(b) }}",
                          "{% break %}", "{{ x | }}", "{% macro m( %}{% endmacro %}"}) {
    auto p = tern::ChatTemplate::parse(bad);
    EXPECT_FALSE(p.ok()) << bad;
    if (!p.ok()) {
      EXPECT_EQ(p.status().code(), tern::StatusCode::kInvalidArgument) << bad;
      EXPECT_NE(p.status().message().find(':'), std::string::npos) << p.status().message();
    }
  }
}

TEST(Errors, EvaluationErrorsReportWhere) {
  auto r = render("line one\n  {{ missing + 1 }}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().rfind("2:14:", 0), 0u) << r.status().message();  // at the '+'

  EXPECT_NE(r.status().message().find("'missing' is undefined"), std::string::npos);

  EXPECT_FALSE(render("{{ 1 + 'a' }}").ok());
  EXPECT_FALSE(render("{{ x.y }}").ok());  // attribute of undefined
  EXPECT_FALSE(render("{{ 1 / 0 }}").ok());
  EXPECT_FALSE(render("{% for x in n %}{% endfor %}", {{"n", nullptr}}).ok());
  EXPECT_FALSE(render("{{ v | nosuchfilter }}", {{"v", 1}}).ok());
  EXPECT_FALSE(render("{{ v is nosuchtest }}", {{"v", 1}}).ok());
  EXPECT_FALSE(render("{{ f | tojson }}").ok());  // undefined is not JSON
  EXPECT_FALSE(render("{% set x = 5 %}{% set x.y = 1 %}").ok());  // only namespaces take attributes
  EXPECT_FALSE(render("{{ 9223372036854775807 + 1 }}").ok());
}

TEST(Errors, RaiseExceptionReturnsTheTemplatesMessage) {
  auto r = render("{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}",
                  {{"messages", {{{"role", "system"}, {"content", "x"}}}}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), tern::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "System role not supported");
}

// ---- hostile templates: errors, never crashes ----

TEST(Limits, DeepMacroRecursionIsAnError) {
  auto r = render("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), tern::StatusCode::kResourceExhausted) << r.status().message();
}

TEST(Limits, HugeLoopsExhaustTheBudget) {
  tern::RenderOptions options;
  options.max_steps = 200000;  // the default budget works the same, only slower in a debug build
  auto r = render("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
                  ordered_json::object(), options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), tern::StatusCode::kResourceExhausted);
}

TEST(Limits, OutputAndValueSizeAreBounded) {
  tern::RenderOptions small;
  small.max_output_bytes = 1000;
  auto r = render("{% for i in range(200) %}0123456789{% endfor %}", ordered_json::object(), small);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), tern::StatusCode::kResourceExhausted);
  auto big = render("{% set s = 'x' * 1000000000 %}");
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().code(), tern::StatusCode::kResourceExhausted);
  auto doubling = render("{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}");
  ASSERT_FALSE(doubling.ok());
  EXPECT_EQ(doubling.status().code(), tern::StatusCode::kResourceExhausted);
}

TEST(Limits, DeepNestingIsAParseError) {
  std::string parens = "{{ " + std::string(20000, '(') + "1" + std::string(20000, ')') + " }}";
  EXPECT_FALSE(tern::ChatTemplate::parse(parens).ok());
  std::string ifs;
  for (int i = 0; i < 10000; ++i) ifs += "{% if true %}";
  EXPECT_FALSE(tern::ChatTemplate::parse(ifs).ok());
  std::string nots = "{{ ";
  for (int i = 0; i < 20000; ++i) nots += "not ";
  EXPECT_FALSE(tern::ChatTemplate::parse(nots + "1 }}").ok());
  std::string chain = "{{ a";
  for (int i = 0; i < 20000; ++i) chain += ".b[0]|trim";
  EXPECT_FALSE(tern::ChatTemplate::parse(chain + " }}").ok());
  std::string sum = "{{ 1";
  for (int i = 0; i < 20000; ++i) sum += " + 1";
  EXPECT_FALSE(tern::ChatTemplate::parse(sum + " }}").ok());
}

TEST(Limits, RecursionThroughDeepExpressionsStopsBeforeTheStackDoes) {
  std::string deep = "n";
  for (int i = 0; i < 50; ++i) deep = "(" + deep + " + 0)";
  std::string src = "{% macro f(n) %}{{ f(" + deep + " + 1) }}{% endmacro %}{{ f(0) }}";
  tern::RenderOptions options;
  options.max_call_depth = 1000000;  // leave it to the stack guard
  auto r = render(src, ordered_json::object(), options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), tern::StatusCode::kResourceExhausted) << r.status().message();
}

TEST(Limits, DeeplyNestedInputIsRenderedOrRejected) {
  ordered_json deep = "leaf";
  for (int i = 0; i < 400; ++i) deep = ordered_json::array({deep});
  auto r = render("{{ v | tojson }}", {{"v", deep}});
  EXPECT_TRUE(r.ok()) << r.status().message();
}

// ---- public helpers ----

TEST(ApplyChatTemplate, DefaultTemplateIsChatML) {
  nlohmann::json messages = {{{"role", "user"}, {"content", "Hi"}}};
  auto r = tern::apply_chat_template(tern::default_chat_template(), messages, nullptr, true, "", "");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ApplyChatTemplate, TextPartsAreJoined) {
  nlohmann::json messages = {{{"role", "user"},
                              {"content", {{{"type", "text"}, {"text", "a"}}, {{"type", "text"}, {"text", "b"}}}}}};
  auto r = tern::apply_chat_template(tern::default_chat_template(), messages, nullptr, false, "", "");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, "<|im_start|>user\na\nb<|im_end|>\n");

  nlohmann::json image = {{{"role", "user"}, {"content", {{{"type", "image_url"}, {"image_url", "x"}}}}}};
  auto bad = tern::apply_chat_template(tern::default_chat_template(), image, nullptr, false, "", "");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), tern::StatusCode::kUnimplemented);
}

TEST(ApplyChatTemplate, StrftimeNowIsPinnable) {
  TERN_REQUIRE_ASSET("templates/meta-llama-Llama-3.2-3B-Instruct.jinja");
  std::string src = read_file(tern::test::asset("templates/meta-llama-Llama-3.2-3B-Instruct.jinja"));
  ordered_json messages = ordered_json::parse(R"([{"role": "user", "content": "Hi"}])");
  tern::RenderOptions options;
  options.now_unix = 0;  // 1970-01-01
  auto r = tern::apply_chat_template(src, messages, nullptr, true, "<|begin_of_text|>", "<|eot_id|>", options);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_NE(r->find("Today Date: 01 Jan 1970\n"), std::string::npos) << *r;
}

TEST(ChatTemplate, SortedJsonContextRendersToo) {
  auto tpl = tern::ChatTemplate::parse("{{ d | tojson }}");
  ASSERT_TRUE(tpl.ok());
  auto r = tpl->render(nlohmann::json{{"d", {{"b", 1}, {"a", 2}}}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, R"({"a": 2, "b": 1})");  // nlohmann::json orders keys; ordered_json keeps them
}

TEST(ChatTemplate, CopiesShareTheParsedTemplate) {
  auto tpl = tern::ChatTemplate::parse("{% macro m(x) %}[{{ x }}]{% endmacro %}{{ m(v) }}");
  ASSERT_TRUE(tpl.ok());
  tern::ChatTemplate copy = *tpl;
  EXPECT_EQ(copy.render(nlohmann::json{{"v", 1}}).value(), "[1]");
  EXPECT_EQ(tpl->render(nlohmann::json{{"v", 2}}).value(), "[2]");
}

}  // namespace
