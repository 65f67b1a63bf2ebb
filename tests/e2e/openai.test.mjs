// The openai wire format end to end: a mock Chat Completions upstream on 127.0.0.1, Claude
// Code's captured requests of both versions, and the exact Anthropic stream grammar back.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  fixtures, mockUpstream, startRelay, request, parseSSE, checkAnthropicStream, oaiChunks, sleep, waitFor,
} from './lib.mjs';

const FIX = fixtures().filter((f) => !f.path.includes('count_tokens'));
const hello = FIX.find((f) => f.name === 'claude-code-2.1.331/hello-opus55.json').body;
const ANTHROPIC_ONLY = ['thinking', 'context_management', 'metadata', 'safeguards', 'output_config', 'system', 'stop_sequences', 'tool_choice'];

let script = null; // (rec) => { chunks: [...], status, json, delayMs }
let mock, relay;

before(async () => {
  mock = await mockUpstream(async (req, res, rec) => {
    const s = script ? script(rec) : { chunks: oaiChunks([{ role: 'assistant', content: 'Hi' }, { content: ' there' }]) };
    if (s.status && s.status !== 200) {
      res.writeHead(s.status, { 'content-type': 'application/json', ...(s.headers || {}) });
      res.end(JSON.stringify(s.json || { error: { message: 'upstream says no', type: 'server_error' } }));
      return;
    }
    if (!rec.body.stream) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(s.json || { id: 'chatcmpl-2', object: 'chat.completion', model: rec.body.model,
        choices: [{ index: 0, message: { role: 'assistant', content: 'non-streamed hi' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 10, completion_tokens: 3 } }));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for (const c of s.chunks) {
      if (res.destroyed) return;
      if (c === 'RESET') { res.socket.destroy(); return; }
      if (c === 'HANG') return; // say nothing more, keep the connection open
      res.write(c);
      if (s.delayMs) await sleep(s.delayMs);
    }
    res.end();
  });
  relay = await startRelay({
    LOG_LEVEL: 'info',
    Providers: [
      { name: 'oai', api_base_url: mock.url('/v1/chat/completions'), api_key: 'sk-oai-secret', models: ['gpt-test'], options: { max_tokens: 16384, profile: 'openrouter', extra_headers: { 'X-Title': 'my-team' } } },
      { name: 'pool', api_base_url: mock.url('/pool/v1/chat/completions'), api_key: ['sk-pool-key-A', 'sk-pool-key-B'], models: ['gpt-pool'] },
    ],
    Router: { default: 'oai,gpt-test' },
  });
});
after(async () => { await relay.stop(); await mock.close(); });

function checkChatRequest(up, f) {
  const b = up.body;
  assert.equal(up.url, '/v1/chat/completions');
  assert.equal(up.headers.authorization, 'Bearer sk-oai-secret');
  assert.equal(up.headers['x-title'], 'my-team', 'a configured header replaces the default');
  for (const h of ['x-api-key', 'anthropic-beta', 'anthropic-version', 'x-claude-code-session-id']) assert.equal(up.headers[h], undefined, `${h} leaked`);
  assert.equal(b.model, 'gpt-test');
  assert.ok(Array.isArray(b.messages) && b.messages.length > 0);
  for (const k of ANTHROPIC_ONLY) assert.equal(b[k], undefined, `${f.name}: ${k} leaked upstream`);
  assert.ok(b.max_tokens === undefined || b.max_tokens <= 16384, `max_tokens ${b.max_tokens} not clamped`);
  const toolIds = new Set();
  for (const m of b.messages) {
    assert.ok(['system', 'user', 'assistant', 'tool'].includes(m.role), `role ${m.role}`);
    for (const tc of m.tool_calls || []) toolIds.add(tc.id);
    if (m.role === 'tool') assert.ok(toolIds.has(m.tool_call_id), `tool result ${m.tool_call_id} without its call`);
    assert.doesNotMatch(JSON.stringify(m), /x-anthropic-billing-header/);
  }
  for (const t of b.tools || []) {
    assert.equal(t.type, 'function');
    assert.match(t.function.name, /^[a-zA-Z0-9_-]{1,64}$/);
    assert.notEqual(t.function.name, 'DeferredToolPlaceholder');
  }
  assert.equal(b.stream === true, f.body.stream === true);
}

describe('every captured request', () => {
  for (const f of FIX) {
    test(f.name, async () => {
      script = null;
      const n = mock.requests.length;
      const r = await request(relay.port, { path: f.path, headers: { 'anthropic-beta': 'x', 'x-api-key': 'client-key' }, body: f.body });
      assert.equal(r.status, 200, r.body);
      checkChatRequest(mock.requests[n], f);
      if (f.body.stream === true) {
        const m = checkAnthropicStream(parseSSE(r.body));
        assert.equal(m.model, f.body.model, 'the client model is echoed');
        assert.equal(m.content.map((b) => b.text).join(''), 'Hi there');
        assert.equal(m.stop_reason, 'end_turn');
      } else {
        const j = JSON.parse(r.body);
        assert.equal(j.type, 'message');
        assert.equal(j.model, f.body.model);
        assert.equal(j.content[0].text, 'non-streamed hi');
      }
    });
  }
});

describe('stream translation', () => {
  const ask = async () => {
    const r = await request(relay.port, { body: hello });
    assert.equal(r.status, 200, r.body);
    return r;
  };

  test('reasoning, then text', async () => {
    script = () => ({ chunks: oaiChunks([{ role: 'assistant', reasoning: 'Let me think.' }, { reasoning: ' Done.' }, { content: 'Answer.' }]) });
    const m = checkAnthropicStream(parseSSE((await ask()).body));
    assert.deepEqual(m.content.map((b) => b.type), ['thinking', 'text']);
    assert.equal(m.content[1].text, 'Answer.');
  });

  test('text, then one tool call split into many argument deltas', async () => {
    const args = JSON.stringify({ command: 'echo hi', description: 'say hi' });
    const parts = args.match(/.{1,3}/g);
    script = () => ({ chunks: oaiChunks([
      { role: 'assistant', content: 'Running it.' },
      { tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'Bash', arguments: '' } }] },
      ...parts.map((p) => ({ tool_calls: [{ index: 0, function: { arguments: p } }] })),
    ], { finish: 'tool_calls' }) });
    const m = checkAnthropicStream(parseSSE((await ask()).body));
    assert.deepEqual(m.content.map((b) => b.type), ['text', 'tool_use']);
    assert.equal(m.content[1].name, 'Bash');
    assert.deepEqual(m.content[1].input, { command: 'echo hi', description: 'say hi' });
    assert.match(m.content[1].id, /^toolu_[A-Za-z0-9]{24}$/);
    assert.equal(m.stop_reason, 'tool_use');
  });

  test('parallel tool calls, Ollama style (all at index 0, distinct ids)', async () => {
    script = () => ({ chunks: oaiChunks([
      { role: 'assistant', tool_calls: [{ index: 0, id: 'a', type: 'function', function: { name: 'Read', arguments: '{"file_path":"/a"}' } }] },
      { tool_calls: [{ index: 0, id: 'b', type: 'function', function: { name: 'Read', arguments: '{"file_path":"/b"}' } }] },
    ], { finish: 'tool_calls' }) });
    const m = checkAnthropicStream(parseSSE((await ask()).body));
    assert.deepEqual(m.content.map((b) => b.input.file_path), ['/a', '/b']);
    assert.notEqual(m.content[0].id, m.content[1].id);
  });

  test('finish_reason length is a stop at max_tokens', async () => {
    script = () => ({ chunks: oaiChunks([{ role: 'assistant', content: 'cut' }], { finish: 'length' }) });
    const m = checkAnthropicStream(parseSSE((await ask()).body));
    assert.equal(m.stop_reason, 'max_tokens');
  });

  test('usage arrives, cached tokens included, in message_delta only', async () => {
    script = null;
    const m = checkAnthropicStream(parseSSE((await ask()).body));
    assert.equal(m.start_usage.input_tokens, 0, 'errata O9');
    assert.equal(m.usage.output_tokens, 30);
    assert.equal(m.usage.cache_read_input_tokens, 1000);
  });

  test('a UTF-8 character split across two network reads arrives whole', async () => {
    const chunk = oaiChunks([{ role: 'assistant', content: 'caf\u00e9 \u{1F600}!' }]);
    const bytes = Buffer.from(chunk.join(''), 'utf8');
    const at = bytes.indexOf(Buffer.from('\u{1F600}', 'utf8')) + 2;
    script = () => ({ chunks: [bytes.subarray(0, at), bytes.subarray(at)], delayMs: 30 });
    const m = checkAnthropicStream(parseSSE((await ask()).body));
    assert.equal(m.content[0].text, 'caf\u00e9 \u{1F600}!');
  });

  test('an upstream error before the first byte is an Anthropic error response', async () => {
    script = () => ({ status: 500 });
    const r = await request(relay.port, { body: hello });
    assert.equal(r.status, 502);
    const j = JSON.parse(r.body);
    assert.equal(j.error.type, 'api_error');
    assert.match(j.error.message, /oai/);
  });

  test('an error chunk after the first byte ends the stream with an error event', async () => {
    script = () => ({ chunks: [
      oaiChunks([{ role: 'assistant', content: 'partial' }])[0],
      `data: ${JSON.stringify({ error: { message: 'Rate limit exceeded', code: 429 } })}\n\n`,
    ] });
    const ev = parseSSE((await ask()).body);
    assert.equal(ev[0].event, 'message_start');
    assert.equal(ev.at(-1).event, 'error');
    assert.equal(JSON.parse(ev.at(-1).data).error.type, 'rate_limit_error');
  });

  test('an upstream that finishes but never sends usage or [DONE] is completed after a grace time', async () => {
    const chunks = oaiChunks([{ role: 'assistant', content: 'done' }], { usage: null });
    script = () => ({ chunks: [...chunks.slice(0, -1), 'HANG'] }); // no [DONE], no end of body
    const n = mock.requests.length;
    const t0 = Date.now();
    const m = checkAnthropicStream(parseSSE((await ask()).body));
    assert.equal(m.content[0].text, 'done');
    assert.equal(m.stop_reason, 'end_turn');
    assert.ok(Date.now() - t0 < 5000, 'completed well before the idle timeout');
    await waitFor(() => mock.requests[n].closed, 2000, 'the upstream request released');
  });

  test('a stream cut before finish ends with an error event, never malformed SSE', async () => {
    script = () => ({ chunks: [oaiChunks([{ role: 'assistant', content: 'partial' }])[0], 'RESET'], delayMs: 20 });
    const ev = parseSSE((await ask()).body);
    assert.equal(ev.at(-1).event, 'error');
    for (const e of ev) JSON.parse(e.data);
  });
});

