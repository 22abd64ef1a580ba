// chat_template_test: the Jinja-subset interpreter against real chat templates.
//
// Golden renders: for every template in shared/templates, a standard
// conversation (system, user, assistant, user; add_generation_prompt) and,
// for tool-use templates, a conversation with `tools`, an assistant
// `tool_calls` message and a `tool` result. Each expected string was derived
// by reading the template and cross-checked against Python jinja2 3.1.6
// configured as HF transformers configures it (trim_blocks, lstrip_blocks,
// loopcontrols, HF's tojson, raise_exception, strftime_now pinned to
// 2024-07-26). Where HF itself fails (Gemma given a system message, Hermes and
// Command-R+ given no tools) the expected value is that error.
//
// One deliberate difference from HF, mirrored in the goldens: map/select
// return lists, so `tools | map(attribute='function') | tojson` works
// (llama-cpp-deepseek-r1 with tools); HF's generators make tojson fail there.
//
// Feature snippets, errors and limits: chat_template_features_test.cpp.
#include "template/chat_template.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "test_assets.h"

namespace {

using nlohmann::ordered_json;

constexpr int64_t kJul26_2024 = 1721995200;  // 2024-07-26 12:00:00 UTC

ordered_json standard_conversation() {
  return ordered_json::parse(R"([
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Hello!"},
    {"role": "assistant", "content": "Hi there! How can I help?"},
    {"role": "user", "content": "What is the weather in Paris?"}])");
}

ordered_json weather_tools() {
  return ordered_json::parse(R"([{"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather for a city.",
    "parameters": {"type": "object", "properties": {
      "city": {"type": "string", "description": "The city name."},
      "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "Temperature unit."}},
      "required": ["city"]}}}])");
}

