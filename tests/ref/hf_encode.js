// Encodes strings with Hugging Face's tokenizers (its Rust library, through
// the official Node binding) for the tests of a tokenizer we wrote:
//
//   .deps/npm/node_modules/.bin/node tests/ref/hf_encode.js TOKENIZER_JSON STRINGS_JSON OUT
//
// STRINGS_JSON is an array of strings; OUT gets one line per string:
// {"ids": [...], "decoded": "..."} (ids without added special tokens, as
// tok_encode gives them; decoded keeps special tokens).
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '../..');
const { Tokenizer } = require(path.join(root, '.deps/npm/node_modules/tokenizers'));

async function main() {
  const [tokPath, stringsPath, outPath] = process.argv.slice(2);
  if (!outPath) throw new Error('usage: hf_encode.js TOKENIZER_JSON STRINGS_JSON OUT');
  const tk = Tokenizer.fromFile(tokPath);
  const strings = JSON.parse(fs.readFileSync(stringsPath, 'utf8'));
  const lines = [];
  for (const s of strings) {
    const ids = (await tk.encode(s, null, { addSpecialTokens: false })).getIds();
    const decoded = await tk.decode(ids, false);
    lines.push(JSON.stringify({ ids, decoded }));
  }
  fs.writeFileSync(outPath, lines.join('\n') + '\n');
}

main().catch((err) => {
  console.error(String(err && err.stack ? err.stack : err));
  process.exit(1);
});
