// The gemini wire format end to end: a mock Gemini upstream on 127.0.0.1 that checks every
// request against the subset of the API Gemini accepts, and the Anthropic stream back.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fixtures, mockUpstream, startRelay, request, parseSSE, checkAnthropicStream } from './lib.mjs';

const FIX = fixtures().filter((f) => !f.path.includes('count_tokens'));
const hello = FIX.find((f) => f.name === 'claude-code-2.1.331/hello-opus55.json').body;

// OpenAPI-subset keywords Gemini takes in `parameters` (gemini-2.5 family).
const OPENAPI_KEYS = new Set(['type', 'format', 'description', 'nullable', 'enum', 'maxItems', 'minItems', 'properties', 'required',
  'minProperties', 'maxProperties', 'minLength', 'maxLength', 'pattern', 'example', 'anyOf', 'propertyOrdering', 'default', 'items',
  'minimum', 'maximum', 'title']);
const TYPES = new Set(['STRING', 'NUMBER', 'INTEGER', 'BOOLEAN', 'ARRAY', 'OBJECT', 'string', 'number', 'integer', 'boolean', 'array', 'object']);

function checkSchema(s, where, errs) {
  if (typeof s !== 'object' || s === null || Array.isArray(s)) { errs.push(`${where}: not an object`); return; }
  for (const k of Object.keys(s)) if (!OPENAPI_KEYS.has(k)) errs.push(`${where}: keyword ${k}`);
  if (s.anyOf && Object.keys(s).length !== 1) errs.push(`${where}: anyOf beside ${Object.keys(s)} (G2)`);
  if (s.type !== undefined && !TYPES.has(s.type)) errs.push(`${where}: type ${JSON.stringify(s.type)}`);
  for (const [k, v] of Object.entries(s.properties || {})) checkSchema(v, `${where}.${k}`, errs);
  for (const r of s.required || []) if (!(s.properties && r in s.properties)) errs.push(`${where}: required ${r} is not a property`);
  if (s.items) checkSchema(s.items, `${where}[]`, errs);
  (s.anyOf || []).forEach((b, i) => checkSchema(b, `${where}|${i}`, errs));
}

// The shape checks a strict Gemini front end applies; returns a list of problems.
function checkGeminiRequest(b, anthropic) {
  const errs = [];
  const allowedTop = new Set(['contents', 'systemInstruction', 'tools', 'toolConfig', 'generationConfig', 'safetySettings']);
  for (const k of Object.keys(b)) if (!allowedTop.has(k)) errs.push(`top-level ${k}`);
  if (!Array.isArray(b.contents) || !b.contents.length) errs.push('no contents');
  let prev = null;
  let pendingCalls = 0;
  for (const [i, c] of (b.contents || []).entries()) {
    if (!['user', 'model'].includes(c.role)) errs.push(`contents[${i}].role ${c.role}`);
    if (c.role === prev) errs.push(`contents[${i}]: two ${c.role} turns in a row`);
    prev = c.role;
    if (!c.parts?.length) errs.push(`contents[${i}]: no parts`);
    const calls = c.parts.filter((p) => p.functionCall).length;
    const resps = c.parts.filter((p) => p.functionResponse).length;
    if (c.role === 'user') {
      if (pendingCalls && resps !== pendingCalls) errs.push(`contents[${i}]: ${resps} responses for ${pendingCalls} calls`);
      const firstResp = c.parts.findIndex((p) => p.functionResponse);
      if (firstResp >= 0 && c.parts.slice(firstResp).some((p) => !p.functionResponse)) errs.push(`contents[${i}]: a part after a functionResponse (G1)`);
      pendingCalls = 0;
    } else {
      pendingCalls = calls;
    }
  }
  if (prev !== 'user') errs.push('the last content is not a user turn');
  const sys = JSON.stringify(b.systemInstruction || '');
  if (/x-anthropic-billing-header/.test(sys)) errs.push('billing block in systemInstruction');
  // system messages after the last user turn (R1) stay in the last user content
  const msgs = anthropic?.messages || [];
  const lastUser = msgs.map((m) => m.role).lastIndexOf('user');
  // (the stable system message at index 1 follows the first user turn and is hoisted, §4.2)
  for (const m of msgs.slice(Math.max(lastUser + 1, 2)).filter((x) => x.role === 'system')) {
    const text = typeof m.content === 'string' ? m.content : m.content.map((c) => c.text).join('');
    if (sys.includes(JSON.stringify(text).slice(1, -1))) errs.push(`the trailing system message "${text}" was hoisted into systemInstruction`);
    const last = JSON.stringify(b.contents?.at(-1) || '');
    if (!last.includes(JSON.stringify(text).slice(1, -1))) errs.push(`the trailing system message "${text}" is not in the last user content`);
  }
  for (const t of b.tools || []) {
    for (const fd of t.functionDeclarations || []) {
      if (fd.name === 'DeferredToolPlaceholder') errs.push('DeferredToolPlaceholder declared');
      if (!/^[a-zA-Z_][a-zA-Z0-9_.:-]{0,62}$/.test(fd.name)) errs.push(`bad function name ${fd.name}`);
      if (fd.parametersJsonSchema) errs.push(`${fd.name}: parametersJsonSchema on a 2.5 model`);
      if (fd.parameters) checkSchema(fd.parameters, fd.name, errs);
    }
  }
  if (b.toolConfig && !(b.tools || []).some((t) => t.functionDeclarations?.length)) errs.push('toolConfig without declarations (G6)');
  if (JSON.stringify(b).includes('cachedContent')) errs.push('a cachedContent reference');
  return errs;
}

