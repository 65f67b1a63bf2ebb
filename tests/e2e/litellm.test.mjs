// A LiteLLM-style model map under the real binary: `serve --litellm-config FILE` (and the
// litellm_config key) routes every Claude Code model name of the fixtures to the mapped provider
// and model, a duplicated model_name spreads requests and fails over when one upstream answers
// 500, and a key ccrelay cannot honour stops it with the file, line and key path.
// The upstreams are Anthropic-format mocks (anthropic/ prefix with api_base on 127.0.0.1).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import { BIN, mockUpstream, startRelay, request, parseSSE, sse, anthropicTextEvents, fixtures, tmpdir, oaiChunks, waitFor } from './lib.mjs';

const cleanup = [];
after(async () => { for (const f of cleanup.reverse()) await f(); });

// An Anthropic-format mock; `fail()` decides per request whether it answers 500.
async function anthropicMock(fail = () => false) {
  const m = await mockUpstream((req, res, rec) => {
    if (fail(rec)) {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ type: 'error', error: { type: 'api_error', message: 'mock is down' } }));
      return;
    }
    if (rec.body && rec.body.stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(sse(anthropicTextEvents(rec.body.model)));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id: 'msg_1', type: 'message', role: 'assistant', model: rec.body?.model,
      content: [{ type: 'text', text: 'hi' }], stop_reason: 'end_turn', stop_sequence: null,
      usage: { input_tokens: 3, output_tokens: 1 } }));
  });
  cleanup.push(() => m.close());
  return m;
}

function writeYaml(text) {
  const dir = tmpdir('ccrelay-litellm-');
  const p = path.join(dir, 'litellm_config.yaml');
  writeFileSync(p, text);
  return p;
}

async function serve(yaml, config = { LOG_LEVEL: 'info' }) {
  const relay = await startRelay(config, { args: ['--litellm-config', writeYaml(yaml)] });
  cleanup.push(() => relay.stop());
  return relay;
}

function run(args, env = {}) {
  return new Promise((resolve) => {
    execFile(BIN, args, { env: { ...process.env, ...env }, timeout: 15000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr });
    });
  });
}

const modelCalls = fixtures().filter((f) => !f.path.includes('count_tokens'));

test('each Claude Code model name of the fixtures lands on the mapped provider and model', async () => {
  const main = await anthropicMock();
  const background = await anthropicMock();
  const relay = await serve(`
model_list:
  - model_name: claude-3-5-sonnet
    litellm_params: {model: anthropic/grok-4.1-fast, api_base: "${main.url('')}", api_key: k-main}
  - model_name: claude-sonnet-*
    litellm_params: {model: anthropic/grok-4.1-fast, api_base: "${main.url('')}", api_key: k-main}
  - model_name: claude-opus-*
    litellm_params: {model: anthropic/grok-4.1-fast, api_base: "${main.url('')}", api_key: k-main}
  - model_name: claude-haiku-*
    litellm_params:
      model: anthropic/gemini-2.5-flash-lite
      api_base: "${background.url('/v1/messages')}"
      api_key: os.environ/E2E_BG_KEY
  - model_name: "*"
    litellm_params: {model: anthropic/catch-all, api_base: "${main.url('')}", api_key: k-main}
`, { LOG_LEVEL: 'info' });
  assert.ok(modelCalls.length >= 15);
  for (const f of modelCalls) {
    const haiku = f.body.model.includes('haiku');
    const mock = haiku ? background : main;
    const before = mock.requests.length;
    const r = await request(relay.port, { path: f.path, headers: { 'anthropic-version': '2023-06-01' }, body: f.body });
    assert.equal(r.status, 200, `${f.name}: ${r.body}`);
    const want = haiku ? 'gemini-2.5-flash-lite' : 'grok-4.1-fast';
    assert.equal(r.headers['x-ccrelay-upstream-model'], want, f.name);
    assert.equal(mock.requests.length, before + 1, `${f.name} reached the mapped upstream`);
    const rec = mock.requests.at(-1);
    assert.equal(rec.body.model, want, f.name);
    assert.equal(rec.url, '/v1/messages');
    if (f.body.stream) {
      const events = parseSSE(r.body);
      assert.equal(events.at(-1).event, 'message_stop', f.name);
      // the client sees the model it asked for
      assert.equal(JSON.parse(events[0].data).message.model, f.body.model, f.name);
    }
  }
  // the haiku deployment's key comes from the environment: unset, the start-up says so
  assert.match(relay.log(), /E2E_BG_KEY is not set/);
  assert.equal(background.requests.at(-1).headers['x-api-key'], undefined);
  assert.equal(main.requests.at(-1).headers['x-api-key'], 'k-main');
  // names outside the Claude families reach the catch-all
  const other = await request(relay.port, { body: { ...modelCalls[0].body, model: 'my-own-name' } });
  assert.equal(other.status, 200, other.body);
  assert.equal(other.headers['x-ccrelay-upstream-model'], 'catch-all');
});

