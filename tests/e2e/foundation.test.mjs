// The foundation, end to end: the real binary, a mock Anthropic-format upstream on 127.0.0.1,
// and requests shaped like Claude Code's (the captured fixtures of both versions).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import {
  fixtures, mockUpstream, startRelay, request, parseSSE, sse, anthropicTextEvents,
  anthropicConfig, closedPort, waitFor, sleep,
} from './lib.mjs';

const FIXTURES = fixtures();
const messageFixtures = FIXTURES.filter((f) => f.path.startsWith('/v1/messages?') || f.path === '/v1/messages');

function streamHandler(req, res, rec) {
  if (rec.body && rec.body.stream === true) {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end(sse(anthropicTextEvents(rec.body.model)));
  } else {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id: 'msg_01NS', type: 'message', role: 'assistant', model: rec.body?.model,
      content: [{ type: 'text', text: 'non-streamed hello' }], stop_reason: 'end_turn', stop_sequence: null,
      usage: { input_tokens: 10, output_tokens: 3 } }));
  }
}

describe('endpoints and limits', () => {
  let mock, relay;
  before(async () => {
    mock = await mockUpstream(streamHandler);
    relay = await startRelay(anthropicConfig(mock, { LIMITS: { max_body_bytes: 200000 } }));
  });
  after(async () => { await relay.stop(); await mock.close(); });

  test('GET /, HEAD / and GET /health answer 200', async () => {
    for (const [method, p] of [['GET', '/'], ['HEAD', '/'], ['GET', '/health']]) {
      const r = await request(relay.port, { method, path: p });
      assert.equal(r.status, 200, `${method} ${p}`);
    }
  });

  test('an unknown path is a 404 in Anthropic error shape', async () => {
    const r = await request(relay.port, { method: 'GET', path: '/v2/nothing' });
    assert.equal(r.status, 404);
    const j = JSON.parse(r.body);
    assert.equal(j.type, 'error');
    assert.equal(j.error.type, 'not_found_error');
    assert.match(j.error.message, /\/v2\/nothing/);
    assert.match(j.request_id, /^req_/);
  });

  test('malformed JSON is a 400 invalid_request_error, and the server keeps serving', async () => {
    const r = await request(relay.port, { body: '{"model": "claude-opus-4-8", "messages": [' });
    assert.equal(r.status, 400);
    assert.equal(JSON.parse(r.body).error.type, 'invalid_request_error');
    const r2 = await request(relay.port, { body: '[1,2,3]' });
    assert.equal(r2.status, 400);
    const r3 = await request(relay.port, { body: { model: 'claude-opus-4-8' } });
    assert.equal(r3.status, 400);
    assert.match(JSON.parse(r3.body).error.message, /messages/);
    const ok = await request(relay.port, { method: 'GET', path: '/health' });
    assert.equal(ok.status, 200);
  });

  test('an oversized body is refused with 413 before it is read', async () => {
    const big = JSON.stringify({ model: 'x', messages: [{ role: 'user', content: 'a'.repeat(300000) }] });
    const r = await request(relay.port, { body: big });
    assert.equal(r.status, 413);
    const j = JSON.parse(r.body);
    assert.equal(j.error.type, 'request_too_large');
    assert.match(j.error.message, /max_body_bytes/);
    assert.equal(mock.requests.length, 0, 'nothing reached the upstream');
  });

  test('count_tokens answers an estimate for both Claude Code versions', async () => {
    for (const f of FIXTURES.filter((x) => x.path.includes('count_tokens'))) {
      const r = await request(relay.port, { path: f.path, body: f.body });
      assert.equal(r.status, 200, f.name);
      const j = JSON.parse(r.body);
      assert.ok(Number.isInteger(j.input_tokens) && j.input_tokens > 0, `${f.name}: ${r.body}`);
      // the same conversation without a model is no Messages request, but still gets its count
      // (the relay counts it from a parsed tree then, not from its one-pass scan)
      const bare = { ...f.body };
      delete bare.model;
      const r2 = await request(relay.port, { path: f.path, body: bare });
      assert.equal(r2.status, 200, `${f.name} without a model`);
      assert.equal(JSON.parse(r2.body).input_tokens, j.input_tokens, `${f.name}: the model is not counted`);
    }
  });

  test('oversized headers are refused with an Anthropic-shaped error', async () => {
    const r = await request(relay.port, { method: 'GET', path: '/health', headers: { 'x-big': 'h'.repeat(70000) } });
    assert.equal(r.status, 431);
    assert.equal(JSON.parse(r.body).type, 'error');
  });
});