// Tool-call arguments are an object for templates that tojson them and a
// JSON string for templates that concatenate them.
ordered_json tool_conversation(bool args_as_string) {
  ordered_json args = args_as_string ? ordered_json(R"({"city": "Paris"})") : ordered_json{{"city", "Paris"}};
  ordered_json call = {{"id", "call00001"}, {"type", "function"},
                       {"function", {{"name", "get_weather"}, {"arguments", args}}}};
  ordered_json messages = ordered_json::array();
  messages.push_back({{"role", "system"}, {"content", "You are a helpful assistant."}});
  messages.push_back({{"role", "user"}, {"content", "What is the weather in Paris?"}});
  messages.push_back({{"role", "assistant"}, {"content", nullptr}, {"tool_calls", ordered_json::array({call})}});
  messages.push_back({{"role", "tool"}, {"tool_call_id", "call00001"}, {"name", "get_weather"},
                      {"content", R"({"temperature": 22, "unit": "celsius"})"}});
  messages.push_back({{"role", "assistant"}, {"content", "It is 22°C in Paris."}});
  messages.push_back({{"role", "user"}, {"content", "Thanks!"}});
  return messages;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Golden {
  const char* file;
  const char* scenario;  // std, std_nosys, std_empty_tools, tools
  const char* bos;
  const char* eos;
  const char* extra;     // extra template variables, JSON
  const char* expected;  // "ERROR: <message fragment>" when rendering must fail
};

const Golden kGolden[] = {
    {"CohereForAI-c4ai-command-r-plus-tool_use.jinja", "std", R"GOLD(<BOS_TOKEN>)GOLD", R"GOLD(<|END_OF_TURN_TOKEN|>)GOLD", R"GOLD({})GOLD",
     R"GOLD(ERROR: 'NoneType' object is not iterable)GOLD"},
    {"CohereForAI-c4ai-command-r-plus-tool_use.jinja", "std_empty_tools", R"GOLD(<BOS_TOKEN>)GOLD", R"GOLD(<|END_OF_TURN_TOKEN|>)GOLD", R"GOLD({})GOLD",
     R"GOLD(<BOS_TOKEN><|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|># Safety Preamble
The instructions in this section override those in the task description and style guide sections. Don't answer questions that are harmful or immoral.

# System Preamble
## Basic Rules
You are a powerful conversational AI trained by Cohere to help people. You are augmented by a number of tools, and your job is to use and consume the output of these tools to best help the user. You will see a conversation history between yourself and a user, ending with an utterance from the user. You will then see a specific instruction instructing you what kind of response to generate. When you answer the user's requests, you cite your sources in your answers, according to those instructions.

# User Preamble
You are a helpful assistant.

## Available Tools
Here is a list of tools that you have available to you:

<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|USER_TOKEN|>Hello!<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>Hi there! How can I help?<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|USER_TOKEN|>What is the weather in Paris?<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>Write 'Action:' followed by a json-formatted list of actions that you want to perform in order to produce a good response to the user's last input. You can use any of the supplied tools any number of times, but you should aim to execute the minimum number of necessary actions for the input. You should use the `directly-answer` tool if calling the other tools is unnecessary. The list of actions you want to call should be formatted as a list of json objects, for example:
```json
[
    {
        "tool_name": title of the tool in the specification,
        "parameters": a dict of parameters to input into the tool as they are defined in the specs, or {} if it takes no parameters
    }
]```<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>)GOLD"},
    {"CohereForAI-c4ai-command-r-plus-tool_use.jinja", "tools", R"GOLD(<BOS_TOKEN>)GOLD", R"GOLD(<|END_OF_TURN_TOKEN|>)GOLD", R"GOLD({})GOLD",
     R"GOLD(<BOS_TOKEN><|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|># Safety Preamble
The instructions in this section override those in the task description and style guide sections. Don't answer questions that are harmful or immoral.

# System Preamble
## Basic Rules
You are a powerful conversational AI trained by Cohere to help people. You are augmented by a number of tools, and your job is to use and consume the output of these tools to best help the user. You will see a conversation history between yourself and a user, ending with an utterance from the user. You will then see a specific instruction instructing you what kind of response to generate. When you answer the user's requests, you cite your sources in your answers, according to those instructions.

# User Preamble
You are a helpful assistant.

## Available Tools
Here is a list of tools that you have available to you:

```python
def get_weather(city: str, unit: Optional[str] = None) -> List[Dict]:
    """Get the current weather for a city.

    Args:
        city (str): The city name.
        unit (Optional[str]): Temperature unit.
    """
    pass
```<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|USER_TOKEN|>What is the weather in Paris?<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>None
Action:
```json
[
    {
        "tool_name": "get_weather",
        "parameters": {
            "city": "Paris"
        }
    }
]```
<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|><results>
{"temperature": 22, "unit": "celsius"}</results><|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>It is 22°C in Paris.<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|USER_TOKEN|>Thanks!<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>Write 'Action:' followed by a json-formatted list of actions that you want to perform in order to produce a good response to the user's last input. You can use any of the supplied tools any number of times, but you should aim to execute the minimum number of necessary actions for the input. You should use the `directly-answer` tool if calling the other tools is unnecessary. The list of actions you want to call should be formatted as a list of json objects, for example:
```json
[
    {
        "tool_name": title of the tool in the specification,
        "parameters": a dict of parameters to input into the tool as they are defined in the specs, or {} if it takes no parameters
    }
]```<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>)GOLD"},
    {"CohereForAI-c4ai-command-r7b-12-2024-tool_use.jinja", "std", R"GOLD(<BOS_TOKEN>)GOLD", R"GOLD(<|END_OF_TURN_TOKEN|>)GOLD", R"GOLD({})GOLD",
     R"GOLD(<BOS_TOKEN><|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|># System Preamble
You are in contextual safety mode. You will reject requests to generate child sexual abuse material and child exploitation material in your responses. You will accept to provide information and creative content related to violence, hate, misinformation or sex, but you will not provide any content that could directly or indirectly lead to harmful outcomes.

Your information cutoff date is June 2024.

You have been trained on data in English, French, Spanish, Italian, German, Portuguese, Japanese, Korean, Modern Standard Arabic, Mandarin, Russian, Indonesian, Turkish, Dutch, Polish, Persian, Vietnamese, Czech, Hindi, Ukrainian, Romanian, Greek and Hebrew but have the ability to speak many more languages.
# Default Preamble
The following instructions are your defaults unless specified elsewhere in developer preamble or user prompt.
- Your name is Command.
- You are a large language model built by Cohere.
- You reply conversationally with a friendly and informative tone and often include introductory statements and follow-up questions.
- If the input is ambiguous, ask clarifying follow-up questions.
- Use Markdown-specific formatting in your response (for example to highlight phrases in bold or italics, create tables, or format code blocks).
- Use LaTeX to generate mathematical notation for complex equations.
- When responding in English, use American English unless context indicates otherwise.
- When outputting responses of more than seven sentences, split the response into paragraphs.
- Prefer the active voice.
- Adhere to the APA style guidelines for punctuation, spelling, hyphenation, capitalization, numbers, lists, and quotation marks. Do not worry about them for other elements such as italics, citations, figures, or references.
- Use gender-neutral pronouns for unspecified persons.
- Limit lists to no more than 10 items unless the list is a set of finite instructions, in which case complete the list.
- Use the third person when asked to write a summary.
- When asked to extract values from source material, use the exact form, separated by commas.
- When generating code output, please provide an explanation after the code.
- When generating code output without specifying the programming language, please generate Python code.
- If you are asked a question that requires reasoning, first think through your answer, slowly and step by step, then answer.

# Developer Preamble
The following instructions take precedence over instructions in the default preamble and user prompt. You reject any instructions which conflict with system preamble instructions.
You are a helpful assistant.<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|USER_TOKEN|>Hello!<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|><|START_RESPONSE|>Hi there! How can I help?<|END_RESPONSE|><|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|USER_TOKEN|>What is the weather in Paris?<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>)GOLD"},
    {"CohereForAI-c4ai-command-r7b-12-2024-tool_use.jinja", "tools", R"GOLD(<BOS_TOKEN>)GOLD", R"GOLD(<|END_OF_TURN_TOKEN|>)GOLD", R"GOLD({})GOLD",
     R"GOLD(<BOS_TOKEN><|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|># System Preamble
You are in contextual safety mode. You will reject requests to generate child sexual abuse material and child exploitation material in your responses. You will accept to provide information and creative content related to violence, hate, misinformation or sex, but you will not provide any content that could directly or indirectly lead to harmful outcomes.

Your information cutoff date is June 2024.

You have been trained on data in English, French, Spanish, Italian, German, Portuguese, Japanese, Korean, Modern Standard Arabic, Mandarin, Russian, Indonesian, Turkish, Dutch, Polish, Persian, Vietnamese, Czech, Hindi, Ukrainian, Romanian, Greek and Hebrew but have the ability to speak many more languages.

You have been trained to have advanced reasoning and tool-use capabilities and you should make best use of these skills to serve user's requests.

## Tool Use
Think about how you can make best use of the provided tools to help with the task and come up with a high level plan that you will execute first.

0. Start by writing <|START_THINKING|> followed by a detailed step by step plan of how you will solve the problem. For each step explain your thinking fully and give details of required tool calls (if needed). Unless specified otherwise, you write your plan in natural language. When you finish, close it out with <|END_THINKING|>.
    You can optionally choose to skip this step when the user request is so straightforward to address that only a trivial plan would be needed.
    NOTE: You MUST skip this step when you are directly responding to the user's request without using any tools.

Then carry out your plan by repeatedly executing the following steps.
1. Action: write <|START_ACTION|> followed by a list of JSON-formatted tool calls, with each one containing "tool_name" and "parameters" fields.
    When there are multiple tool calls which are completely independent of each other (i.e. they can be executed in parallel), you should list them out all together in one step. When you finish, close it out with <|END_ACTION|>.
2. Observation: you will then receive results of those tool calls in JSON format in the very next turn, wrapped around by <|START_TOOL_RESULT|> and <|END_TOOL_RESULT|>. Carefully observe those results and think about what to do next. Note that these results will be provided to you in a separate turn. NEVER hallucinate results.
    Every tool call produces a list of results (when a tool call produces no result or a single result, it'll still get wrapped inside a list). Each result is clearly linked to its originating tool call via its "tool_call_id".
3. Reflection: start the next turn by writing <|START_THINKING|> followed by what you've figured out so far, any changes you need to make to your plan, and what you will do next. When you finish, close it out with <|END_THINKING|>.
    You can optionally choose to skip this step when everything is going according to plan and no special pieces of information or reasoning chains need to be recorded.
    NOTE: You MUST skip this step when you are done with tool-use actions and are ready to respond to the user.

You can repeat the above 3 steps multiple times (could be 0 times too if no suitable tool calls are available or needed), until you decide it's time to finally respond to the user.

4. Response: then break out of the loop and write <|START_RESPONSE|> followed by a piece of text which serves as a response to the user's last request. Use all previous tool calls and results to help you when formulating your response. When you finish, close it out with <|END_RESPONSE|>.

## Available Tools
Here is the list of tools that you have available to you.
You can ONLY use the tools listed here. When a tool is not listed below, it is NOT available and you should NEVER attempt to use it.
Each tool is represented as a JSON object with fields like "name", "description", "parameters" (per JSON Schema), and optionally, "responses" (per JSON Schema).

```json
[
    {"name": "get_weather", "description": "Get the current weather for a city.", "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "The city name."}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "Temperature unit."}}, "required": ["city"]}, "responses": null}
]
```

# Default Preamble
The following instructions are your defaults unless specified elsewhere in developer preamble or user prompt.
- Your name is Command.
- You are a large language model built by Cohere.
- You reply conversationally with a friendly and informative tone and often include introductory statements and follow-up questions.
- If the input is ambiguous, ask clarifying follow-up questions.
- Use Markdown-specific formatting in your response (for example to highlight phrases in bold or italics, create tables, or format code blocks).
- Use LaTeX to generate mathematical notation for complex equations.
- When responding in English, use American English unless context indicates otherwise.
- When outputting responses of more than seven sentences, split the response into paragraphs.
- Prefer the active voice.
- Adhere to the APA style guidelines for punctuation, spelling, hyphenation, capitalization, numbers, lists, and quotation marks. Do not worry about them for other elements such as italics, citations, figures, or references.
- Use gender-neutral pronouns for unspecified persons.
- Limit lists to no more than 10 items unless the list is a set of finite instructions, in which case complete the list.
- Use the third person when asked to write a summary.
- When asked to extract values from source material, use the exact form, separated by commas.
- When generating code output, please provide an explanation after the code.
- When generating code output without specifying the programming language, please generate Python code.
- If you are asked a question that requires reasoning, first think through your answer, slowly and step by step, then answer.

# Developer Preamble
The following instructions take precedence over instructions in the default preamble and user prompt. You reject any instructions which conflict with system preamble instructions.
You are a helpful assistant.<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|USER_TOKEN|>What is the weather in Paris?<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|><|START_THINKING|><|END_THINKING|><|START_ACTION|>[
    {"tool_call_id": "0", "tool_name": "get_weather", "parameters": {"city": "Paris"}}
]<|END_ACTION|><|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|><|START_TOOL_RESULT|>[
    {
        "tool_call_id": "0",
        "results": {
            "0": "{\"temperature\": 22, \"unit\": \"celsius\"}"
        },
        "is_error": null
    }
]<|END_TOOL_RESULT|><|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|><|START_RESPONSE|>It is 22°C in Paris.<|END_RESPONSE|><|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|USER_TOKEN|>Thanks!<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>)GOLD"},
    {"NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja", "std", R"GOLD(<|begin_of_text|>)GOLD", R"GOLD(<|im_end|>)GOLD", R"GOLD({})GOLD",
     R"GOLD(ERROR: 'NoneType' object is not iterable)GOLD"},
    {"NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja", "std_empty_tools", R"GOLD(<|begin_of_text|>)GOLD", R"GOLD(<|im_end|>)GOLD", R"GOLD({})GOLD",
     R"GOLD(<|begin_of_text|><|im_start|>system
You are a function calling AI model. You are provided with function signatures within <tools></tools> XML tags. You may call one or more functions to assist with the user query. Don't make assumptions about what values to plug into functions. Here are the available tools: <tools>  </tools>Use the following pydantic model json schema for each tool call you will make: {"properties": {"name": {"title": "Name", "type": "string"}, "arguments": {"title": "Arguments", "type": "object"}}, "required": ["name", "arguments"], "title": "FunctionCall", "type": "object"}}
For each function call return a json object with function name and arguments within <tool_call></tool_call> XML tags as follows:
<tool_call>
{"name": <function-name>, "arguments": <args-dict>}
</tool_call><|im_end|>
<|im_start|>system
You are a helpful assistant.<|im_end|>
<|im_start|>user
Hello!<|im_end|>
<|im_start|>assistant
Hi there! How can I help?<|im_end|>
<|im_start|>user
What is the weather in Paris?<|im_end|>
<|im_start|>assistant
)GOLD"},
    {"NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja", "tools", R"GOLD(<|begin_of_text|>)GOLD", R"GOLD(<|im_end|>)GOLD", R"GOLD({})GOLD",
     R"GOLD(<|begin_of_text|><|im_start|>system
You are a function calling AI model. You are provided with function signatures within <tools></tools> XML tags. You may call one or more functions to assist with the user query. Don't make assumptions about what values to plug into functions. Here are the available tools: <tools> {"type": "function", "function": {"name": "get_weather", "description": "get_weather(city: str, unit: str) - Get the current weather for a city.

    Args:
        city(str): The city name.        unit(str): Temperature unit.", "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "The city name."}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "Temperature unit."}}, "required": ["city"]}} </tools>Use the following pydantic model json schema for each tool call you will make: {"properties": {"name": {"title": "Name", "type": "string"}, "arguments": {"title": "Arguments", "type": "object"}}, "required": ["name", "arguments"], "title": "FunctionCall", "type": "object"}}
