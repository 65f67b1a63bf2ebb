// Secrets: the client key (APIKEY) and every provider key (literal, from $ENV, in a pool) never
// show in the log at any level (debug, trace), in an answer to the client (errors included, and
// an upstream error that echoes the key), in what a policy can see (config, req.headers), or in
// the output of `ccrelay check`, `route` and `status`.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import net from 'node:net';
import {
  BIN, closedPort, mockUpstream, spawnRelay, request, parseSSE, sse, anthropicTextEvents, oaiChunks, tmpdir, waitFor, sleep,
} from './lib.mjs';

const CLIENT_KEY = 'ccr-client-key-7Q9zX2';
const KEYS = ['ant-literal-K3y1xyz', 'sk-oai-fromenv-K3y2xyz', 'pool-key-A-K3y3xyz', 'pool-key-B-K3y4xyz', 'AIzaGemK3y5xyz'];
const SECRETS = [CLIENT_KEY, ...KEYS];
// also a recognisable fragment of each, in case something prints a prefix or a suffix
const FRAGMENTS = SECRETS.flatMap((k) => [k, k.slice(-10)]);

function assertClean(text, where) {
  for (const f of FRAGMENTS) assert.ok(!text.includes(f), `${where} contains a key (${f.slice(0, 6)}...):\n${text.slice(Math.max(0, text.indexOf(f) - 300), text.indexOf(f) + 100)}`);
}

function run(args, env) {
  return new Promise((resolve) => {
    execFile(BIN, args, { env: { ...process.env, ...env }, timeout: 15000 }, (err, stdout, stderr) => resolve({ code: err ? err.code : 0, out: `${stdout}${stderr}` }));
  });
}

let mode = 'ok';
let mock;
const ENV = { CCR_TEST_OAI_KEY: KEYS[1] };

function config(m, level) {
  return {
    LOG_LEVEL: level,
    APIKEY: CLIENT_KEY,
    Providers: [
      { name: 'ant', api_base_url: m.url('/v1/messages'), api_key: KEYS[0], models: ['claude-up'] },
      { name: 'oai', api_base_url: m.url('/v1/chat/completions'), api_key: '$CCR_TEST_OAI_KEY', models: ['gpt-up'] },
      { name: 'pool', api_base_url: m.url('/pool/v1/chat/completions'), api_key: [KEYS[2], KEYS[3]], models: ['gpt-pool'] },
      { name: 'gem', api_base_url: m.url('/v1beta/models/'), api_key: KEYS[4], models: ['gemini-2.5-flash'] },
    ],
    Router: { default: 'ant,claude-up' },
  };
}

before(async () => {
  mock = await mockUpstream((req, res, rec) => {
    const sent = req.headers.authorization || req.headers['x-api-key'] || req.headers['x-goog-api-key'] || '';
    const stream = rec.body?.stream || req.url.includes('streamGenerateContent');
    if (mode === 'echo-key') { // providers do this: "Incorrect API key provided: sk-...xyz"
      res.writeHead(req.url.includes('pool') ? 429 : 401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `Incorrect API key provided: ${sent}, that is ${sent.replace(/^Bearer /, '')}. You can find your API key at https://example`, type: 'invalid_request_error', code: 'invalid_api_key' } }));
      return;
    }
    if (mode === 'echo-key-stream') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const ev = anthropicTextEvents(rec.body?.model || 'm').slice(0, 3).map((e) => sse([e])).join('');
      res.end(ev + sse([['error', { type: 'error', error: { type: 'api_error', message: `key ${sent} was revoked` } }]]));
      return;
    }
    if (req.url.startsWith('/v1/messages')) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(sse(anthropicTextEvents(rec.body?.model)));
    } else if (req.url.includes('chat/completions')) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(oaiChunks([{ role: 'assistant', content: 'hi' }]).join(''));
    } else if (stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(`data: ${JSON.stringify({ candidates: [{ content: { role: 'model', parts: [{ text: 'hi' }] }, finishReason: 'STOP' }] })}\r\n\r\n`);
    }
  });
});
after(async () => { await mock.close(); });

const ask = (port, model, headers = { 'x-api-key': CLIENT_KEY }) => request(port, {
  headers: { 'anthropic-version': '2023-06-01', ...headers },
  body: { model, max_tokens: 10, stream: true, messages: [{ role: 'user', content: 'hi' }] },
});