describe('pass-through to an Anthropic-format upstream', () => {
  let mock, relay;
  before(async () => {
    mock = await mockUpstream(streamHandler);
    relay = await startRelay(anthropicConfig(mock));
  });
  after(async () => { await relay.stop(); await mock.close(); });

  for (const f of messageFixtures) {
    test(`relays ${f.name} byte for byte except the model`, async () => {
      const sent = JSON.stringify(f.body);
      const before = mock.requests.length;
      const headers = {};
      for (const [k, v] of Object.entries(f.headers)) {
        if (!['host', 'content-length', 'connection', 'accept-encoding'].includes(k.toLowerCase())) headers[k.toLowerCase()] = v;
      }
      const r = await request(relay.port, { path: f.path, headers, body: sent });
      assert.equal(r.status, 200, r.body);
      assert.equal(mock.requests.length, before + 1);
      const up = mock.requests.at(-1);
      // the upstream got the client's bytes with only "model" rewritten
      const expected = sent.replace(JSON.stringify(f.body.model), JSON.stringify('upstream-model'));
      assert.equal(up.raw.toString('utf8'), expected);
      assert.equal(up.headers['x-api-key'], 'sk-upstream-secret-123');
      assert.equal(up.headers.authorization, undefined, 'client credentials are not forwarded');
      assert.equal(up.headers['anthropic-beta'], headers['anthropic-beta']);
      assert.equal(up.headers['anthropic-version'], headers['anthropic-version']);
      if (f.body.stream === true) {
        assert.match(r.headers['content-type'], /text\/event-stream/);
        const got = parseSSE(r.body);
        const want = anthropicTextEvents('upstream-model');
        assert.deepEqual(got.map((e) => e.event), want.map(([e]) => e));
        for (let i = 0; i < want.length; i++) {
          const w = JSON.stringify(want[i][1]);
          const exp = i === 0 ? w.replace('"model":"upstream-model"', `"model":${JSON.stringify(f.body.model)}`) : w;
          assert.equal(got[i].data, exp, `event ${i} payload`);
        }
      } else {
        const j = JSON.parse(r.body);
        assert.equal(j.model, f.body.model, 'the answer names the model the client asked for');
        assert.equal(j.content[0].text, 'non-streamed hello');
      }
    });
  }

  test('connections to the upstream are kept alive and reused', async () => {
    const f = messageFixtures[0];
    const n = mock.requests.length;
    await request(relay.port, { body: f.body });
    await request(relay.port, { body: f.body });
    const [a, b] = mock.requests.slice(n);
    assert.equal(a.remotePort, b.remotePort, 'the second request used the same upstream connection');
  });
});