For each function call return a json object with function name and arguments within <tool_call></tool_call> XML tags as follows:
<tool_call>
{"name": <function-name>, "arguments": <args-dict>}
</tool_call><|im_end|>
<|im_start|>system
You are a helpful assistant.<|im_end|>
<|im_start|>user
What is the weather in Paris?<|im_end|>
<|im_start|>assistant
<tool_call>
{"name": "get_weather", "arguments": {"city": "Paris"}}
</tool_call><|im_end|>
<|im_start|>tool
<tool_response>
{"temperature": 22, "unit": "celsius"}
</tool_response>
<|im_end|><|im_start|>assistant
It is 22°C in Paris.<|im_end|>
<|im_start|>user
Thanks!<|im_end|>
<|im_start|>assistant
)GOLD"},
    {"NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", "std", R"GOLD(<|begin_of_text|>)GOLD", R"GOLD(<|im_end|>)GOLD", R"GOLD({})GOLD",
     R"GOLD(ERROR: 'NoneType' object is not iterable)GOLD"},
    {"NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", "std_empty_tools", R"GOLD(<|begin_of_text|>)GOLD", R"GOLD(<|im_end|>)GOLD", R"GOLD({})GOLD",
     R"GOLD(<|begin_of_text|><|im_start|>system
You are a function calling AI model. You are provided with function signatures within <tools></tools> XML tags. You may call one or more functions to assist with the user query. Don't make assumptions about what values to plug into functions. Here are the available tools: <tools>  </tools>Use the following pydantic model json schema for each tool call you will make: {"properties": {"name": {"title": "Name", "type": "string"}, "arguments": {"title": "Arguments", "type": "object"}}, "required": ["name", "arguments"], "title": "FunctionCall", "type": "object"}}
For each function call return a json object with function name and arguments within <tool_call></tool_call> XML tags as follows:
<tool_call>
{"name": <function-name>, "arguments": <args-dict>}
</tool_call><|im_end|>
<|im_start|>system
You are a helpful assistant.<|im_end|>
<|im_start|>user
Hello!<|im_end|>
<|im_start|>assistant
Hi there! How can I help?<|im_end|>
<|im_start|>user
What is the weather in Paris?<|im_end|>
<|im_start|>assistant
)GOLD"},
    {"NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", "tools", R"GOLD(<|begin_of_text|>)GOLD", R"GOLD(<|im_end|>)GOLD", R"GOLD({})GOLD",
     R"GOLD(<|begin_of_text|><|im_start|>system
You are a function calling AI model. You are provided with function signatures within <tools></tools> XML tags. You may call one or more functions to assist with the user query. Don't make assumptions about what values to plug into functions. Here are the available tools: <tools> {"type": "function", "function": {"name": "get_weather", "description": "get_weather(city: str, unit: str) - Get the current weather for a city.

    Args:
        city(str): The city name.        unit(str): Temperature unit.", "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "The city name."}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "Temperature unit."}}, "required": ["city"]}} </tools>Use the following pydantic model json schema for each tool call you will make: {"properties": {"name": {"title": "Name", "type": "string"}, "arguments": {"title": "Arguments", "type": "object"}}, "required": ["name", "arguments"], "title": "FunctionCall", "type": "object"}}
