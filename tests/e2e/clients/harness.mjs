// Running the real clients against ccrelay: where the Claude Code binary and the SDK come from,
// a clean HOME for each claude run, a tap between claude and ccrelay that records what crossed,
// a trap for any traffic that tries to leave 127.0.0.1, and the check of which wire formats this
// build of ccrelay translates.
//
// Claude Code version. The locked one is tests/e2e/package-lock.json's
// @anthropic-ai/claude-code-linux-x64 (installed by `npm ci --prefix tests/e2e`). To run the
// suite against another one, set CLAUDE_CODE_VERSION=x.y.z: the first run installs that
// version's platform package with npm into $CCRELAY_E2E_CACHE (default
// ~/.cache/ccrelay-e2e)/claude-code-x.y.z, later runs reuse it. CLAUDE_CODE_BIN=/path/to/claude
// uses a binary as it is. Only linux-x64 (glibc) has a package named here.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRelay, request } from '../lib.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const E2E_DIR = path.resolve(HERE, '..');
const MODULES = path.join(E2E_DIR, 'node_modules');
const CC_PKG = '@anthropic-ai/claude-code-linux-x64';
export const INSTALL_HINT = 'run `npm ci --prefix tests/e2e` first';

function lockedVersion() {
  try { return JSON.parse(readFileSync(path.join(MODULES, CC_PKG, 'package.json'), 'utf8')).version; } catch { return null; }
}

// {bin, version, locked} of the Claude Code to test (locked: it is the version of the lock file,
// which must do everything the suite checks), or {skip: why}. Installs a requested version once.
export function claudeCode() {
  if (process.env.CLAUDE_CODE_BIN) {
    const bin = process.env.CLAUDE_CODE_BIN;
    if (!existsSync(bin)) return { skip: `CLAUDE_CODE_BIN=${bin} does not exist` };
    const version = execFileSync(bin, ['--version'], { encoding: 'utf8', timeout: 20000, env: { PATH: process.env.PATH, HOME: os.tmpdir() } }).split(' ')[0];
    return { bin, version };
  }
  const locked = lockedVersion();
  const want = process.env.CLAUDE_CODE_VERSION;
  if (!want || want === locked) {
    if (!locked) return { skip: `Claude Code is not installed: ${INSTALL_HINT}` };
    return { bin: path.join(MODULES, CC_PKG, 'claude'), version: locked, locked: true };
  }
  if (!/^\d+\.\d+\.\d+$/.test(want)) throw new Error(`CLAUDE_CODE_VERSION=${want}: expected x.y.z`);
  const cache = process.env.CCRELAY_E2E_CACHE || path.join(os.homedir(), '.cache', 'ccrelay-e2e');
  const dir = path.join(cache, `claude-code-${want}`);
  const bin = path.join(dir, 'node_modules', CC_PKG, 'claude');
  if (!existsSync(bin)) {
    mkdirSync(dir, { recursive: true });
    process.stderr.write(`# installing ${CC_PKG}@${want} into ${dir}\n`);
    execFileSync('npm', ['install', '--prefix', dir, '--no-save', '--no-package-lock', '--no-audit', '--no-fund',
      `${CC_PKG}@${want}`], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 300000 });
  }
  return { bin, version: want };
}

// The SDK module, or null when it is not installed.
export async function anthropicSdk() {
  if (!existsSync(path.join(MODULES, '@anthropic-ai', 'sdk', 'package.json'))) return null;
  return (await import(path.join(MODULES, '@anthropic-ai', 'sdk', 'index.mjs'))).default;
}

// An HTTP proxy on 127.0.0.1 that refuses everything and records it. Claude Code gets it as
// HTTPS_PROXY/HTTP_PROXY with NO_PROXY=127.0.0.1, so any request to another host lands here
// instead of leaving the machine; the suite asserts it stays empty.
export async function trapProxy() {
  const hits = [];
  const server = http.createServer((req, res) => { hits.push(`${req.method} ${req.url}`); res.writeHead(403); res.end(); });
  server.on('connect', (req, sock) => { hits.push(`CONNECT ${req.url}`); sock.end('HTTP/1.1 403 Forbidden\r\n\r\n'); });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { hits, url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(() => r())) };
}

