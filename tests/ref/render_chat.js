// Renders chats with a tokenizer_config.json's chat_template through
// @huggingface/jinja (the renderer transformers.js uses; the template
// written for new models calls no string methods where it and Python's
// Jinja differ), for the tests that check chat.c renders the same:
//
//   .deps/npm/node_modules/.bin/node tests/ref/render_chat.js TOKENIZER_CONFIG CHATS_JSON OUT
//
// CHATS_JSON is an array of message arrays; OUT gets a JSON array of
// [rendered without, rendered with the generation prompt] per chat.
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '../..');
const { Template } = require(path.join(root, '.deps/npm/node_modules/@huggingface/jinja'));

const [cfgPath, chatsPath, outPath] = process.argv.slice(2);
if (!outPath) throw new Error('usage: render_chat.js TOKENIZER_CONFIG CHATS_JSON OUT');
const cfg = JSON.parse(fs.readFileSync(cfgPath, 'utf8'));
const tpl = new Template(cfg.chat_template);
const chats = JSON.parse(fs.readFileSync(chatsPath, 'utf8'));
const out = chats.map((messages) => [false, true].map((add_generation_prompt) =>
  tpl.render({ messages, add_generation_prompt, bos_token: cfg.bos_token, eos_token: cfg.eos_token })));
fs.writeFileSync(outPath, JSON.stringify(out));