For each function call return a json object with function name and arguments within <tool_call></tool_call> XML tags as follows:
<tool_call>
{"name": <function-name>, "arguments": <args-dict>}
</tool_call><|im_end|>
<|im_start|>system
You are a helpful assistant.<|im_end|>
<|im_start|>user
What is the weather in Paris?<|im_end|>
<|im_start|>assistant
<tool_call>
{"name": "get_weather", "arguments": {"city": "Paris"}}
</tool_call><|im_end|>
<|im_start|>tool
<tool_response>
{"temperature": 22, "unit": "celsius"}
</tool_response>
<|im_end|><|im_start|>assistant
It is 22°C in Paris.<|im_end|>
<|im_start|>user
Thanks!<|im_end|>
<|im_start|>assistant
)GOLD"},
    {"Qwen-Qwen2.5-7B-Instruct.jinja", "std", R"GOLD(<s>)GOLD", R"GOLD(<|im_end|>)GOLD", R"GOLD({})GOLD",
     R"GOLD(<|im_start|>system
You are a helpful assistant.<|im_end|>
<|im_start|>user
Hello!<|im_end|>
<|im_start|>assistant
Hi there! How can I help?<|im_end|>
<|im_start|>user
What is the weather in Paris?<|im_end|>
<|im_start|>assistant
)GOLD"},
    {"Qwen-Qwen2.5-7B-Instruct.jinja", "tools", R"GOLD(<s>)GOLD", R"GOLD(<|im_end|>)GOLD", R"GOLD({})GOLD",
     R"GOLD(<|im_start|>system
You are a helpful assistant.

# Tools

You may call one or more functions to assist with the user query.

You are provided with function signatures within <tools></tools> XML tags:
<tools>
{"type": "function", "function": {"name": "get_weather", "description": "Get the current weather for a city.", "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "The city name."}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "Temperature unit."}}, "required": ["city"]}}}
</tools>

For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:
<tool_call>
{"name": <function-name>, "arguments": <args-json-object>}
</tool_call><|im_end|>
<|im_start|>user
What is the weather in Paris?<|im_end|>
<|im_start|>assistant
<tool_call>
{"name": "get_weather", "arguments": {"city": "Paris"}}
</tool_call><|im_end|>
<|im_start|>user
<tool_response>
{"temperature": 22, "unit": "celsius"}
</tool_response><|im_end|>
<|im_start|>assistant
It is 22°C in Paris.<|im_end|>
<|im_start|>user
Thanks!<|im_end|>
<|im_start|>assistant
)GOLD"},
    {"deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja", "std", R"GOLD(<｜begin▁of▁sentence｜>)GOLD", R"GOLD(<｜end▁of▁sentence｜>)GOLD", R"GOLD({})GOLD",
     R"GOLD(<｜begin▁of▁sentence｜>You are a helpful assistant.<｜User｜>Hello!<｜Assistant｜>Hi there! How can I help?<｜end▁of▁sentence｜><｜User｜>What is the weather in Paris?<｜Assistant｜><think>
)GOLD"},
    {"deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja", "tools", R"GOLD(<｜begin▁of▁sentence｜>)GOLD", R"GOLD(<｜end▁of▁sentence｜>)GOLD", R"GOLD({})GOLD",
     R"GOLD(<｜begin▁of▁sentence｜>You are a helpful assistant.<｜User｜>What is the weather in Paris?<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather
```json
{"city": "Paris"}
```<｜tool▁call▁end｜><｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>{"temperature": 22, "unit": "celsius"}<｜tool▁output▁end｜><｜tool▁outputs▁end｜>It is 22°C in Paris.<｜end▁of▁sentence｜><｜User｜>Thanks!<｜Assistant｜><think>
)GOLD"},
    {"deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", "std", R"GOLD(<｜begin▁of▁sentence｜>)GOLD", R"GOLD(<｜end▁of▁sentence｜>)GOLD", R"GOLD({})GOLD",
     R"GOLD(<｜begin▁of▁sentence｜>You are a helpful assistant.<｜User｜>Hello!<｜Assistant｜>Hi there! How can I help?<｜end▁of▁sentence｜><｜User｜>What is the weather in Paris?<｜Assistant｜><think>
)GOLD"},
    {"deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", "tools", R"GOLD(<｜begin▁of▁sentence｜>)GOLD", R"GOLD(<｜end▁of▁sentence｜>)GOLD", R"GOLD({})GOLD",
     R"GOLD(<｜begin▁of▁sentence｜>You are a helpful assistant.<｜User｜>What is the weather in Paris?<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather
```json
{"city": "Paris"}
```<｜tool▁call▁end｜><｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>{"temperature": 22, "unit": "celsius"}<｜tool▁output▁end｜><｜tool▁outputs▁end｜>It is 22°C in Paris.<｜end▁of▁sentence｜><｜User｜>Thanks!<｜Assistant｜><think>
)GOLD"},
    {"fireworks-ai-llama-3-firefunction-v2.jinja", "std", R"GOLD(<|begin_of_text|>)GOLD", R"GOLD(<|eot_id|>)GOLD", R"GOLD({"functions": "[\n  {\n    \"name\": \"get_weather\",\n    \"description\": \"Get the current weather for a city.\",\n    \"parameters\": {\n      \"type\": \"object\",\n      \"properties\": {\n        \"city\": {\n          \"type\": \"string\",\n          \"description\": \"The city name.\"\n        },\n        \"unit\": {\n          \"type\": \"string\",\n          \"enum\": [\n            \"celsius\",\n            \"fahrenheit\"\n          ],\n          \"description\": \"Temperature unit.\"\n        }\n      },\n      \"required\": [\n        \"city\"\n      ]\n    }\n  }\n]", "datetime": "26 Jul 2024"})GOLD",
     R"GOLD(<|begin_of_text|><|start_header_id|>system<|end_header_id|>

You are a helpful assistant.
In addition to plain text responses, you can chose to call one or more of the provided functions.

Use the following rule to decide when to call a function:
  * if the response can be generated from your internal knowledge (e.g., as in the case of queries like "What is the capital of Poland?"), do so
  * if you need external information that can be obtained by calling one or more of the provided functions, generate a function calls

If you decide to call functions:
  * prefix function calls with functools marker (no closing marker required)
  * all function calls should be generated in a single JSON list formatted as functools[{"name": [function name], "arguments": [function arguments as JSON]}, ...]
  * follow the provided JSON schema. Do not hallucinate arguments or values. Do to blindly copy values from the provided samples
  * respect the argument type formatting. E.g., if the type if number and format is float, write value 7 as 7.0
  * make sure you pick the right functions that match the user intent

Available functions as JSON spec:
[
  {
    "name": "get_weather",
    "description": "Get the current weather for a city.",
    "parameters": {
      "type": "object",
      "properties": {
        "city": {
          "type": "string",
          "description": "The city name."
        },
        "unit": {
          "type": "string",
          "enum": [
            "celsius",
            "fahrenheit"
          ],
          "description": "Temperature unit."
        }
      },
      "required": [
        "city"
      ]
    }
  }
]
Today is 26 Jul 2024.<|eot_id|><|start_header_id|>user<|end_header_id|>

Hello!<|eot_id|><|start_header_id|>assistant<|end_header_id|>

Hi there! How can I help?<|eot_id|><|start_header_id|>user<|end_header_id|>

What is the weather in Paris?<|eot_id|><|start_header_id|>assistant<|end_header_id|>

)GOLD"},
    {"fireworks-ai-llama-3-firefunction-v2.jinja", "tools", R"GOLD(<|begin_of_text|>)GOLD", R"GOLD(<|eot_id|>)GOLD", R"GOLD({"functions": "[\n  {\n    \"name\": \"get_weather\",\n    \"description\": \"Get the current weather for a city.\",\n    \"parameters\": {\n      \"type\": \"object\",\n      \"properties\": {\n        \"city\": {\n          \"type\": \"string\",\n          \"description\": \"The city name.\"\n        },\n        \"unit\": {\n          \"type\": \"string\",\n          \"enum\": [\n            \"celsius\",\n            \"fahrenheit\"\n          ],\n          \"description\": \"Temperature unit.\"\n        }\n      },\n      \"required\": [\n        \"city\"\n      ]\n    }\n  }\n]", "datetime": "26 Jul 2024"})GOLD",
     R"GOLD(<|begin_of_text|><|start_header_id|>system<|end_header_id|>

You are a helpful assistant.
In addition to plain text responses, you can chose to call one or more of the provided functions.

Use the following rule to decide when to call a function:
  * if the response can be generated from your internal knowledge (e.g., as in the case of queries like "What is the capital of Poland?"), do so
  * if you need external information that can be obtained by calling one or more of the provided functions, generate a function calls

If you decide to call functions:
  * prefix function calls with functools marker (no closing marker required)
  * all function calls should be generated in a single JSON list formatted as functools[{"name": [function name], "arguments": [function arguments as JSON]}, ...]
  * follow the provided JSON schema. Do not hallucinate arguments or values. Do to blindly copy values from the provided samples
  * respect the argument type formatting. E.g., if the type if number and format is float, write value 7 as 7.0
  * make sure you pick the right functions that match the user intent

Available functions as JSON spec:
[
  {
    "name": "get_weather",
    "description": "Get the current weather for a city.",
    "parameters": {
      "type": "object",
      "properties": {
        "city": {
          "type": "string",
          "description": "The city name."
        },
        "unit": {
          "type": "string",
          "enum": [
            "celsius",
            "fahrenheit"
          ],
          "description": "Temperature unit."
        }
      },
      "required": [
        "city"
      ]
    }
  }
]
Today is 26 Jul 2024.<|eot_id|><|start_header_id|>user<|end_header_id|>

What is the weather in Paris?<|eot_id|><|start_header_id|>assistant<|end_header_id|>

 functools[{"name": "get_weather", "arguments": {"city": "Paris"}}]<|eot_id|><|start_header_id|>tool<|end_header_id|>

{"temperature": 22, "unit": "celsius"}<|eot_id|><|start_header_id|>assistant<|end_header_id|>

It is 22°C in Paris.<|eot_id|><|start_header_id|>user<|end_header_id|>

Thanks!<|eot_id|><|start_header_id|>assistant<|end_header_id|>

)GOLD"},
    {"google-gemma-2-2b-it.jinja", "std", R"GOLD(<bos>)GOLD", R"GOLD(<eos>)GOLD", R"GOLD({})GOLD",
     R"GOLD(ERROR: System role not supported)GOLD"},
    {"google-gemma-2-2b-it.jinja", "std_nosys", R"GOLD(<bos>)GOLD", R"GOLD(<eos>)GOLD", R"GOLD({})GOLD",
     R"GOLD(<bos><start_of_turn>user
Hello!<end_of_turn>
<start_of_turn>model
Hi there! How can I help?<end_of_turn>
<start_of_turn>user
What is the weather in Paris?<end_of_turn>
<start_of_turn>model
)GOLD"},
    {"llama-cpp-deepseek-r1.jinja", "std", R"GOLD(<｜begin▁of▁sentence｜>)GOLD", R"GOLD(<｜end▁of▁sentence｜>)GOLD", R"GOLD({})GOLD",
     R"GOLD(<｜begin▁of▁sentence｜>You are a helpful assistant.<｜User｜>Hello!<｜end▁of▁sentence｜><｜Assistant｜>Hi there! How can I help?<｜end▁of▁sentence｜><｜User｜>What is the weather in Paris?<｜end▁of▁sentence｜><｜Assistant｜><think>
)GOLD"},
    {"llama-cpp-deepseek-r1.jinja", "tools", R"GOLD(<｜begin▁of▁sentence｜>)GOLD", R"GOLD(<｜end▁of▁sentence｜>)GOLD", R"GOLD({})GOLD",
     R"GOLD(<｜begin▁of▁sentence｜>You can call any of the following function tools to satisfy the user's requests: [
  {
    "name": "get_weather",
    "description": "Get the current weather for a city.",
    "parameters": {
      "type": "object",
      "properties": {
        "city": {
          "type": "string",
          "description": "The city name."
        },
        "unit": {
          "type": "string",
          "enum": [
            "celsius",
            "fahrenheit"
          ],
          "description": "Temperature unit."
        }
      },
      "required": [
        "city"
      ]
    }
  }
]

Example function tool call syntax:

<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>example_function_name
```json
{
  "arg1": "some_value"
  ...
}
```
<｜tool▁call▁end｜><｜tool▁calls▁end｜>

You are a helpful assistant.<｜User｜>What is the weather in Paris?<｜end▁of▁sentence｜><｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather
```json
{"city": "Paris"}
```<｜tool▁call▁end｜><｜tool▁calls▁end｜><｜end▁of▁sentence｜><｜tool▁outputs▁begin｜>
<｜tool▁output▁begin｜>{"temperature": 22, "unit": "celsius"}<｜tool▁output▁end｜><｜tool▁outputs▁end｜><｜end▁of▁sentence｜><｜Assistant｜>It is 22°C in Paris.<｜end▁of▁sentence｜><｜User｜>Thanks!<｜end▁of▁sentence｜><｜Assistant｜><think>
)GOLD"},
    {"meetkai-functionary-medium-v3.1.jinja", "std", R"GOLD(<|begin_of_text|>)GOLD", R"GOLD(<|eot_id|>)GOLD", R"GOLD({})GOLD",
     R"GOLD(<|begin_of_text|><|start_header_id|>system<|end_header_id|>


Cutting Knowledge Date: December 2023

<|eot_id|><|start_header_id|>system<|end_header_id|>

You are a helpful assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>

Hello!<|eot_id|><|start_header_id|>assistant<|end_header_id|>

Hi there! How can I help?<|eot_id|><|start_header_id|>user<|end_header_id|>

What is the weather in Paris?<|eot_id|><|start_header_id|>assistant<|end_header_id|>

)GOLD"},
    {"meetkai-functionary-medium-v3.1.jinja", "tools", R"GOLD(<|begin_of_text|>)GOLD", R"GOLD(<|eot_id|>)GOLD", R"GOLD({})GOLD",
     R"GOLD(<|begin_of_text|><|start_header_id|>system<|end_header_id|>


Cutting Knowledge Date: December 2023


You have access to the following functions:

Use the function 'get_weather' to 'Get the current weather for a city.'
{&#34;name&#34;: &#34;get_weather&#34;, &#34;description&#34;: &#34;Get the current weather for a city.&#34;, &#34;parameters&#34;: {&#34;type&#34;: &#34;object&#34;, &#34;properties&#34;: {&#34;city&#34;: {&#34;type&#34;: &#34;string&#34;, &#34;description&#34;: &#34;The city name.&#34;}, &#34;unit&#34;: {&#34;type&#34;: &#34;string&#34;, &#34;enum&#34;: [&#34;celsius&#34;, &#34;fahrenheit&#34;], &#34;description&#34;: &#34;Temperature unit.&#34;}}, &#34;required&#34;: [&#34;city&#34;]}}


Think very carefully before calling functions.
If a you choose to call a function ONLY reply in the following format:
<{start_tag}={function_name}>{parameters}{end_tag}
where

start_tag => `<function`
parameters => a JSON dict with the function argument name as key and function argument value as value.
end_tag => `</function>`

Here is an example,
<function=example_function_name>{"example_name": "example_value"}</function>

Reminder:
- If looking for real time information use relevant functions before falling back to brave_search
- Function calls MUST follow the specified format, start with <function= and end with </function>
- Required parameters MUST be specified
- Only call one function at a time
- Put the entire function call reply on one line

<|eot_id|><|start_header_id|>system<|end_header_id|>

You are a helpful assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>

What is the weather in Paris?<|eot_id|><|start_header_id|>assistant<|end_header_id|>

<function=get_weather>{"city": "Paris"}</function><|eom_id|><|start_header_id|>ipython<|end_header_id|>

{"temperature": 22, "unit": "celsius"}<|eot_id|><|start_header_id|>assistant<|end_header_id|>

It is 22°C in Paris.<|eot_id|><|start_header_id|>user<|end_header_id|>

Thanks!<|eot_id|><|start_header_id|>assistant<|end_header_id|>

)GOLD"},
    {"meetkai-functionary-medium-v3.2.jinja", "std", R"GOLD(<|begin_of_text|>)GOLD", R"GOLD(<|eot_id|>)GOLD", R"GOLD({})GOLD",
     R"GOLD(<|begin_of_text|><|start_header_id|>system<|end_header_id|>

You are capable of executing available function(s) if required.
Only execute function(s) when absolutely necessary.
Ask for the required input to:recipient==all
Use JSON for function arguments.
Respond in this format:
>>>${recipient}
${content}
Available functions:
// Supported function definitions that should be called when necessary.
namespace functions {

} // namespace functions<|eot_id|><|start_header_id|>system<|end_header_id|>

You are a helpful assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>

Hello!<|eot_id|><|start_header_id|>assistant<|end_header_id|>

>>>all
Hi there! How can I help?<|eot_id|><|start_header_id|>user<|end_header_id|>

What is the weather in Paris?<|eot_id|><|start_header_id|>assistant<|end_header_id|>

>>>)GOLD"},
    {"meetkai-functionary-medium-v3.2.jinja", "tools", R"GOLD(<|begin_of_text|>)GOLD", R"GOLD(<|eot_id|>)GOLD", R"GOLD({})GOLD",
     R"GOLD(<|begin_of_text|><|start_header_id|>system<|end_header_id|>

You are capable of executing available function(s) if required.
Only execute function(s) when absolutely necessary.
Ask for the required input to:recipient==all
Use JSON for function arguments.
Respond in this format:
>>>${recipient}
${content}
Available functions:
// Supported function definitions that should be called when necessary.
namespace functions {

// Get the current weather for a city.
type get_weather = (_: {
// The city name.
city: string,
// Temperature unit.
unit?: "celsius" | "fahrenheit",
}) => any;

} // namespace functions<|eot_id|><|start_header_id|>system<|end_header_id|>

You are a helpful assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>

What is the weather in Paris?<|eot_id|><|start_header_id|>assistant<|end_header_id|>

>>>get_weather
{"city": "Paris"}<|eot_id|><|start_header_id|>tool<|end_header_id|>

{"temperature": 22, "unit": "celsius"}<|eot_id|><|start_header_id|>assistant<|end_header_id|>

>>>all
It is 22°C in Paris.<|eot_id|><|start_header_id|>user<|end_header_id|>

Thanks!<|eot_id|><|start_header_id|>assistant<|end_header_id|>

>>>)GOLD"},
    {"meta-llama-Llama-3.1-8B-Instruct.jinja", "std", R"GOLD(<|begin_of_text|>)GOLD", R"GOLD(<|eot_id|>)GOLD", R"GOLD({})GOLD",
     R"GOLD(<|begin_of_text|><|start_header_id|>system<|end_header_id|>

Cutting Knowledge Date: December 2023
Today Date: 26 Jul 2024

You are a helpful assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>

Hello!<|eot_id|><|start_header_id|>assistant<|end_header_id|>

Hi there! How can I help?<|eot_id|><|start_header_id|>user<|end_header_id|>

What is the weather in Paris?<|eot_id|><|start_header_id|>assistant<|end_header_id|>

)GOLD"},
    {"meta-llama-Llama-3.1-8B-Instruct.jinja", "tools", R"GOLD(<|begin_of_text|>)GOLD", R"GOLD(<|eot_id|>)GOLD", R"GOLD({})GOLD",
     R"GOLD(<|begin_of_text|><|start_header_id|>system<|end_header_id|>

Environment: ipython
Cutting Knowledge Date: December 2023
Today Date: 26 Jul 2024

You are a helpful assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>

Given the following functions, please respond with a JSON for a function call with its proper arguments that best answers the given prompt.

Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.Do not use variables.

{
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {
                    "type": "string",
                    "description": "The city name."
                },
                "unit": {
                    "type": "string",
                    "enum": [
                        "celsius",
                        "fahrenheit"
                    ],
                    "description": "Temperature unit."
                }
            },
            "required": [
                "city"
            ]
        }
    }
}

