// Slow and hostile clients against the real binary: a head that trickles in (slowloris) is cut
// at LIMITS.header_timeout_ms, thousands of idle connections do not lock out a new request, and
// JSON nested beyond reason is a 400. (Oversized heads and bodies: foundation.test.mjs.)
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { execFileSync } from 'node:child_process';
import {
  mockUpstream, spawnRelay, request, parseSSE, sse, anthropicTextEvents, anthropicConfig,
  rawExchange, parseRawResponse, sleep, procStats,
} from './lib.mjs';

const hello = { model: 'claude-sonnet-4-5', max_tokens: 100, stream: true, messages: [{ role: 'user', content: 'hi' }] };

function okHandler(req, res, rec) {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.end(sse(anthropicTextEvents(rec.body?.model || 'm')));
}

describe('slow and hostile clients', () => {
  let mock, relay;
  before(async () => {
    mock = await mockUpstream(okHandler);
    relay = await spawnRelay(anthropicConfig(mock, { LIMITS: { header_timeout_ms: 800 } }), { nofile: 8192 });
  });
  after(async () => { await relay.stop(); await mock.close(); });

  test('a head that trickles in a byte at a time is cut at the header timeout with a 408', async () => {
    let timer;
    const r = await rawExchange(relay.port, (s) => {
      const head = 'POST /v1/messages HTTP/1.1\r\nHost: x\r\n' + 'X-Slow: y\r\n'.repeat(200);
      let i = 0;
      // one byte every 50 ms: the per-read timeout never fires, the whole-head deadline must
      timer = setInterval(() => { if (!s.destroyed && i < head.length) s.write(head[i++]); }, 50);
    }, { timeoutMs: 6000 });
    clearInterval(timer);
    assert.ok(r.closed, `the connection is still open after ${r.ms} ms: slowloris holds a slot`);
    assert.ok(r.ms >= 700 && r.ms < 3000, `cut after ${r.ms} ms, header_timeout_ms is 800`);
    const res = parseRawResponse(r.data);
    assert.equal(res.status, 408, r.data);
    const j = JSON.parse(res.body);
    assert.equal(j.type, 'error');
    assert.match(j.error.message, /header_timeout_ms/);
    const ok = await request(relay.port, { body: hello });
    assert.equal(ok.status, 200);
  });

  test('a head that stops half-way is cut the same way, and a silent connection is closed quietly', async () => {
    const half = await rawExchange(relay.port, (s) => s.write('POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-'), { timeoutMs: 5000 });
    assert.ok(half.closed);
    assert.equal(parseRawResponse(half.data).status, 408);
  });

  test('LIMITS.header_timeout_ms is checked when the config loads', async () => {
    await assert.rejects(spawnRelay(anthropicConfig(mock, { LIMITS: { header_timeout_ms: 0 } })), /header_timeout_ms/);
    await assert.rejects(spawnRelay(anthropicConfig(mock, { LIMITS: { header_timeout_ms: 'soon' } })), /header_timeout_ms/);
  });

  test('JSON nested 100,000 levels deep is a 400 on both endpoints, and the server keeps serving', async () => {
    const deep = '{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"user","content":' + '['.repeat(100000) + ']'.repeat(100000) + '}]}';
    for (const p of ['/v1/messages', '/v1/messages/count_tokens']) {
      const r = await request(relay.port, { path: p, body: deep });
      assert.equal(r.status, 400, `${p}: ${r.body.slice(0, 200)}`);
      const j = JSON.parse(r.body);
      assert.equal(j.type, 'error');
      assert.equal(j.error.type, 'invalid_request_error');
    }
    const objs = '{"a":'.repeat(50000) + '1' + '}'.repeat(50000);
    const r2 = await request(relay.port, { body: `{"model":"x","max_tokens":1,"metadata":${objs},"messages":[{"role":"user","content":"hi"}]}` });
    assert.equal(r2.status, 400);
    const ok = await request(relay.port, { body: hello });
    assert.equal(ok.status, 200);
  });

  test('a body nested just under the parser\'s limit is still routed without a crash', async () => {
    const n = 900;
    const r = await request(relay.port, { body: `{"model":"claude-sonnet-4-5","max_tokens":10,"stream":true,"metadata":{"x":${'['.repeat(n)}${']'.repeat(n)}},"messages":[{"role":"user","content":"hi"}]}` });
    assert.ok([200, 400].includes(r.status), r.body.slice(0, 300));
  });
});

function nofileLimit() {
  try { return Number(execFileSync('/bin/sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim()) || 0; } catch { return 0; }
}

describe('2,000 idle connections', () => {
  const N = 2000;
  let mock, relay;
  before(async () => {
    mock = await mockUpstream(okHandler);
    // the default LIMITS.max_connections (1024) is below N on purpose
    relay = await spawnRelay(anthropicConfig(mock, { LOG_LEVEL: 'info' }), { nofile: 8192 });
  });
  after(async () => { await relay.stop(); await mock.close(); });

  test('do not stop a new request from being served', { skip: nofileLimit() < N + 200 ? `ulimit -n is ${nofileLimit()}` : false }, async () => {
    const socks = [];
    try {
      for (let i = 0; i < N; i++) {
        const s = net.connect(relay.port, '127.0.0.1');
        s.on('error', () => {});
        socks.push(s);
        if (i % 200 === 199) await sleep(20);
      }
      await Promise.all(socks.map((s) => new Promise((r) => (s.connecting ? s.once('connect', r).once('close', r) : r()))));
      await sleep(200);
      const held = procStats(relay.pid).fds;
      const t0 = Date.now();
      const r = await request(relay.port, { body: hello, timeoutMs: 5000 });
      assert.equal(r.status, 200, r.body);
      assert.equal(parseSSE(r.body).at(-1).event, 'message_stop');
      assert.ok(Date.now() - t0 < 2000, `served in ${Date.now() - t0} ms`);
      assert.ok(held < 1100, `ccrelay holds ${held} descriptors: the connection limit does not bound them`);
      // a client mid-request is never evicted for an idle one: a slow body still completes
      const data = JSON.stringify(hello);
      const r2 = await rawExchange(relay.port, (s) => {
        s.write(`POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${data.length}\r\nConnection: close\r\n\r\n${data.slice(0, 10)}`);
        setTimeout(async () => {
          for (let i = 0; i < 50; i++) { const x = net.connect(relay.port, '127.0.0.1'); x.on('error', () => {}); socks.push(x); }
          await sleep(200);
          s.write(data.slice(10));
        }, 100);
      }, { timeoutMs: 5000 });
      assert.equal(parseRawResponse(r2.data).status, 200, r2.data.slice(0, 300));
    } finally {
      for (const s of socks) s.destroy();
    }
    await sleep(100);
    const ok = await request(relay.port, { method: 'GET', path: '/health' });
    assert.equal(ok.status, 200);
  });
});
