#!/usr/bin/env node
// How far ccrelay's token estimate is from a real tokenizer, on every captured request of both
// Claude Code versions. The reference is Anthropic's published tokenizer (@anthropic-ai/tokenizer,
// the legacy Claude vocabulary: current models' tokenizer is not public), counting the text the
// model reads: system, messages (text, tool_use input, tool_result, thinking) and the tools that
// are sent (deferred tools only once referenced). ccrelay's figure comes from `ccrelay route`.
//
//   make tokens-accuracy        (installs the tokenizer into build/tokcheck on first use)
import { readFileSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';

const [shared, bin, prefix] = process.argv.slice(2);
const require = createRequire(path.resolve(prefix, 'package.json'));
const { countTokens } = require('@anthropic-ai/tokenizer');

function textOf(b) {
  const parts = [];
  parts.push(...(typeof b.system === 'string' ? [b.system] : (b.system || []).map((x) => x.text)));
  const refs = new Set();
  for (const m of b.messages) {
    const c = typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : m.content;
    for (const x of c) {
      if (x.type === 'text') parts.push(x.text);
      else if (x.type === 'thinking') parts.push(x.thinking);
      else if (x.type === 'tool_use') parts.push(x.name, JSON.stringify(x.input));
      else if (x.type === 'tool_result') {
        const cc = typeof x.content === 'string' ? [{ type: 'text', text: x.content }] : (x.content || []);
        for (const y of cc) {
          if (y.type === 'text') parts.push(y.text);
          if (y.type === 'tool_reference') refs.add(y.tool_name);
        }
      }
    }
  }
  for (const t of b.tools || []) {
    if (t.defer_loading && !refs.has(t.name)) continue;
    parts.push(JSON.stringify({ name: t.name, description: t.description, input_schema: t.input_schema }));
  }
  return parts.join('\n');
}

const rows = [];
for (const dir of ['claude-code', 'claude-code-2.1.331']) {
  for (const f of readdirSync(path.join(shared, 'fixtures', dir)).filter((x) => x.endsWith('.json')).sort()) {
    const file = path.join(shared, 'fixtures', dir, f);
    const real = countTokens(textOf(JSON.parse(readFileSync(file, 'utf8')).body));
    const est = Number(execFileSync(bin, ['route', file], { encoding: 'utf8' }).match(/tokens:\s+~(\d+)/)[1]);
    rows.push({ name: `${dir}/${f}`, real, est, err: ((est - real) / real) * 100 });
  }
}
console.log('| request | tokenizer | ccrelay | difference |\n|---|---|---|---|');
for (const r of rows) console.log(`| ${r.name} | ${r.real} | ${r.est} | ${r.err >= 0 ? '+' : ''}${r.err.toFixed(1)}% |`);
const e = rows.map((r) => r.err);
console.log(`\nmean ${(e.reduce((a, b) => a + b, 0) / e.length).toFixed(1)}%, min ${Math.min(...e).toFixed(1)}%, max ${Math.max(...e).toFixed(1)}%`);