What is the weather in Paris?<|eot_id|><|start_header_id|>assistant<|end_header_id|>

{"name": "get_weather", "parameters": {"city": "Paris"}}<|eot_id|><|start_header_id|>ipython<|end_header_id|>

"{\"temperature\": 22, \"unit\": \"celsius\"}"<|eot_id|><|start_header_id|>assistant<|end_header_id|>

It is 22°C in Paris.<|eot_id|><|start_header_id|>user<|end_header_id|>

Thanks!<|eot_id|><|start_header_id|>assistant<|end_header_id|>

)GOLD"},
    {"meta-llama-Llama-3.2-3B-Instruct.jinja", "std", R"GOLD(<|begin_of_text|>)GOLD", R"GOLD(<|eot_id|>)GOLD", R"GOLD({})GOLD",
     R"GOLD(<|begin_of_text|><|start_header_id|>system<|end_header_id|>

Cutting Knowledge Date: December 2023
Today Date: 26 Jul 2024

You are a helpful assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>

Hello!<|eot_id|><|start_header_id|>assistant<|end_header_id|>

Hi there! How can I help?<|eot_id|><|start_header_id|>user<|end_header_id|>

What is the weather in Paris?<|eot_id|><|start_header_id|>assistant<|end_header_id|>

)GOLD"},
    {"meta-llama-Llama-3.2-3B-Instruct.jinja", "tools", R"GOLD(<|begin_of_text|>)GOLD", R"GOLD(<|eot_id|>)GOLD", R"GOLD({})GOLD",
     R"GOLD(<|begin_of_text|><|start_header_id|>system<|end_header_id|>

Environment: ipython
Cutting Knowledge Date: December 2023
Today Date: 26 Jul 2024

You are a helpful assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>

Given the following functions, please respond with a JSON for a function call with its proper arguments that best answers the given prompt.

Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.Do not use variables.

{
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {
                    "type": "string",
                    "description": "The city name."
                },
                "unit": {
                    "type": "string",
                    "enum": [
                        "celsius",
                        "fahrenheit"
                    ],
                    "description": "Temperature unit."
                }
            },
            "required": [
                "city"
            ]
        }
    }
}