test('a key pool moves to the other key after a 429, and the log names key indices only', async () => {
  const cfgRelay = await startRelay({
    LOG_LEVEL: 'info',
    Providers: [{ name: 'pool', api_base_url: mock.url('/v1/chat/completions'), api_key: ['sk-pool-key-A', 'sk-pool-key-B'], models: ['gpt-pool'] }],
    Router: { default: 'pool,gpt-pool' },
  });
  try {
    script = (rec) => rec.headers.authorization === 'Bearer sk-pool-key-A'
      ? { status: 429, headers: { 'retry-after': '30' }, json: { error: { message: 'rate limited', type: 'rate_limit_error' } } }
      : { chunks: oaiChunks([{ role: 'assistant', content: 'from B' }]) };
    const n = mock.requests.length;
    for (let i = 0; i < 3; i++) {
      const r = await request(cfgRelay.port, { body: hello });
      assert.equal(r.status, 200, r.body);
      assert.equal(checkAnthropicStream(parseSSE(r.body)).content[0].text, 'from B');
    }
    const keys = mock.requests.slice(n).map((r) => r.headers.authorization.slice(-1));
    assert.equal(keys.filter((k) => k === 'A').length, 1, `key A was tried once, then rested: ${keys}`);
    assert.match(cfgRelay.log(), /key=1/);
    assert.doesNotMatch(cfgRelay.log(), /sk-pool-key/);
  } finally { script = null; await cfgRelay.stop(); }
});
