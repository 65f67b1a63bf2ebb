// Providers behind an HTTP proxy (PROXY_URL, or HTTPS_PROXY): CONNECT tunnels with TLS verified
// against the upstream's own name, the absolute form for plain http, proxy credentials, and a
// proxy that refuses. The "remote" names resolve nowhere: the mock proxy maps them to loopback.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { tmpdir, startRelay, request, parseSSE, sse, anthropicTextEvents, checkAnthropicStream } from './lib.mjs';

const dir = tmpdir('ccrelay-proxy-');
const NAME = 'api.provider.test';
let tlsServer, plainServer, proxy, tlsPort, plainPort, proxyPort;
const seen = { connects: [], forwards: [], auth: [] };
let refuse = false;

function answer(req, res) {
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    const j = JSON.parse(body);
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end(sse(anthropicTextEvents(j.model, `via ${req.socket.encrypted ? 'tls' : 'plain'}`)));
  });
}

before(async () => {
  // a CA and a certificate for NAME
  const sh = (args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  sh(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=ccrelay test CA']);
  sh(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', `/CN=${NAME}`]);
  const ext = path.join(dir, 'ext.cnf');
  (await import('node:fs')).writeFileSync(ext, `subjectAltName=DNS:${NAME}\n`);
  sh(['x509', '-req', '-in', 'srv.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'srv.pem', '-days', '2', '-extfile', ext]);
  tlsServer = https.createServer({ key: readFileSync(path.join(dir, 'srv.key')), cert: readFileSync(path.join(dir, 'srv.pem')) }, answer);
  plainServer = http.createServer(answer);
  await new Promise((r) => tlsServer.listen(0, '127.0.0.1', r));
  await new Promise((r) => plainServer.listen(0, '127.0.0.1', r));
  tlsPort = tlsServer.address().port;
  plainPort = plainServer.address().port;
  // the proxy: NAME:443 -> the TLS mock, NAME:80 -> the plain mock, anything else refused
  proxy = http.createServer((req, res) => {
    seen.forwards.push(req.url);
    seen.auth.push(req.headers['proxy-authorization']);
    const u = new URL(req.url);
    const up = http.request({ host: '127.0.0.1', port: plainPort, method: req.method, path: u.pathname, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode, ur.headers);
      ur.pipe(res);
    });
    req.pipe(up);
  });
  proxy.on('connect', (req, sock, head) => {
    seen.connects.push(req.url);
    seen.auth.push(req.headers['proxy-authorization']);
    if (refuse || req.url !== `${NAME}:443`) {
      sock.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    const up = net.connect(tlsPort, '127.0.0.1', () => {
      sock.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      up.write(head);
      up.pipe(sock);
      sock.pipe(up);
    });
    up.on('error', () => sock.destroy());
    sock.on('error', () => up.destroy());
  });
  await new Promise((r) => proxy.listen(0, '127.0.0.1', r));
  proxyPort = proxy.address().port;
});
after(async () => {
  for (const s of [tlsServer, plainServer, proxy]) { s.closeAllConnections?.(); await new Promise((r) => s.close(r)); }
});

const body = { model: 'claude-opus-4-8', max_tokens: 10, stream: true, messages: [{ role: 'user', content: 'hi' }] };
const cfg = (url, extra = {}) => ({
  Providers: [{ name: 'far', api_base_url: url, api_key: 'k', models: ['m'] }],
  Router: { default: 'far,m' }, ...extra,
});

test('https through PROXY_URL: a CONNECT tunnel, TLS verified for the provider, credentials sent', async () => {
  const relay = await startRelay(cfg(`https://${NAME}/v1/messages`, { PROXY_URL: `http://alice:s3cret@127.0.0.1:${proxyPort}` }),
    { env: { CCRELAY_CA_FILE: path.join(dir, 'ca.pem') } });
  try {
    const r = await request(relay.port, { body });
    assert.equal(r.status, 200, r.body);
    assert.equal(checkAnthropicStream(parseSSE(r.body)).content[0].text, 'via tls');
    assert.deepEqual(seen.connects.slice(-1), [`${NAME}:443`]);
    assert.equal(seen.auth.at(-1), `Basic ${Buffer.from('alice:s3cret').toString('base64')}`);
    // the tunnel is kept alive and reused
    const n = seen.connects.length;
    assert.equal((await request(relay.port, { body })).status, 200);
    assert.equal(seen.connects.length, n, 'no second CONNECT');
    assert.doesNotMatch(relay.log(), /s3cret/);
  } finally { await relay.stop(); }
});

test('plain http through HTTPS_PROXY / HTTP_PROXY uses the absolute form', async () => {
  const relay = await startRelay(cfg(`http://${NAME}/v1/messages`), { env: { HTTP_PROXY: `127.0.0.1:${proxyPort}` } });
  try {
    const r = await request(relay.port, { body });
    assert.equal(r.status, 200, r.body);
    assert.equal(checkAnthropicStream(parseSSE(r.body)).content[0].text, 'via plain');
    assert.equal(seen.forwards.at(-1), `http://${NAME}:80/v1/messages`);
  } finally { await relay.stop(); }
});

test('NO_PROXY and loopback targets go direct', async () => {
  const relay = await startRelay(cfg(`http://127.0.0.1:${plainPort}/v1/messages`), { env: { HTTP_PROXY: `http://127.0.0.1:${proxyPort}` } });
  try {
    const n = seen.forwards.length;
    assert.equal((await request(relay.port, { body })).status, 200);
    assert.equal(seen.forwards.length, n, 'loopback is never proxied');
  } finally { await relay.stop(); }
});

test('a proxy that refuses the tunnel is a clear 502', async () => {
  refuse = true;
  const relay = await startRelay(cfg(`https://${NAME}/v1/messages`, { PROXY_URL: `http://127.0.0.1:${proxyPort}` }),
    { env: { CCRELAY_CA_FILE: path.join(dir, 'ca.pem') } });
  try {
    const r = await request(relay.port, { body });
    assert.equal(r.status, 502);
    assert.match(JSON.parse(r.body).error.message, /proxy 127\.0\.0\.1:\d+ refused to connect to api\.provider\.test:443 \(HTTP 403/);
  } finally { refuse = false; await relay.stop(); }
});