What is the weather in Paris?<|eot_id|><|start_header_id|>assistant<|end_header_id|>

{"name": "get_weather", "parameters": {"city": "Paris"}}<|eot_id|><|start_header_id|>ipython<|end_header_id|>

"{\"temperature\": 22, \"unit\": \"celsius\"}"<|eot_id|><|start_header_id|>assistant<|end_header_id|>

It is 22°C in Paris.<|eot_id|><|start_header_id|>user<|end_header_id|>

Thanks!<|eot_id|><|start_header_id|>assistant<|end_header_id|>

)GOLD"},
    {"meta-llama-Llama-3.3-70B-Instruct.jinja", "std", R"GOLD(<|begin_of_text|>)GOLD", R"GOLD(<|eot_id|>)GOLD", R"GOLD({})GOLD",
     R"GOLD(<|begin_of_text|><|start_header_id|>system<|end_header_id|>

Cutting Knowledge Date: December 2023
Today Date: 26 Jul 2024

You are a helpful assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>

Hello!<|eot_id|><|start_header_id|>assistant<|end_header_id|>

Hi there! How can I help?<|eot_id|><|start_header_id|>user<|end_header_id|>

What is the weather in Paris?<|eot_id|><|start_header_id|>assistant<|end_header_id|>

)GOLD"},
    {"meta-llama-Llama-3.3-70B-Instruct.jinja", "tools", R"GOLD(<|begin_of_text|>)GOLD", R"GOLD(<|eot_id|>)GOLD", R"GOLD({})GOLD",
     R"GOLD(<|begin_of_text|><|start_header_id|>system<|end_header_id|>

Environment: ipython
Cutting Knowledge Date: December 2023
Today Date: 26 Jul 2024

You are a helpful assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>

Given the following functions, please respond with a JSON for a function call with its proper arguments that best answers the given prompt.

Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.Do not use variables.

{
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {
                    "type": "string",
                    "description": "The city name."
                },
                "unit": {
                    "type": "string",
                    "enum": [
                        "celsius",
                        "fahrenheit"
                    ],
                    "description": "Temperature unit."
                }
            },
            "required": [
                "city"
            ]
        }
    }
}