test('a duplicated model_name spreads requests and fails over when one upstream answers 500', async () => {
  let aDown = false;
  const a = await anthropicMock(() => aDown);
  const b = await anthropicMock();
  const relay = await serve(`
model_list:
  - model_name: claude-opus-*
    litellm_params: {model: anthropic/upstream-a, api_base: "${a.url('')}", api_key: ka}
  - model_name: claude-opus-*
    litellm_params: {model: anthropic/upstream-b, api_base: "${b.url('')}", api_key: kb}
`);
  const hello = modelCalls.find((f) => f.name.endsWith('hello-opus55.json')).body;
  // simple-shuffle (the default): both deployments get requests
  const seen = new Set();
  for (let i = 0; i < 24; i++) {
    const r = await request(relay.port, { body: hello });
    assert.equal(r.status, 200, r.body);
    seen.add(r.headers['x-ccrelay-upstream-model']);
  }
  assert.deepEqual([...seen].sort(), ['upstream-a', 'upstream-b']);
  assert.ok(a.requests.length > 0 && b.requests.length > 0);
  // a answers 500: every request is still answered, by b, and a was tried for some of them
  aDown = true;
  const aBefore = a.requests.length, bBefore = b.requests.length;
  for (let i = 0; i < 12; i++) {
    const r = await request(relay.port, { body: hello });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.headers['x-ccrelay-upstream-model'], 'upstream-b');
    assert.equal(parseSSE(r.body).at(-1).event, 'message_stop');
  }
  assert.equal(b.requests.length - bBefore, 12);
  assert.ok(a.requests.length - aBefore > 0, 'the failing upstream was tried first at times');
  assert.match(relay.log(), /answered 500; trying fallback/);
});

test('round-robin alternates deployments and fallbacks take over when a whole group fails', async () => {
  const a = await anthropicMock();
  const b = await anthropicMock();
  const down = await anthropicMock(() => true);
  const relay = await serve(`
model_list:
  - model_name: claude-sonnet-*
    litellm_params: {model: anthropic/s1, api_base: "${a.url('')}", api_key: k}
  - model_name: claude-sonnet-*
    litellm_params: {model: anthropic/s2, api_base: "${b.url('')}", api_key: k}
  - model_name: claude-haiku-*
    litellm_params: {model: anthropic/broken, api_base: "${down.url('')}", api_key: k}
  - model_name: spare
    litellm_params: {model: anthropic/spare, api_base: "${a.url('')}", api_key: k}
router_settings:
  routing_strategy: round-robin
  fallbacks: [{"claude-haiku-*": [spare]}]
`);
  const body = { ...modelCalls[0].body, model: 'claude-sonnet-4-5-20250929' };
  const order = [];
  for (let i = 0; i < 4; i++) {
    const r = await request(relay.port, { body });
    assert.equal(r.status, 200, r.body);
    order.push(r.headers['x-ccrelay-upstream-model']);
  }
  assert.deepEqual(order, ['s1', 's2', 's1', 's2']);
  const r = await request(relay.port, { body: { ...body, model: 'claude-haiku-4-5-20251001' } });
  assert.equal(r.status, 200, r.body);
  assert.equal(r.headers['x-ccrelay-upstream-model'], 'spare');
  assert.equal(down.requests.length, 1);
});

test('the litellm_config key of config.json names the file', async () => {
  const m = await anthropicMock();
  const yamlPath = writeYaml(`
model_list:
  - model_name: "*"
    litellm_params: {model: anthropic/from-key, api_base: "${m.url('')}", api_key: k}
`);
  const relay = await startRelay({ LOG_LEVEL: 'info', litellm_config: yamlPath });
  cleanup.push(() => relay.stop());
  const r = await request(relay.port, { body: modelCalls[0].body });
  assert.equal(r.status, 200, r.body);
  assert.equal(r.headers['x-ccrelay-upstream-model'], 'from-key');
});