const sseOf = (chunks) => chunks.map((c) => `data: ${JSON.stringify(c)}\r\n\r\n`).join('');
const usage = { promptTokenCount: 1200, candidatesTokenCount: 20, cachedContentTokenCount: 800, thoughtsTokenCount: 5, totalTokenCount: 1225 };
const textAnswer = [
  { candidates: [{ content: { role: 'model', parts: [{ text: 'Hello' }] } }] },
  { candidates: [{ content: { role: 'model', parts: [{ text: ' from Gemini' }] }, finishReason: 'STOP' }], usageMetadata: usage },
];

let script = null;
let lastSent = null; // the Anthropic body of the request under test
let mock, relay;
before(async () => {
  mock = await mockUpstream((req, res, rec) => {
    rec.problems = rec.body ? checkGeminiRequest(rec.body, lastSent) : ['body is not JSON'];
    const s = script ? script(rec) : { chunks: textAnswer };
    if (s.status) {
      res.writeHead(s.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(s.json));
      return;
    }
    if (req.url.includes(':streamGenerateContent')) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(sseOf(s.chunks));
    } else {
      const parts = s.chunks.flatMap((c) => c.candidates?.[0]?.content?.parts || []);
      const last = s.chunks.at(-1);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ candidates: [{ content: { role: 'model', parts }, finishReason: last.candidates?.[0]?.finishReason }], usageMetadata: last.usageMetadata }));
    }
  });
  relay = await startRelay({
    LOG_LEVEL: 'info',
    Providers: [{ name: 'gem', api_base_url: mock.url('/v1beta/models/'), api_key: 'AIzaTestKey123', models: ['gemini-2.5-flash', 'gemini-3-flash'] }],
    Router: { default: 'gem,gemini-2.5-flash' },
  });
});
after(async () => { await relay.stop(); await mock.close(); });

describe('every captured request passes a strict Gemini check', () => {
  for (const f of FIX) {
    test(f.name, async () => {
      script = null;
      const n = mock.requests.length;
      lastSent = f.body;
      const r = await request(relay.port, { path: f.path, body: f.body });
      assert.equal(r.status, 200, r.body);
      const up = mock.requests[n];
      const stream = f.body.stream === true;
      assert.equal(up.url, `/v1beta/models/gemini-2.5-flash:${stream ? 'streamGenerateContent?alt=sse' : 'generateContent'}`);
      assert.equal(up.headers['x-goog-api-key'], 'AIzaTestKey123');
      assert.doesNotMatch(up.url, /key=/);
      assert.deepEqual(up.problems, []);
      if (stream) {
        const m = checkAnthropicStream(parseSSE(r.body));
        assert.equal(m.model, f.body.model);
        assert.equal(m.content.filter((b) => b.type === 'text').map((b) => b.text).join(''), 'Hello from Gemini');
        assert.equal(m.usage.cache_read_input_tokens, 800);
      } else {
        const j = JSON.parse(r.body);
        assert.equal(j.content.find((b) => b.type === 'text').text, 'Hello from Gemini');
      }
    });
  }
});