// A recording proxy between Claude Code and ccrelay: every exchange as
// {method, url, headers, body, status, resHeaders, response (text), aborted}. Bytes are passed on
// as they arrive, so streams stay streams; a response that ccrelay cuts is cut for claude too.
export async function tap(targetPort) {
  const exchanges = [];
  const server = http.createServer((req, res) => {
    const ex = { method: req.method, url: req.url, headers: req.headers, body: null, status: null, resHeaders: null, response: '', aborted: false };
    exchanges.push(ex);
    const inChunks = [];
    req.on('data', (c) => inChunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(inChunks);
      try { ex.body = JSON.parse(raw.toString('utf8')); } catch { ex.body = null; }
      const up = http.request({ host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers, agent: false }, (ur) => {
        ex.status = ur.statusCode;
        ex.resHeaders = ur.headers;
        res.writeHead(ur.statusCode, ur.headers);
        ur.on('data', (c) => { ex.response += c.toString('utf8'); res.write(c); });
        ur.on('end', () => res.end());
        ur.on('aborted', () => { ex.aborted = true; res.destroy(); });
        ur.on('error', () => { ex.aborted = true; res.destroy(); });
      });
      up.on('error', (e) => { ex.aborted = true; ex.error = String(e); res.destroy(); });
      up.end(raw);
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  return { port, exchanges, url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }) };
}

// What Claude Code reads before it runs without asking anything: onboarding done, the working
// directory trusted. Returns the temporary HOME.
export function claudeHome(version, cwd) {
  const home = mkdtempSync(path.join(os.tmpdir(), 'ccrelay-claude-home-'));
  writeFileSync(path.join(home, '.claude.json'), JSON.stringify({
    hasCompletedOnboarding: true,
    lastOnboardingVersion: version,
    numStartups: 1,
    theme: 'dark',
    autoUpdates: false,
    projects: { [cwd]: { hasTrustDialogAccepted: true, hasCompletedProjectOnboarding: true, allowedTools: [] } },
  }, null, 2));
  mkdirSync(path.join(home, '.claude'), { recursive: true });
  return home;
}

// Run `claude -p prompt` against baseUrl (the run's directories go at cleanupClaudeRuns(); set
// CCRELAY_E2E_KEEP=1 to keep them). Resolves {code, stdout, stderr, result (parsed --output-format json),
// events (stream-json lines), home, cwd, ms}. The environment is built from nothing but what it needs
// (no variable of the machine's, e.g. a real key, leaks in), and `timeout` bounds the run.
const made = []; // the directories of every claude run, removed by cleanupClaudeRuns()

export function cleanupClaudeRuns() {
  if (process.env.CCRELAY_E2E_KEEP) return; // keep them to look at a failure
  while (made.length) rmSync(made.pop(), { recursive: true, force: true });
}

export async function runClaude(cc, { baseUrl, prompt, args = [], env = {}, format = 'json', timeoutSec = 60, trap }) {
  const cwd = mkdtempSync(path.join(os.tmpdir(), 'ccrelay-claude-cwd-'));
  const home = claudeHome(cc.version, cwd);
  const tmp = path.join(home, 'tmp'); // claude keeps task files under $TMPDIR: inside the run's HOME
  mkdirSync(tmp);
  made.push(cwd, home);
  const fmtArgs = format === 'stream-json' ? ['--output-format', 'stream-json', '--verbose'] : ['--output-format', 'json'];
  const argv = ['-k', '5', String(timeoutSec), cc.bin, '-p', prompt, ...fmtArgs, '--allowedTools', 'Bash', ...args];
  const childEnv = {
    PATH: process.env.PATH || '/usr/bin:/bin',
    HOME: home,
    TMPDIR: tmp,
    LANG: 'C.UTF-8',
    TERM: 'dumb',
    SHELL: '/bin/bash',
    ANTHROPIC_BASE_URL: baseUrl,
    ANTHROPIC_AUTH_TOKEN: 'e2e-client-token',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_AUTOUPDATER: '1',
    DISABLE_TELEMETRY: '1',
    DISABLE_ERROR_REPORTING: '1',
    ...(trap ? { HTTPS_PROXY: trap.url, HTTP_PROXY: trap.url, https_proxy: trap.url, http_proxy: trap.url, NO_PROXY: '127.0.0.1,localhost', no_proxy: '127.0.0.1,localhost' } : {}),
    ...env,
  };
  const t0 = Date.now();
  const child = spawn('timeout', argv, { cwd, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const code = await new Promise((r) => child.on('close', (c) => r(c)));
  const out = { code, stdout, stderr, home, cwd, ms: Date.now() - t0, result: null, events: [] };
  if (format === 'json') {
    try { out.result = JSON.parse(stdout.trim().split('\n').filter(Boolean).at(-1)); } catch { /* checked by the caller */ }
  } else {
    for (const line of stdout.split('\n')) {
      if (!line.trim()) continue;
      try { out.events.push(JSON.parse(line)); } catch { out.events.push({ type: 'unparsed', line }); }
    }
    out.result = out.events.filter((e) => e.type === 'result').at(-1) || null;
  }
  out.describe = () => `claude exited ${code} after ${out.ms} ms\nstdout: ${stdout.slice(-3000)}\nstderr: ${stderr.slice(-3000)}`;
  return out;
}

// A provider entry of wire format `fmt` whose upstream is `mock`, with models [main, sub, other].
export function providerFor(fmt, mock) {
  if (fmt === 'anthropic') return { name: 'ant', api_base_url: mock.url('/v1/messages'), api_key: 'sk-ant-upstream-e2e', models: ['main-model', 'sub-model', 'other-model'] };
  // named deepseek: the OpenAI translator's DeepSeek profile sends reasoning_content back
  if (fmt === 'openai') return { name: 'deepseek', api_base_url: mock.url('/v1/chat/completions'), api_key: 'sk-oai-upstream-e2e', models: ['main-model', 'sub-model', 'other-model'] };
  // gemini-3 ids: the family that requires thought signatures back
  return { name: 'gem', api_base_url: mock.url('/v1beta/models/'), api_key: 'gm-upstream-e2e', models: ['gemini-3-main', 'gemini-3-sub', 'gemini-3-other'] };
}

export function modelsOf(fmt) {
  return fmt === 'gemini' ? { main: 'gemini-3-main', sub: 'gemini-3-sub', other: 'gemini-3-other' } : { main: 'main-model', sub: 'sub-model', other: 'other-model' };
}

// A config with one provider per wire format in `fmts`, Router.default/subagent on `routeFmt`.
export function relayConfig(fmts, mock, routeFmt) {
  const providers = fmts.map((f) => providerFor(f, mock));
  const p = providerFor(routeFmt, mock);
  const m = modelsOf(routeFmt);
  return {
    LOG_LEVEL: process.env.CCRELAY_E2E_LOG_LEVEL || 'info',
    Providers: providers,
    Router: { default: `${p.name},${m.main}`, subagent: `${p.name},${m.sub}` },
  };
}

// Which wire formats this ccrelay translates: a one-off relay per format answers a small request
// through `mock`; a build without the translator says "does not support". Returns
// {fmt: null (supported) | reason (string)}.
export async function supportedFormats(mock, fmts) {
  const out = {};
  for (const f of fmts) {
    let relay;
    try {
      relay = await startRelay(relayConfig([f], mock, f));
      const r = await request(relay.port, { body: { model: 'claude-haiku-5-5', max_tokens: 16, messages: [{ role: 'user', content: '[e2e:probe] ping' }] } });
      if (r.status === 200) out[f] = null;
      else if (/does not support|not linked|not supported/i.test(r.body)) {
        let why = r.body.slice(0, 200);
        try { why = JSON.parse(r.body).error.message; } catch { /* keep the raw text */ }
        out[f] = `this ccrelay has no ${f} translator yet (HTTP ${r.status}: ${why}); the ${f} scenarios run once it is on main`;
      }
      else out[f] = null; // a real failure: let the scenarios fail and say why
    } catch (e) {
      out[f] = null;
      process.stderr.write(`# probe of the ${f} wire format failed: ${e.message}\n`);
    } finally {
      if (relay) await relay.stop().catch(() => {});
    }
  }
  return out;
}