test('openrouter/ and gemini/ deployments reach their wire formats with the file\'s key, caps and params', async (t) => {
  // one mock plays OpenRouter (Chat Completions) and Google (generateContent)
  const m = await mockUpstream((req, res, rec) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    if (rec.url.startsWith('/api/v1/chat/completions')) {
      for (const c of oaiChunks([{ role: 'assistant', content: 'Hi' }, { content: ' there' }], { model: rec.body.model })) res.write(c);
    } else {
      res.write(`data: ${JSON.stringify({ candidates: [{ content: { role: 'model', parts: [{ text: 'Hi from Gemini' }] }, finishReason: 'STOP' }], usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 4, totalTokenCount: 14 } })}\r\n\r\n`);
    }
    res.end();
  });
  cleanup.push(() => m.close());
  const yaml = writeYaml(`
model_list:
  - model_name: claude-opus-*
    litellm_params:
      model: openrouter/x-ai/grok-4.1-fast
      api_base: "${m.url('/api/v1')}"
      api_key: os.environ/E2E_OR_KEY
      max_tokens: 4096
      temperature: 0.3
      extra_headers: {X-Team: from-litellm}
  - model_name: claude-haiku-*
    litellm_params:
      model: gemini/gemini-2.5-flash-lite
      api_base: "${m.url('')}"
      api_key: os.environ/E2E_GEM_KEY
`);
  const relay = await startRelay({ LOG_LEVEL: 'info' }, {
    args: ['--litellm-config', yaml], env: { E2E_OR_KEY: 'sk-or-e2e', E2E_GEM_KEY: 'gem-e2e' },
  });
  cleanup.push(() => relay.stop());
  const opus = modelCalls.find((f) => f.name.endsWith('hello-opus55.json')).body;
  let r = await request(relay.port, { body: opus });
  assert.equal(r.status, 200, r.body);
  assert.equal(parseSSE(r.body).at(-1).event, 'message_stop');
  let up = m.requests.at(-1);
  assert.equal(up.url, '/api/v1/chat/completions');
  assert.equal(up.headers.authorization, 'Bearer sk-or-e2e');
  assert.equal(up.headers['x-team'], 'from-litellm');
  assert.equal(up.body.model, 'x-ai/grok-4.1-fast');
  assert.ok(up.body.max_tokens <= 4096, `max_tokens ${up.body.max_tokens} capped by the file`);
  assert.equal(up.body.temperature, 0.3);
  const haiku = modelCalls.find((f) => f.name.endsWith('model-haiku55.json')).body;
  r = await request(relay.port, { body: haiku });
  if (r.status === 500 && /gemini wire format, which this build of ccrelay does not support yet/.test(r.body)) {
    t.skip('the gemini translator is not linked into this build yet');
    return;
  }
  assert.equal(r.status, 200, r.body);
  assert.equal(parseSSE(r.body).at(-1).event, 'message_stop');
  up = m.requests.at(-1);
  assert.match(up.url, /^\/v1beta\/models\/gemini-2\.5-flash-lite:streamGenerateContent/);
  assert.equal(up.headers['x-goog-api-key'], 'gem-e2e');
});

test('an edited litellm_config.yaml applies on reload; a broken edit keeps the running map', async () => {
  const m = await anthropicMock();
  const yaml = writeYaml('');
  const save = (text) => { writeFileSync(`${yaml}.tmp`, text); renameSync(`${yaml}.tmp`, yaml); };
  const map = (model) => `model_list:\n  - model_name: "*"\n    litellm_params: {model: anthropic/${model}, api_base: "${m.url('')}", api_key: k}\n`;
  save(map('first'));
  const relay = await startRelay({ LOG_LEVEL: 'info' }, { args: ['--litellm-config', yaml] });
  cleanup.push(() => relay.stop());
  const ask = async () => {
    const r = await request(relay.port, { body: modelCalls[0].body });
    assert.equal(r.status, 200, r.body);
    return r.headers['x-ccrelay-upstream-model'];
  };
  assert.equal(await ask(), 'first');
  save(map('second'));
  relay.child.kill('SIGHUP');
  await waitFor(async () => (await ask()) === 'second', 5000, 'the new map');
  const before = relay.log().length;
  save(`${map('third')}    frobnicate: 1\n`);
  relay.child.kill('SIGHUP');
  await waitFor(() => /frobnicate: unknown key/.test(relay.log().slice(before)), 5000, 'the reload error');
  assert.match(relay.log().slice(before), /litellm_config\.yaml:4:5: model_list\[0\]\.frobnicate: unknown key/);
  assert.equal(await ask(), 'second');
});

test('an unsupported key is reported with the file, line and key path', async () => {
  const yaml = writeYaml(`model_list:
  - model_name: claude-sonnet-*
    litellm_params:
      model: openrouter/x-ai/grok-4.1-fast
      rpm_limit: 100
`);
  const dir = tmpdir('ccrelay-litellm-');
  const cfg = path.join(dir, 'config.json');
  writeFileSync(cfg, '{}');
  const env = { HOME: dir, CCRELAY_CONFIG: '' };
  for (const args of [['serve', '--config', cfg, '--port', '0'], ['check', '--config', cfg]]) {
    const r = await run([...args, '--litellm-config', yaml], env);
    assert.notEqual(r.code, 0, args[0]);
    assert.ok(r.stderr.includes(`${yaml}:5:7: model_list[0].litellm_params.rpm_limit: unsupported key`), r.stderr);
  }
  const settings = writeYaml(`model_list:
  - model_name: m
    litellm_params: {model: gemini/gemini-2.5-flash}
router_settings:
  routing_strategy: usage-based-routing
`);
  const r = await run(['check', '--config', cfg, '--litellm-config', settings], env);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /litellm_config\.yaml:5:3: router_settings\.routing_strategy: "usage-based-routing" cannot be honoured/);
});