describe('answers', () => {
  const ask = async (body = hello) => {
    lastSent = body;
    const r = await request(relay.port, { body });
    assert.equal(r.status, 200, r.body);
    return checkAnthropicStream(parseSSE(r.body));
  };

  test('thinking, then text', async () => {
    script = () => ({ chunks: [
      { candidates: [{ content: { role: 'model', parts: [{ text: 'Considering.', thought: true }] } }] },
      { candidates: [{ content: { role: 'model', parts: [{ text: 'Done.' }] }, finishReason: 'STOP' }], usageMetadata: usage },
    ] });
    const m = await ask();
    assert.deepEqual(m.content.map((b) => b.type), ['thinking', 'text']);
    assert.ok(m.content[0].signature, 'the thinking block carries a signature');
  });

  test('two function calls in one turn, and the signature comes back on the next turn', async () => {
    script = () => ({ chunks: [
      { candidates: [{ content: { role: 'model', parts: [
        { functionCall: { name: 'Bash', args: { command: 'echo hi' } }, thoughtSignature: 'U0lHLU9ORQ==' },
        { functionCall: { name: 'Read', args: { file_path: '/etc/hostname' } } },
      ] }, finishReason: 'STOP' }], usageMetadata: usage },
    ] });
    const m = await ask();
    assert.deepEqual(m.content.map((b) => b.name), ['Bash', 'Read']);
    assert.deepEqual(m.content[0].input, { command: 'echo hi' });
    assert.equal(m.stop_reason, 'tool_use');
    // turn 2: Claude Code sends the calls back with their results
    const turn2 = structuredClone(hello);
    turn2.messages.push({ role: 'assistant', content: m.content.map((b) => ({ type: 'tool_use', id: b.id, name: b.name, input: b.input })) });
    turn2.messages.push({ role: 'user', content: m.content.map((b) => ({ type: 'tool_result', tool_use_id: b.id, content: 'ok' })) });
    script = null;
    const n = mock.requests.length;
    await ask(turn2);
    const up = mock.requests[n];
    assert.deepEqual(up.problems, []);
    const model = up.body.contents.filter((c) => c.role === 'model').at(-1);
    assert.equal(model.parts[0].thoughtSignature, 'U0lHLU9ORQ==', 'the thought signature went back');
    const user = up.body.contents.at(-1);
    assert.deepEqual(user.parts.filter((p) => p.functionResponse).map((p) => p.functionResponse.name), ['Bash', 'Read']);
  });

  test('MAX_TOKENS is a stop at max_tokens', async () => {
    script = () => ({ chunks: [{ candidates: [{ content: { role: 'model', parts: [{ text: 'cut' }] }, finishReason: 'MAX_TOKENS' }], usageMetadata: usage }] });
    assert.equal((await ask()).stop_reason, 'max_tokens');
  });

  test('a safety block is reported clearly, not as an empty answer', async () => {
    script = () => ({ chunks: [{ candidates: [{ finishReason: 'SAFETY', safetyRatings: [{ category: 'HARM_CATEGORY_DANGEROUS_CONTENT', probability: 'HIGH', blocked: true }] }], usageMetadata: usage }] });
    const r = await request(relay.port, { body: hello });
    const text = r.body;
    assert.match(text, /safety|SAFETY|refus/i);
  });

  test('RESOURCE_EXHAUSTED is a rate limit with the retry delay', async () => {
    script = () => ({ status: 429, json: { error: { code: 429, status: 'RESOURCE_EXHAUSTED', message: 'Quota exceeded',
      details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '17s' }] } } });
    const r = await request(relay.port, { body: hello });
    assert.equal(r.status, 429);
    assert.equal(JSON.parse(r.body).error.type, 'rate_limit_error');
    assert.equal(r.headers['retry-after'], '17');
  });

  test('a short prompt with cache_control goes through, with no cache call', async () => {
    script = null;
    const body = { model: 'claude-haiku-5-5', max_tokens: 100, stream: true,
      system: [{ type: 'text', text: 'Be brief.', cache_control: { type: 'ephemeral' } }],
      messages: [{ role: 'user', content: [{ type: 'text', text: 'hi', cache_control: { type: 'ephemeral' } }] }] };
    const n = mock.requests.length;
    const m = await ask(body);
    assert.equal(m.content[0].text, 'Hello from Gemini');
    assert.equal(mock.requests.length, n + 1, 'one call, no cachedContents request');
    assert.doesNotMatch(mock.requests[n].url, /cachedContents/);
  });
});