for (const level of ['debug', 'trace']) {
  describe(`LOG_LEVEL ${level}`, () => {
    let relay;
    before(async () => { relay = await spawnRelay(config(mock, level), { env: ENV }); });
    after(async () => { await relay.stop(); });

    test('successful requests, refused clients and failing upstreams leak no key to the log or the client', async () => {
      const answers = [];
      mode = 'ok';
      for (const m of ['ant,claude-up', 'oai,gpt-up', 'pool,gpt-pool', 'gem,gemini-2.5-flash']) {
        const r = await ask(relay.port, m);
        assert.equal(r.status, 200, `${m}: ${r.body}`);
        answers.push(r);
      }
      // a wrong client key, a key that is a prefix of the right one, the key in the wrong header
      for (const h of [{ 'x-api-key': 'nope' }, { 'x-api-key': CLIENT_KEY.slice(0, -1) }, { authorization: `Basic ${CLIENT_KEY}` }]) {
        const r = await ask(relay.port, 'ant,claude-up', h);
        assert.equal(r.status, 401);
        answers.push(r);
      }
      // upstreams that echo the key they were sent, in an error status and inside a stream
      mode = 'echo-key';
      for (const m of ['ant,claude-up', 'oai,gpt-up', 'pool,gpt-pool', 'gem,gemini-2.5-flash']) {
        const r = await ask(relay.port, m);
        assert.ok(r.status >= 400, `${m}: ${r.status}`);
        assert.equal(JSON.parse(r.body).type, 'error');
        answers.push(r);
      }
      mode = 'echo-key-stream';
      const r = await ask(relay.port, 'ant,claude-up');
      assert.equal(parseSSE(r.body).at(-1).event, 'error');
      answers.push(r);
      // a client that hangs up mid-request
      mode = 'ok';
      await new Promise((resolve) => {
        const s = net.connect(relay.port, '127.0.0.1', () => {
          s.write(`POST /v1/messages HTTP/1.1\r\nHost: x\r\nX-Api-Key: ${CLIENT_KEY}\r\nContent-Length: 50\r\n\r\n{"model":`);
          setTimeout(() => { s.destroy(); resolve(); }, 50);
        });
        s.on('error', resolve);
      });
      await sleep(100);
      for (const a of answers) assertClean(JSON.stringify(a.headers) + a.body, 'an answer to the client');
      assert.match(relay.log(), /status=200/, 'the log has the request records');
      assertClean(relay.log(), `the log at ${level}`);
    });
  });
}

describe('what a policy sees', () => {
  let relay;
  before(async () => {
    const cfg = config(mock, 'debug');
    const dir = tmpdir();
    const router = path.join(dir, 'dump-router.lua');
    // a policy that prints everything it can reach: the config table and the request headers
    writeFileSync(router, `
local function dump(v, depth)
  depth = depth or 0
  if depth > 8 then return '...' end
  if type(v) ~= 'table' and type(v) ~= 'userdata' then return tostring(v) end
  local out = {}
  local ok = pcall(function() for k, x in pairs(v) do out[#out + 1] = tostring(k) .. '=' .. dump(x, depth + 1) end end)
  if not ok then return '<opaque>' end
  return '{' .. table.concat(out, ',') .. '}'
end
function route(req, config)
  error('DUMP config ' .. dump(config) .. ' headers ' .. dump(req.headers))
end
`);
    cfg.CUSTOM_ROUTER_PATH = router;
    relay = await spawnRelay(cfg, { env: ENV });
  });
  after(async () => { await relay.stop(); });

  test('the config table and req.headers hold no key, so a policy cannot log one', async () => {
    mode = 'ok';
    const r = await ask(relay.port, 'ant,claude-up', { 'x-api-key': CLIENT_KEY, authorization: `Bearer ${CLIENT_KEY}` });
    assert.equal(r.status, 200, 'a failing policy falls back to the built-in rules');
    await waitFor(() => /DUMP config/.test(relay.log()), 3000, 'the policy error in the log');
    assert.match(relay.log(), /api_base_url/, 'the dump did reach the providers');
    assertClean(relay.log(), 'a policy dump');
  });
});

describe('command line output', () => {
  let dir, cfgPath;
  before(() => {
    dir = tmpdir();
    cfgPath = path.join(dir, 'config.json');
    writeFileSync(cfgPath, JSON.stringify(config(mock, 'trace')));
  });

  test('`ccrelay check` and `ccrelay route` print no key', async () => {
    const env = { ...ENV, HOME: dir };
    const check = await run(['check', '--config', cfgPath], env);
    assert.equal(check.code, 0, check.out);
    assertClean(check.out, 'ccrelay check');
    const reqFile = path.join(dir, 'req.json');
    writeFileSync(reqFile, JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }));
    const route = await run(['route', reqFile, '--config', cfgPath], env);
    assertClean(route.out, 'ccrelay route');
    // a broken config names the key path, not the key
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ ...config(mock, 'debug'), Providers: [{ name: 'x', api_base_url: 'ftp://nope', api_key: KEYS[0], models: 'not-a-list' }] }));
    const broken = await run(['check', '--config', bad], env);
    assert.notEqual(broken.code, 0);
    assertClean(broken.out, 'ccrelay check of a broken config');
  });

  test('`ccrelay start`, `status` and `stop` print no key, nor does the background log', async () => {
    const env = { ...ENV, HOME: dir };
    const port = await closedPort();
    const start = await run(['start', '--config', cfgPath, '--port', String(port)], env);
    try {
      assert.equal(start.code, 0, start.out);
      assertClean(start.out, 'ccrelay start');
      const status = await run(['status', '--config', cfgPath, '--port', String(port)], env);
      assert.match(status.out, /running/);
      assertClean(status.out, 'ccrelay status');
    } finally {
      const stop = await run(['stop'], env);
      assertClean(stop.out, 'ccrelay stop');
    }
    const { readFileSync, existsSync } = await import('node:fs');
    const logf = path.join(dir, '.ccrelay', 'ccrelay.log');
    if (existsSync(logf)) assertClean(readFileSync(logf, 'utf8'), 'the background log');
  });
});