describe('upstream failures', () => {
  let mock, relay, mode;
  const body = () => ({ ...messageFixtures.find((f) => f.body.stream).body });
  before(async () => {
    mock = await mockUpstream((req, res, rec) => {
      switch (mode) {
        case '429':
          res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '7' });
          res.end(JSON.stringify({ type: 'error', error: { type: 'rate_limit_error', message: 'slow down' } }));
          break;
        case '429-long':
          res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '3600' });
          res.end(JSON.stringify({ type: 'error', error: { type: 'rate_limit_error', message: 'daily quota' } }));
          break;
        case '401':
          res.writeHead(401, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ type: 'error', error: { type: 'authentication_error', message: 'invalid x-api-key' } }));
          break;
        case '500-html':
          res.writeHead(502, { 'content-type': 'text/html' });
          res.end('<html><body><h1>502 Bad Gateway</h1> cloudflare</body></html>');
          break;
        case 'reset-mid-stream': {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          const ev = anthropicTextEvents(rec.body.model);
          res.write(sse(ev.slice(0, 4)));
          setTimeout(() => res.socket.destroy(), 50);
          break;
        }
        case 'reset-before-status':
          req.socket.destroy();
          break;
        case 'stall':
          break; // never answers
        case 'stall-mid-stream': {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write(sse(anthropicTextEvents(rec.body.model).slice(0, 2)));
          break; // then silence
        }
        case 'slow-stream': {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          const ev = anthropicTextEvents(rec.body.model);
          let i = 0;
          const t = setInterval(() => {
            if (res.destroyed || i >= ev.length) { clearInterval(t); if (!res.destroyed) res.end(); return; }
            res.write(sse([ev[i++]]));
          }, 100);
          break;
        }
        default:
          streamHandler(req, res, rec);
      }
    });
    relay = await startRelay(anthropicConfig(mock, { API_TIMEOUT_MS: 600 }));
  });
  after(async () => { await relay.stop(); await mock.close(); });

  test('an upstream 429 reaches the client with its retry-after', async () => {
    mode = '429';
    const r = await request(relay.port, { body: body() });
    assert.equal(r.status, 429);
    assert.equal(r.headers['retry-after'], '7');
    assert.equal(r.headers['retry-after-ms'], '7000');
    const j = JSON.parse(r.body);
    assert.equal(j.error.type, 'rate_limit_error');
    assert.match(j.error.message, /mockant/);
    assert.match(j.error.message, /slow down/);
  });

  test('a retry-after beyond Claude Code\'s window is clamped and marked not retryable', async () => {
    mode = '429-long';
    const r = await request(relay.port, { body: body() });
    assert.equal(r.status, 429);
    assert.equal(r.headers['retry-after'], '60');
    assert.equal(r.headers['x-should-retry'], 'false');
  });

  test('the provider refusing ccrelay\'s key is a 502, not the client\'s 401', async () => {
    mode = '401';
    const r = await request(relay.port, { body: body() });
    assert.equal(r.status, 502);
    assert.equal(JSON.parse(r.body).error.type, 'api_error');
    assert.equal(r.headers['x-should-retry'], 'false');
  });

  test('an HTML gateway page becomes a clean api_error', async () => {
    mode = '500-html';
    const r = await request(relay.port, { body: body() });
    assert.equal(r.status, 502);
    const j = JSON.parse(r.body);
    assert.equal(j.error.type, 'api_error');
    assert.doesNotMatch(j.error.message, /<html>/);
    assert.match(j.error.message, /502 Bad Gateway/);
  });

  test('a reset mid-stream ends the stream with an error event', async () => {
    mode = 'reset-mid-stream';
    const r = await request(relay.port, { body: body() });
    assert.equal(r.status, 200);
    const ev = parseSSE(r.body);
    assert.equal(ev[0].event, 'message_start');
    assert.equal(ev.at(-1).event, 'error');
    const j = JSON.parse(ev.at(-1).data);
    assert.equal(j.type, 'error');
    assert.match(j.error.message, /closed the connection|reset/);
  });

  test('a reset before the status line is a 502 naming the provider', async () => {
    mode = 'reset-before-status';
    const r = await request(relay.port, { body: body() });
    assert.equal(r.status, 502);
    assert.match(JSON.parse(r.body).error.message, /mockant/);
  });

  test('an upstream that stalls before its first byte times out with 504', async () => {
    mode = 'stall';
    const t0 = Date.now();
    const r = await request(relay.port, { body: body() });
    assert.equal(r.status, 504);
    assert.equal(JSON.parse(r.body).error.type, 'timeout_error');
    assert.match(JSON.parse(r.body).error.message, /first byte timeout/);
    assert.ok(Date.now() - t0 < 5000);
  });

  test('an upstream that stalls mid-stream gets an idle timeout error event', async () => {
    mode = 'stall-mid-stream';
    const r = await request(relay.port, { body: body() });
    const ev = parseSSE(r.body);
    assert.equal(ev.at(-1).event, 'error');
    assert.match(JSON.parse(ev.at(-1).data).error.message, /idle timeout/);
  });

  test('a client that hangs up mid-stream cancels the upstream request at once', async () => {
    mode = 'slow-stream';
    const n = mock.requests.length;
    await new Promise((resolve, reject) => {
      const s = net.connect(relay.port, '127.0.0.1', () => {
        const data = JSON.stringify(body());
        s.write(`POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(data)}\r\n\r\n${data}`);
      });
      s.once('data', () => { s.destroy(); resolve(); });
      s.on('error', reject);
    });
    const hungUp = Date.now();
    const rec = await waitFor(() => mock.requests.length > n && mock.requests[n].closed && mock.requests[n], 3000, 'upstream close');
    assert.equal(rec.finished, false, 'the upstream stream was cut, not completed');
    assert.ok(rec.closed - hungUp < 1000, `upstream closed ${rec.closed - hungUp} ms after the client left`);
    // and the proxy still serves
    mode = 'ok';
    const r = await request(relay.port, { body: body() });
    assert.equal(r.status, 200);
  });

  test('an upstream that refuses connections is a 502 api_error', async () => {
    const port = await closedPort();
    const relay2 = await startRelay({ Providers: [{ name: 'dead', api_base_url: `http://127.0.0.1:${port}/v1/messages`, api_key: 'k', models: ['m'] }], Router: { default: 'dead,m' } });
    try {
      const r = await request(relay2.port, { body: body() });
      assert.equal(r.status, 502);
      const j = JSON.parse(r.body);
      assert.equal(j.error.type, 'api_error');
      assert.match(j.error.message, /dead\/m/);
      assert.match(j.error.message, /refused/i);
    } finally { await relay2.stop(); }
  });
});

