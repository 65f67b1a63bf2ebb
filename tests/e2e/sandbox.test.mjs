// The Lua sandbox against deliberately hostile policies, under a running server (what
// tests/unit/test_policy.c does not cover yet): loops in coroutines, finalizers, backtracking
// patterns (C code where the instruction hook never fires), globals carried between requests,
// huge strings and deep recursion. Every request is still answered, quickly, by the built-in
// rules, and the log names the script's line.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import { mockUpstream, spawnRelay, request, parseSSE, sse, anthropicTextEvents, waitFor } from './lib.mjs';

let mock, relay, routerPath;
const body = { model: 'claude-sonnet-4-5', max_tokens: 10, stream: true, messages: [{ role: 'user', content: 'Primary working directory: /srv/x\n' + 'a'.repeat(30000) }] };

before(async () => {
  mock = await mockUpstream((req, res, rec) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end(sse(anthropicTextEvents(rec.body.model)));
  });
  const dir = (await import('./lib.mjs')).tmpdir();
  routerPath = path.join(dir, 'custom-router.lua');
  writeFileSync(routerPath, 'return function() return nil end\n');
  relay = await spawnRelay({
    LOG_LEVEL: 'info', CUSTOM_ROUTER_PATH: routerPath,
    Providers: [{ name: 'mock', api_base_url: mock.url('/v1/messages'), api_key: 'k', models: ['builtin-model', 'custom-model'] }],
    Router: { default: 'mock,builtin-model' },
  });
});
after(async () => { await relay.stop(); await mock.close(); });

async function install(text) {
  const n = (relay.log().match(/configuration reloaded|custom router .* loaded/g) || []).length;
  writeFileSync(`${routerPath}.tmp`, text);
  renameSync(`${routerPath}.tmp`, routerPath);
  await waitFor(() => (relay.log().match(/configuration reloaded|custom router .* loaded/g) || []).length > n, 5000, 'the reload');
}

async function ask() {
  const t0 = Date.now();
  const r = await request(relay.port, { body, timeoutMs: 5000 });
  assert.equal(r.status, 200, r.body.slice(0, 300));
  assert.equal(parseSSE(r.body).at(-1).event, 'message_stop');
  return { model: r.headers['x-ccrelay-upstream-model'], ms: Date.now() - t0 };
}

test('an endless loop inside a coroutine is cut by the same budget', async () => {
  const from = relay.log().length;
  await install('return function()\n  local co = coroutine.wrap(function() while true do end end)\n  co()\nend\n');
  const a = await ask();
  assert.equal(a.model, 'builtin-model');
  assert.match(relay.log().slice(from), /custom-router\.lua:2.*instruction budget/);
});

test('a finalizer (__gc) is refused: it would run outside any budget and stop the proxy', async () => {
  const from = relay.log().length;
  await install('return function()\n  setmetatable({}, { __gc = function() while true do end end })\n  local t = {} for i = 1, 100000 do t[i] = {} end\n  return "mock,custom-model"\nend\n');
  for (let i = 0; i < 3; i++) {
    const a = await ask();
    assert.equal(a.model, 'builtin-model');
    assert.ok(a.ms < 2000, `answered in ${a.ms} ms`);
  }
  assert.match(relay.log().slice(from), /custom-router\.lua:2.*__gc/);
});

test('a backtracking pattern is refused before it runs, and the proxy keeps answering at once', async () => {
  const from = relay.log().length;
  await install('return function(req)\n  local s = string.rep("a", 30000)\n  s:find(".-.-.-.-.-.-.-b")\n  return "mock,custom-model"\nend\n');
  const a = await ask();
  assert.equal(a.model, 'builtin-model');
  assert.ok(a.ms < 2000, `answered in ${a.ms} ms`);
  assert.match(relay.log().slice(from), /custom-router\.lua:3.*pattern/);
  // the same in a loop of cheap-looking calls: their sum is charged against the budget
  await install('return function(req)\n  local s = string.rep("ab", 5000)\n  for i = 1, 100000 do s:match("a.-b") end\n  return "mock,custom-model"\nend\n');
  const b = await ask();
  assert.equal(b.model, 'builtin-model');
  assert.ok(b.ms < 3000, `answered in ${b.ms} ms`);
});

test('ordinary patterns on a long body still work (a literal prefix is cheap)', async () => {
  await install('return function(req)\n  local text = req.body.messages[1].content\n  local dir = string.match(text, "Primary working directory: ([^\\n]+)")\n  if dir == "/srv/x" and req.model:find("^claude%-(%w+)") and text:find("aaa", 1, true) then return "mock,custom-model" end\nend\n');
  assert.equal((await ask()).model, 'custom-model');
});

test('globals do not leak from one request to the next', async () => {
  const from = relay.log().length;
  await install('local calls = 0\nfunction route(req)\n  calls = calls + 1\n  if leaked ~= nil then error("a global survived: " .. tostring(leaked)) end\n  leaked = req.model\n  rawset(_G, "also", 1)\n  string = nil\n  if calls >= 1 then return "mock,custom-model" end\nend\n');
  for (let i = 0; i < 3; i++) assert.equal((await ask()).model, 'custom-model', relay.log().slice(from));
  assert.doesNotMatch(relay.log().slice(from), /survived/);
});

test('huge strings and deep recursion hit the memory cap, not the proxy', async () => {
  await install('return function()\n  local s = string.rep("x", 1e10)\nend\n');
  assert.equal((await ask()).model, 'builtin-model');
  await install('local function f(n) return f(n + 1) + 1 end\nreturn function() f(1) end\n');
  assert.equal((await ask()).model, 'builtin-model');
  await install('return function() local s = "x" for i = 1, 40 do s = s .. s end end\n');
  assert.equal((await ask()).model, 'builtin-model');
});