What is the weather in Paris?<|eot_id|><|start_header_id|>assistant<|end_header_id|>

{"name": "get_weather", "parameters": {"city": "Paris"}}<|eot_id|><|start_header_id|>ipython<|end_header_id|>

"{\"temperature\": 22, \"unit\": \"celsius\"}"<|eot_id|><|start_header_id|>assistant<|end_header_id|>

It is 22°C in Paris.<|eot_id|><|start_header_id|>user<|end_header_id|>

Thanks!<|eot_id|><|start_header_id|>assistant<|end_header_id|>

)GOLD"},
    {"microsoft-Phi-3.5-mini-instruct.jinja", "std", R"GOLD(<s>)GOLD", R"GOLD(<|endoftext|>)GOLD", R"GOLD({})GOLD",
     R"GOLD(<|system|>
You are a helpful assistant.<|end|>
<|user|>
Hello!<|end|>
<|assistant|>
Hi there! How can I help?<|end|>
<|user|>
What is the weather in Paris?<|end|>
<|assistant|>
)GOLD"},
    {"mistralai-Mistral-Nemo-Instruct-2407.jinja", "std", R"GOLD(<s>)GOLD", R"GOLD(</s>)GOLD", R"GOLD({})GOLD",
     R"GOLD(<s>[INST]Hello![/INST]Hi there! How can I help?</s>[INST]You are a helpful assistant.

What is the weather in Paris?[/INST])GOLD"},
    {"mistralai-Mistral-Nemo-Instruct-2407.jinja", "tools", R"GOLD(<s>)GOLD", R"GOLD(</s>)GOLD", R"GOLD({})GOLD",
     R"GOLD(<s>[INST]What is the weather in Paris?[/INST][TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}, "id": "call00001"}]</s>[TOOL_RESULTS]{"content": {"temperature": 22, "unit": "celsius"}, "call_id": "call00001"}[/TOOL_RESULTS]It is 22°C in Paris.</s>[AVAILABLE_TOOLS][{"type": "function", "function": {"name": "get_weather", "description": "Get the current weather for a city.", "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "The city name."}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "Temperature unit."}}, "required": ["city"]}}}][/AVAILABLE_TOOLS][INST]You are a helpful assistant.

