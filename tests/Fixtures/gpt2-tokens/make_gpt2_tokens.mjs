// Writes gpt2_tokens.json: a varied corpus and the ids that tiktoken's "gpt2" encoding gives each text.
// tiktoken's npm package is OpenAI's Rust tokenizer compiled to WebAssembly, so its pre-tokenizer is the
// reference one (Unicode letters and digits outside the BMP included). Run from this folder:
//   npm install --no-save tiktoken@1.0.22 && node make_gpt2_tokens.mjs
import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";

const { get_encoding } = createRequire(import.meta.url)("tiktoken");
const gpt2 = get_encoding("gpt2");

const cases = [
  ["prose", "The quick brown fox jumps over the lazy dog. It was the best of times, it was the worst of times; " +
    "it was the age of wisdom, it was the age of foolishness.\n\nA second paragraph follows, with \"quotes\", " +
    "(parentheses), [brackets] and a dash — like this – or that.\n"],
  ["code", "public static int Add(int a, int b)\n{\n    return a + b; // sum\n}\n\tif (x != null && y >= 0) { z++; }\n" +
    "def f(xs):\n    return [x ** 2 for x in xs if x % 2 == 0]\n#include <stdio.h>\nint main(void){printf(\"%d\\n\",42);}\n"],
  ["numbers", "3.14159 2.71828 1,000,000 1_000_000 2026-12-01 12:34:56 0x1F 1e-9 -42 +7 123456789012345678901234567890 ½ ² ٣ ४"],
  ["spaces", "a  b   c    d     e \t f\t\tg   \t  h    "],
  ["leading spaces", "     start and trailing     "],
  ["tabs", "\t\tindented\n\t\t\tdeeper\t\n\t"],
  ["newlines", "line one\nline two\r\nline three\n\n\nafter blank lines\n \n  \n"],
  ["only whitespace", " \t\n \u00a0\u3000\u2028\u0085  "],
  ["contractions", "I'm you're we've they'll he'd it's don't can't 'tis O'Neil ''quoted'' I'M YOU'RE 'S 'T rock'n'roll x's 's"],
  ["accents", "café naïve Zürich São Paulo façade résumé Ångström Dvořák Łódź crème brûlée cafe\u0301 n\u0303"],
  ["emoji", "😀 👍🏽 👨‍👩‍👧 🇫🇷 ❤️ 🙂🙃 I'm 😀's fine 🎉🎉🎉"],
  ["cjk", "日本語のテキストです。中文字符，标点。한국어 문장입니다. 漢字かなカナ"],
  ["scripts", "Привет, мир! Γειά σου κόσμε. مرحبا بالعالم. नमस्ते दुनिया। สวัสดีชาวโลก שלום עולם"],
  ["astral letter contractions", "𝐨'm 𝐀𝐁'll 𝐜'd 𐐷's 𠀀've 𝒳're a𝐨'm 𝐨 'm 𝐨'M"],
  ["astral letters and digits", " 𝐨𝐩 𝐪 x𝐲z 𝟏𝟐𝟑 𝟘𝟙 a𝟏 𝟏a 𐐷𐐸 𠀀𠀁 𝔘𝔫𝔦𝔠𝔬𝔡𝔢"],
  ["astral mixed with punctuation", "(𝐨), \"𝐀\"! 𝐨.𝐩 𝐨-𝐩 𝐨_𝐩 😀𝐨 𝐨😀 𝟏.𝟐 𝐨 \t𝐨"],
  ["end of text", "hello<|endoftext|>world<|endoftext|><|endoftext|> after"],
  ["combining marks", "e\u0301\u0302 a\u0308 \u0301x Z\u0351\u0352\u0353"],
  ["symbols", "© ® ™ € £ ¥ § ¶ • … ← → ∀ ∃ ∑ √ ∞ ≠ ≤ ≥ ♠ ♣ ♥ ♦ ☃ ✓ ✗ @#$%^&*()_+-=[]{}|;:,.<>?/~`"],
];

// mulberry32: a small seeded generator, so the corpus is the same on every run.
function generator(seed) {
  return () => {
    seed |= 0; seed = (seed + 0x6D2B79F5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Ranges long assigned in Unicode (so every Unicode version agrees on their categories), with weights.
const pools = [
  [30, [0x61, 0x7A]], [8, [0x41, 0x5A]], [6, [0x30, 0x39]], [12, [0x20, 0x20]], [6, [0x21, 0x2F]],
  [3, [0x27, 0x27]], [3, [0x73, 0x73]], [2, [0x09, 0x0A]], [1, [0x0D, 0x0D]], [1, [0x3A, 0x40]],
  [3, [0xC0, 0xFF]], [2, [0x391, 0x3A9]], [2, [0x430, 0x44F]], [2, [0x4E00, 0x4FFF]], [1, [0x3041, 0x3093]],
  [1, [0xAC00, 0xAD00]], [1, [0x0660, 0x0669]], [1, [0x0300, 0x036F]], [1, [0x2000, 0x200A]], [1, [0x3000, 0x3000]],
  [1, [0x00A0, 0x00A0]], [2, [0x1F600, 0x1F64F]], [2, [0x1D400, 0x1D6A3]], [1, [0x1D7CE, 0x1D7FF]],
  [1, [0x10400, 0x1044F]], [1, [0x20000, 0x20FFF]], [1, [0x2190, 0x21FF]],
];
const totalWeight = pools.reduce((s, [w]) => s + w, 0);

function randomText(next, length) {
  let s = "";
  for (let i = 0; i < length; i++) {
    let r = next() * totalWeight;
    let pool = pools[pools.length - 1][1];
    for (const [w, range] of pools) { if ((r -= w) < 0) { pool = range; break; } }
    s += String.fromCodePoint(pool[0] + Math.floor(next() * (pool[1] - pool[0] + 1)));
  }
  return s;
}

const next = generator(15);
for (let i = 0; i < 120; i++) cases.push([`random ${i}`, randomText(next, 8 + Math.floor(next() * 120))]);

// Pre-tokens of thousands of bytes, where BPE has thousands of merges to make.
const from = (alphabet, length) => Array.from({ length }, () => alphabet[Math.floor(next() * alphabet.length)]).join("");
cases.push(["long letters", from("abcdefghijklmnopqrstuvwxyz", 3000)]);
cases.push(["long repeat", "a".repeat(2000) + " " + "ab".repeat(1000)]);
cases.push(["long punctuation", from("!\"#$%&()*+,-./:;<=>?@[]^_{|}~", 2000)]);
cases.push(["long digits", from("0123456789", 2000)]);
cases.push(["long whitespace", " ".repeat(1500) + "x" + "\t".repeat(700) + "\n".repeat(300) + " y"]);
cases.push(["long cjk", from([..."日本語中文字符漢字かなカナ한국어"], 1000)]);

const out = cases.map(([name, text]) => ({ name, text, ids: Array.from(gpt2.encode(text, "all")) }));
for (const c of out) {
  if (new TextDecoder().decode(gpt2.decode(Uint32Array.from(c.ids))) !== c.text) throw new Error(`${c.name} does not round-trip`);
}
writeFileSync("gpt2_tokens.json", "[\n" + out.map(c => JSON.stringify(c)).join(",\n") + "\n]\n");
console.log(`${out.length} texts, ${out.reduce((s, c) => s + c.text.length, 0)} UTF-16 units, ${out.reduce((s, c) => s + c.ids.length, 0)} ids`);