describe('auth', () => {
  let mock, relay;
  before(async () => {
    mock = await mockUpstream(streamHandler);
    relay = await startRelay(anthropicConfig(mock, { APIKEY: 'local-secret' }));
  });
  after(async () => { await relay.stop(); await mock.close(); });

  test('requests without the key, or with a wrong one, are refused with 401', async () => {
    const b = messageFixtures[0].body;
    for (const headers of [{}, { 'x-api-key': 'nope' }, { authorization: 'Bearer local-secre' }, { authorization: 'Bearer local-secret-and-more' }]) {
      const r = await request(relay.port, { headers, body: b });
      assert.equal(r.status, 401, JSON.stringify(headers));
      assert.equal(JSON.parse(r.body).error.type, 'authentication_error');
    }
    assert.equal(mock.requests.length, 0);
  });

  test('x-api-key and Authorization: Bearer are both accepted', async () => {
    const b = messageFixtures[0].body;
    for (const headers of [{ 'x-api-key': 'local-secret' }, { authorization: 'Bearer local-secret' }]) {
      const r = await request(relay.port, { headers, body: b });
      assert.equal(r.status, 200, JSON.stringify(headers));
    }
  });

  test('the key never appears in the log', async () => {
    assert.doesNotMatch(relay.log(), /local-secret/);
    assert.doesNotMatch(relay.log(), /sk-upstream-secret-123/);
  });
});

test('a non-loopback bind without APIKEY is refused with a clear message', async () => {
  const mock = await mockUpstream(streamHandler);
  try {
    await assert.rejects(startRelay(anthropicConfig(mock), { args: ['--host', '0.0.0.0'] }), /APIKEY/);
  } finally { await mock.close(); }
});

test('GET /v1/models lists every configured provider,model under claude- ids', async () => {
  const mock = await mockUpstream(streamHandler);
  const relay = await startRelay(anthropicConfig(mock));
  try {
    const r = await request(relay.port, { method: 'GET', path: '/v1/models?limit=1000', headers: { 'anthropic-version': '2023-06-01' } });
    assert.equal(r.status, 200);
    const j = JSON.parse(r.body);
    assert.deepEqual(j.data.map((m) => m.display_name), ['mockant,upstream-model', 'mockant,other-model']);
    for (const m of j.data) {
      assert.equal(m.type, 'model');
      assert.match(m.id, /^claude-/);
      assert.ok(!Number.isNaN(Date.parse(m.created_at)));
    }
    assert.equal(j.has_more, false);
    assert.equal(j.first_id, j.data[0].id);
    assert.equal(j.last_id, j.data.at(-1).id);
  } finally { await relay.stop(); await mock.close(); }
});
