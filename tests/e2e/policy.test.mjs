// The Lua policy under a running server: custom-router.lua edits apply to the next request, a
// broken edit keeps the last good policy, runaway scripts are cut off and the request is still
// answered.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import { mockUpstream, startRelay, request, parseSSE, sse, anthropicTextEvents, waitFor, fixtures } from './lib.mjs';

const hello = fixtures().find((f) => f.name === 'claude-code-2.1.331/hello-opus55.json').body;
let mock, relay, routerPath;
let failModel = null; // the mock answers 503 for this upstream model

function upstreamModelOf(r) { return r.headers['x-ccrelay-upstream-model']; }

async function ask() {
  const r = await request(relay.port, { body: hello });
  assert.equal(r.status, 200, r.body);
  assert.equal(parseSSE(r.body).at(-1).event, 'message_stop');
  return upstreamModelOf(r);
}

// Write like an editor does: a temporary file renamed over the original.
function save(text) {
  const tmp = `${routerPath}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, routerPath);
}

before(async () => {
  mock = await mockUpstream((req, res, rec) => {
    if (rec.body.model === failModel) {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'busy' } }));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end(sse(anthropicTextEvents(rec.body.model)));
  });
  relay = await startRelay({
    LOG_LEVEL: 'info',
    Providers: [{ name: 'mock', api_base_url: mock.url('/v1/messages'), api_key: 'k', models: ['model-a', 'model-b', 'model-c'] }],
    Router: { default: 'mock,model-a' },
  }, { env: { CCRELAY_WATCH_POLL: process.env.CCRELAY_WATCH_POLL || '' } });
  routerPath = path.join(relay.dir, 'custom-router.lua');
  // point the config at the custom router (the config reloads too)
  const cfg = JSON.parse((await import('node:fs')).readFileSync(relay.cfgPath, 'utf8'));
  cfg.CUSTOM_ROUTER_PATH = routerPath;
  save('function route(req, config) return nil end\n');
  writeFileSync(relay.cfgPath + '.tmp', JSON.stringify(cfg));
  renameSync(relay.cfgPath + '.tmp', relay.cfgPath);
  await waitFor(() => /reloaded/.test(relay.log()), 5000, 'config reload');
});
after(async () => { await relay.stop(); await mock.close(); });

test('with a nil-returning custom router the built-in rules decide', async () => {
  assert.equal(await ask(), 'model-a');
});

test('an edit of custom-router.lua applies to the next request', async () => {
  save('return function(req, config)\n  if req.model:find("opus") then return "mock,model-b" end\nend\n');
  await waitFor(async () => (await ask()) === 'model-b', 5000, 'the new policy');
});

test('a syntax error keeps the previous policy and the log names file and line', async () => {
  const before = relay.log().length;
  save('return function(req, config)\n  if then return "mock,model-c" end\nend\n');
  await waitFor(() => relay.log().slice(before).match(/custom-router\.lua:2/), 5000, 'the reload error');
  assert.match(relay.log().slice(before), /keeping/);
  assert.equal(await ask(), 'model-b');
});

test('an infinite loop in route() is cut off and the request is still answered', async () => {
  const before = relay.log().length;
  save('return function(req, config)\n  while true do end\nend\n');
  await waitFor(() => relay.log().slice(before).match(/reloaded/), 5000, 'reload');
  assert.equal(await ask(), 'model-a', 'the built-in rules answered');
  assert.match(relay.log().slice(before), /custom-router\.lua:2/);
});

test('a script that allocates without bound is stopped at its cap', async () => {
  const before = relay.log().length;
  save('return function(req, config)\n  local t = {}\n  local i = 0\n  while true do i = i + 1; t[i] = string.rep("x", 1024) .. i end\nend\n');
  await waitFor(() => relay.log().slice(before).match(/reloaded/), 5000, 'reload');
  assert.equal(await ask(), 'model-a');
  assert.match(relay.log().slice(before), /memory|not enough/i);
});

test('a fallback list is tried in order when the first target fails before its first byte', async () => {
  save('return function(req, config) return { "mock,model-c", "mock,model-b" } end\n');
  await waitFor(async () => (await ask()) === 'model-c', 5000, 'the fallback policy');
  failModel = 'model-c';
  const n = mock.requests.length;
  assert.equal(await ask(), 'model-b', 'the second target answered');
  assert.deepEqual(mock.requests.slice(n).map((r) => r.body.model), ['model-c', 'model-b']);
  failModel = null;
});

test('a subagent tag routes its request and is taken out of the forwarded body, escaped or not', async () => {
  save('function route(req, config) return nil end\n');
  await waitFor(async () => (await ask()) === 'model-a', 5000, 'the nil policy');
  const tag = '<CCR-SUBAGENT-MODEL>mock,model-c</CCR-SUBAGENT-MODEL>';
  const body = structuredClone(hello);
  body.system = [{ type: 'text', text: `${tag}You are a subagent.` }];
  for (const raw of [JSON.stringify(body), JSON.stringify(body).replace('<CCR', '\\u003cCCR')]) {
    const n = mock.requests.length;
    const r = await request(relay.port, { body: raw });
    assert.equal(r.status, 200, r.body);
    assert.equal(upstreamModelOf(r), 'model-c');
    const sent = mock.requests[n];
    assert.equal(sent.body.model, 'model-c');
    assert.deepEqual(sent.body.system, [{ type: 'text', text: 'You are a subagent.' }]);
    assert.deepEqual(sent.body.messages, hello.messages, 'the rest forwarded as it came');
  }
  // a tag elsewhere (here a tool's description) is left alone and routes nothing
  const other = structuredClone(hello);
  other.tools = [{ name: 'T', description: tag, input_schema: { type: 'object' } }];
  const n = mock.requests.length;
  assert.equal((await request(relay.port, { body: other })).headers['x-ccrelay-upstream-model'], 'model-a');
  assert.equal(mock.requests[n].body.tools[0].description, tag);
});