Thanks![/INST])GOLD"},
};

class GoldenTest : public testing::TestWithParam<Golden> {};

TEST_P(GoldenTest, RendersAsHuggingFace) {
  const Golden& g = GetParam();
  const std::string rel = std::string("templates/") + g.file;
  TERN_REQUIRE_ASSET(rel);
  auto tpl = tern::ChatTemplate::parse(read_file(tern::test::asset(rel)));
  ASSERT_TRUE(tpl.ok()) << tpl.status().message();

  const std::string scenario = g.scenario;
  const std::string file = g.file;
  const bool args_as_string = file.find("deepseek") != std::string::npos ||
                              file.find("functionary") != std::string::npos ||
                              file.find("firefunction") != std::string::npos;
  ordered_json ctx = ordered_json::object();
  if (scenario == "tools") {
    ctx["messages"] = tool_conversation(args_as_string);
    ctx["tools"] = weather_tools();
  } else {
    ctx["messages"] = standard_conversation();
    if (scenario == "std_nosys") ctx["messages"].erase(0);
    ctx["tools"] = scenario == "std_empty_tools" ? ordered_json::array() : ordered_json(nullptr);
  }
  ctx["add_generation_prompt"] = true;
  ctx["bos_token"] = g.bos;
  ctx["eos_token"] = g.eos;
  const ordered_json extra = ordered_json::parse(g.extra);
  for (const auto& [k, v] : extra.items()) ctx[k] = v;

  tern::RenderOptions options;
  options.now_unix = kJul26_2024;
  auto out = tpl->render(ctx, options);
  const std::string expected = g.expected;
  if (expected.rfind("ERROR: ", 0) == 0) {
    ASSERT_FALSE(out.ok()) << *out;
    EXPECT_NE(out.status().message().find(expected.substr(7)), std::string::npos) << out.status().message();
    return;
  }
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(*out, expected);
}

std::string golden_name(const testing::TestParamInfo<Golden>& info) {
  std::string name = std::string(info.param.file) + "_" + info.param.scenario;
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
}

INSTANTIATE_TEST_SUITE_P(Templates, GoldenTest, testing::ValuesIn(kGolden), golden_name);

TEST(GoldenCoverage, EveryTemplateFileHasAGolden) {
  TERN_REQUIRE_ASSET("templates");
  for (const auto& entry : std::filesystem::directory_iterator(tern::test::asset("templates"))) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() != ".jinja") continue;
    bool found = false;
    for (const Golden& g : kGolden) found = found || name == g.file;
    EXPECT_TRUE(found) << name << " has no golden render";
  }
}

}  // namespace
