// A scripted model behind three wire formats, for the real-client tests.
//
// One HTTP server on 127.0.0.1 plays the upstream of every ccrelay provider of a test: the URL
// says which wire format a request is in (…/messages: Anthropic, …/chat/completions: OpenAI Chat
// Completions, …/models/<m>:(stream)GenerateContent: Gemini). Each request is first read into one
// format-neutral view (`parseRequest`), then `decide` picks the answer from that view alone (the
// scenario marker `[e2e:<name>]` in the user's prompt, and what the conversation holds so far),
// and an encoder writes that answer in the request's wire format, streamed or not.
//
// An answer is { thinking?: {text, signature}, text?, call?: {name, input} }, or
// { fail: {status, retryAfter, message} } (an HTTP error before any byte of the answer), or
// { breakAfterFirst: true, ...answer } (the first event of the stream, then the socket is cut), or
// { endAfterFirst: true, ...answer } (the first event, then a clean end of the HTTP body).
import { mockUpstream } from '../lib.mjs';

export const FORMATS = ['anthropic', 'openai', 'gemini'];

// Gemini thought signatures are base64: ccrelay decodes and re-encodes them inside the tool id,
// so the test uses a valid base64 value and expects it back byte for byte.
export const GEMINI_SIGNATURE = Buffer.from('e2e-thought-signature-0001').toString('base64');
export const ANTHROPIC_SIGNATURE = 'EqQBCkgIBxABGAIiQE2E-mock-signature-0001';
export const THINKING_TEXT = 'The user wants the shell to print a word; running echo first is the safest way.';

export function formatOf(url) {
  if (/\/chat\/completions(\?|$)/.test(url)) return 'openai';
  if (/:(stream)?generateContent/i.test(url)) return 'gemini';
  if (/\/messages(\?|$)/.test(url)) return 'anthropic';
  return null;
}

function textOf(content) {
  if (content == null) return '';
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((b) => (typeof b === 'string' ? b : b?.text ?? '')).join('\n');
  return '';
}

// The request as the brain sees it, whatever its wire format:
// { format, model, stream, tools: [names], toolDefs: [raw declarations], wantsJson,
//   turns: [{ role: 'user'|'assistant'|'system', parts: [
//     {kind:'text', text} | {kind:'thinking', text, signature} |
//     {kind:'call', id, name, input, signature} | {kind:'result', id, name, text, refs: [names]} ]}] }
export function parseRequest(rec) {
  const format = formatOf(rec.url);
  const b = rec.body || {};
  const v = { format, model: null, stream: false, tools: [], toolDefs: [], wantsJson: false, turns: [] };
  if (format === 'anthropic') {
    v.model = b.model;
    v.stream = b.stream === true;
    v.toolDefs = b.tools || [];
    v.tools = v.toolDefs.map((t) => t.name);
    v.wantsJson = !!(b.output_config?.format || b.output_format);
    for (const m of b.messages || []) {
      const parts = [];
      const blocks = typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : (m.content || []);
      for (const x of blocks) {
        if (x.type === 'text') parts.push({ kind: 'text', text: x.text });
        else if (x.type === 'thinking') parts.push({ kind: 'thinking', text: x.thinking, signature: x.signature });
        else if (x.type === 'redacted_thinking') parts.push({ kind: 'thinking', text: '', signature: x.data });
        else if (x.type === 'tool_use') parts.push({ kind: 'call', id: x.id, name: x.name, input: x.input });
        else if (x.type === 'tool_result') {
          const c = typeof x.content === 'string' ? [{ type: 'text', text: x.content }] : (x.content || []);
          parts.push({ kind: 'result', id: x.tool_use_id, text: textOf(c.filter((y) => y.type === 'text')),
            refs: c.filter((y) => y.type === 'tool_reference').map((y) => y.tool_name) });
        }
      }
      v.turns.push({ role: m.role, parts });
    }
  } else if (format === 'openai') {
    v.model = b.model;
    v.stream = b.stream === true;
    v.toolDefs = b.tools || [];
    v.tools = v.toolDefs.map((t) => t.function?.name);
    v.wantsJson = !!b.response_format;
    for (const m of b.messages || []) {
      if (m.role === 'tool') {
        const part = { kind: 'result', id: m.tool_call_id, text: textOf(m.content), refs: [] };
        const last = v.turns.at(-1);
        if (last && last.role === 'user' && last.fromTool) last.parts.push(part);
        else v.turns.push({ role: 'user', fromTool: true, parts: [part] });
        continue;
      }
      const parts = [];
      if (m.role === 'assistant' && 'reasoning_content' in m) parts.push({ kind: 'thinking', text: m.reasoning_content, signature: null });
      const t = textOf(m.content);
      if (t) parts.push({ kind: 'text', text: t });
      for (const c of m.tool_calls || []) {
        let input;
        try { input = JSON.parse(c.function?.arguments || '{}'); } catch { input = { _unparsed: c.function?.arguments }; }
        parts.push({ kind: 'call', id: c.id, name: c.function?.name, input });
      }
      v.turns.push({ role: m.role, parts });
    }
  } else if (format === 'gemini') {
    const m = rec.url.match(/\/models\/([^:/?]+):(stream)?generateContent/i);
    v.model = m ? decodeURIComponent(m[1]) : null;
    v.stream = !!(m && m[2]);
    v.toolDefs = (b.tools || []).flatMap((t) => t.functionDeclarations || []);
    v.tools = v.toolDefs.map((f) => f.name);
    v.wantsJson = b.generationConfig?.responseMimeType === 'application/json';
    for (const c of b.contents || []) {
      const parts = [];
      for (const p of c.parts || []) {
        if (p.functionCall) parts.push({ kind: 'call', id: p.functionCall.id ?? null, name: p.functionCall.name, input: p.functionCall.args ?? {}, signature: p.thoughtSignature ?? null });
        else if (p.functionResponse) {
          const r = p.functionResponse.response || {};
          parts.push({ kind: 'result', id: p.functionResponse.id ?? null, name: p.functionResponse.name,
            text: typeof r.output === 'string' ? r.output : (typeof r.error === 'string' ? r.error : JSON.stringify(r)), refs: [] });
        } else if (typeof p.text === 'string') parts.push(p.thought ? { kind: 'thinking', text: p.text, signature: p.thoughtSignature ?? null } : { kind: 'text', text: p.text });
      }
      v.turns.push({ role: c.role === 'model' ? 'assistant' : 'user', parts });
    }
  }
  return v;
}

// All user text of the conversation (tool results excluded), where the scenario marker lives.
export function userText(v) {
  return v.turns.filter((t) => t.role === 'user').flatMap((t) => t.parts).filter((p) => p.kind === 'text').map((p) => p.text).join('\n');
}

export function scenarioOf(v) {
  const t = userText(v);
  if (t.includes('[e2e:subtask]')) return 'subtask'; // a subagent's own conversation
  const m = t.match(/\[e2e:([a-z0-9-]+)\]/);
  return m ? m[1] : null;
}

// Tool results sent after the model's last turn (what the model is answering now).
export function pendingResults(v) {
  let i = v.turns.length - 1;
  while (i >= 0 && v.turns[i].role !== 'assistant') i--;
  return v.turns.slice(i + 1).flatMap((t) => t.parts).filter((p) => p.kind === 'result');
}

// The model's previous turn (the last assistant turn), or null.
export function lastAssistant(v) {
  for (let i = v.turns.length - 1; i >= 0; i--) if (v.turns[i].role === 'assistant') return v.turns[i];
  return null;
}

const BASH_ECHO = { name: 'Bash', input: { command: 'echo hi', description: 'Print hi' } };

// The scripted behaviour. `attempt` counts the requests of this scenario so far (1 = first).
export function decide(v, attempt) {
  const sc = scenarioOf(v);
  const results = pendingResults(v);
  if (v.wantsJson) return { text: '{"title":"E2E session","isNewTopic":true}' }; // title and other structured side calls
  switch (sc) {
    case 'plain':
      return { text: `PLAIN-ANSWER from ${v.model}` };
    case 'tool':
      if (!results.length) return { text: 'I will run it.', call: BASH_ECHO };
      return { text: `Bash said: ${results[0].text.trim()}` };
    case 'think':
      if (!results.length) return { thinking: { text: THINKING_TEXT, signature: v.format === 'gemini' ? GEMINI_SIGNATURE : ANTHROPIC_SIGNATURE }, call: BASH_ECHO };
      return { text: `THOUGHT-THEN-SAW: ${results[0].text.trim()}` };
    case 'toolsearch':
      if (!v.tools.includes('ToolSearch')) return { text: 'NO-TOOLSEARCH-DECLARED' };
      if (!results.length) return { text: 'Loading a tool.', call: { name: 'ToolSearch', input: { query: 'select:WebFetch', max_results: 5 } } };
      return { text: v.tools.includes('WebFetch') ? 'TOOLSEARCH-DONE: WebFetch declared' : 'TOOLSEARCH-DONE: WebFetch missing' };
    case 'subagent':
      if (!results.length) {
        return { text: 'Delegating.', call: { name: 'Agent', input: { description: 'Find the secret word', prompt: '[e2e:subtask] Report the secret word.', subagent_type: 'Explore', run_in_background: false } } };
      }
      return { text: `Agent reported: ${results.map((r) => r.text).join(' ').replace(/\s+/g, ' ').trim()}` };
    case 'subtask':
      return { text: 'The secret word is PINEAPPLE.' };
    case 'ratelimit':
      if (attempt === 1) return { fail: { status: 429, retryAfter: 1, message: 'Rate limit exceeded: e2e mock says wait one second' } };
      return { text: `ANSWER-AFTER-429 (attempt ${attempt})` };
    case 'broken':
      if (attempt === 1) return { breakAfterFirst: true, text: 'This answer will be cut off here' };
      return { text: `ANSWER-AFTER-BREAK (attempt ${attempt})` };
    case 'truncated':
      if (attempt === 1) return { endAfterFirst: true, text: 'This answer will end early here' };
      return { text: `ANSWER-AFTER-TRUNCATION (attempt ${attempt})` };
    case 'model':
      return { text: `MODEL-ANSWER from ${v.model}` };
    case 'sdk-text':
      return { text: 'SDK text answer: 2 + 2 = 4.' };
    case 'sdk-tool':
      return { text: 'Let me look that up.', call: { name: 'get_weather', input: { city: 'Paris', units: 'celsius', days: [1, 2], detail: { wind: true, note: 'a "quoted" word, ünïcødé' } } } };
    default:
      return { text: 'OK.' };
  }
}

// ---------------------------------------------------------------- encoders, one per wire format

const usage = { input_tokens: 321, output_tokens: 12 };

function anthropicEvents(v, a) {
  const ev = [];
  const content = [];
  ev.push(['message_start', { type: 'message_start', message: { id: 'msg_e2e0000000000000000000001', type: 'message', role: 'assistant', model: v.model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: usage.input_tokens, output_tokens: 1 } } }]);
  let i = 0;
  if (a.thinking) {
    ev.push(['content_block_start', { type: 'content_block_start', index: i, content_block: { type: 'thinking', thinking: '', signature: '' } }]);
    ev.push(['content_block_delta', { type: 'content_block_delta', index: i, delta: { type: 'thinking_delta', thinking: a.thinking.text } }]);
    ev.push(['content_block_delta', { type: 'content_block_delta', index: i, delta: { type: 'signature_delta', signature: a.thinking.signature } }]);
    ev.push(['content_block_stop', { type: 'content_block_stop', index: i++ }]);
    content.push({ type: 'thinking', thinking: a.thinking.text, signature: a.thinking.signature });
  }
  if (a.text) {
    ev.push(['content_block_start', { type: 'content_block_start', index: i, content_block: { type: 'text', text: '' } }]);
    const cut = Math.ceil(a.text.length / 2);
    ev.push(['content_block_delta', { type: 'content_block_delta', index: i, delta: { type: 'text_delta', text: a.text.slice(0, cut) } }]);
    ev.push(['content_block_delta', { type: 'content_block_delta', index: i, delta: { type: 'text_delta', text: a.text.slice(cut) } }]);
    ev.push(['content_block_stop', { type: 'content_block_stop', index: i++ }]);
    content.push({ type: 'text', text: a.text });
  }
  if (a.call) {
    const id = 'toolu_e2e00000000000000000001';
    const json = JSON.stringify(a.call.input);
    const cut = Math.ceil(json.length / 3);
    ev.push(['content_block_start', { type: 'content_block_start', index: i, content_block: { type: 'tool_use', id, name: a.call.name, input: {} } }]);
    ev.push(['content_block_delta', { type: 'content_block_delta', index: i, delta: { type: 'input_json_delta', partial_json: json.slice(0, cut) } }]);
    ev.push(['content_block_delta', { type: 'content_block_delta', index: i, delta: { type: 'input_json_delta', partial_json: json.slice(cut) } }]);
    ev.push(['content_block_stop', { type: 'content_block_stop', index: i++ }]);
    content.push({ type: 'tool_use', id, name: a.call.name, input: a.call.input });
  }
  const stop = a.call ? 'tool_use' : 'end_turn';
  ev.push(['message_delta', { type: 'message_delta', delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: usage.output_tokens } }]);
  ev.push(['message_stop', { type: 'message_stop' }]);
  const message = { id: 'msg_e2e0000000000000000000001', type: 'message', role: 'assistant', model: v.model, content, stop_reason: stop, stop_sequence: null, usage };
  return { events: ev.map(([e, d]) => `event: ${e}\ndata: ${JSON.stringify(d)}\n\n`), message };
}

function openaiEvents(v, a) {
  const base = { id: 'chatcmpl-e2e1', object: 'chat.completion.chunk', created: 1764000000, model: v.model };
  const chunk = (delta, finish = null) => `data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  const out = [];
  if (a.thinking) {
    out.push(chunk({ role: 'assistant', content: '', reasoning_content: a.thinking.text.slice(0, 20) }));
    out.push(chunk({ reasoning_content: a.thinking.text.slice(20) }));
  }
  if (a.text) {
    const cut = Math.ceil(a.text.length / 2);
    out.push(chunk({ role: 'assistant', content: a.text.slice(0, cut) }));
    out.push(chunk({ content: a.text.slice(cut) }));
  }
  const msg = { role: 'assistant', content: a.text || null };
  if (a.thinking) msg.reasoning_content = a.thinking.text;
  if (a.call) {
    const json = JSON.stringify(a.call.input);
    const cut = Math.ceil(json.length / 3);
    out.push(chunk({ tool_calls: [{ index: 0, id: 'call_e2e_1', type: 'function', function: { name: a.call.name, arguments: '' } }] }));
    out.push(chunk({ tool_calls: [{ index: 0, function: { arguments: json.slice(0, cut) } }] }));
    out.push(chunk({ tool_calls: [{ index: 0, function: { arguments: json.slice(cut) } }] }));
    msg.tool_calls = [{ id: 'call_e2e_1', type: 'function', function: { name: a.call.name, arguments: json } }];
  }
  const finish = a.call ? 'tool_calls' : 'stop';
  out.push(chunk({}, finish));
  const u = { prompt_tokens: usage.input_tokens, completion_tokens: usage.output_tokens, total_tokens: usage.input_tokens + usage.output_tokens };
  out.push(`data: ${JSON.stringify({ ...base, choices: [], usage: u })}\n\n`);
  out.push('data: [DONE]\n\n');
  const message = { id: 'chatcmpl-e2e1', object: 'chat.completion', created: 1764000000, model: v.model, choices: [{ index: 0, message: msg, finish_reason: finish }], usage: u };
  return { events: out, message };
}

function geminiEvents(v, a) {
  const um = (done) => ({ promptTokenCount: usage.input_tokens, candidatesTokenCount: done ? usage.output_tokens : 1, totalTokenCount: usage.input_tokens + (done ? usage.output_tokens : 1) });
  const ev = (parts, finish) => `data: ${JSON.stringify({ candidates: [{ content: { role: 'model', parts }, ...(finish ? { finishReason: finish } : {}), index: 0 }], usageMetadata: um(!!finish), modelVersion: v.model, responseId: 'e2e-resp-1' })}\r\n\r\n`;
  const out = [];
  const all = [];
  if (a.thinking) {
    const p = { text: a.thinking.text, thought: true };
    out.push(ev([p]));
    all.push(p);
  }
  if (a.text) {
    const cut = Math.ceil(a.text.length / 2);
    out.push(ev([{ text: a.text.slice(0, cut) }]));
    out.push(ev([{ text: a.text.slice(cut) }]));
    all.push({ text: a.text });
  }
  if (a.call) {
    const p = { functionCall: { name: a.call.name, args: a.call.input } };
    if (a.thinking) p.thoughtSignature = a.thinking.signature;
    out.push(ev([p]));
    all.push(p);
  }
  out.push(ev([{ text: '' }], 'STOP'));
  const message = { candidates: [{ content: { role: 'model', parts: all }, finishReason: 'STOP', index: 0 }], usageMetadata: um(true), modelVersion: v.model, responseId: 'e2e-resp-1' };
  return { events: out, message };
}

const ENCODERS = { anthropic: anthropicEvents, openai: openaiEvents, gemini: geminiEvents };

function errorBody(format, status, message) {
  if (format === 'anthropic') return { type: 'error', error: { type: status === 429 ? 'rate_limit_error' : 'api_error', message } };
  if (format === 'openai') return { error: { message, type: status === 429 ? 'rate_limit_exceeded' : 'server_error', code: status === 429 ? 'rate_limit_exceeded' : null } };
  return { error: { code: status, message, status: status === 429 ? 'RESOURCE_EXHAUSTED' : 'INTERNAL' } };
}

// Write the answer `a` to `res` for the request view `v`.
export function writeAnswer(v, a, res) {
  if (a.fail) {
    const h = { 'content-type': 'application/json' };
    if (a.fail.retryAfter != null) h['retry-after'] = String(a.fail.retryAfter);
    res.writeHead(a.fail.status, h);
    res.end(JSON.stringify(errorBody(v.format, a.fail.status, a.fail.message)));
    return;
  }
  const { events, message } = ENCODERS[v.format](v, a);
  if (!v.stream) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(message));
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  if (a.breakAfterFirst) {
    // The first event (for the translated formats it carries text, so the translator has committed
    // the client's stream), then the socket dies.
    res.write(events[0], () => setTimeout(() => res.socket?.destroy(), 50));
    return;
  }
  if (a.endAfterFirst) {
    res.end(events[0]); // a complete HTTP body that holds only the first event
    return;
  }
  res.end(events.join(''));
}

// The mock upstream: every request is recorded with its parsed view, scenario and answer.
// `extra(rec, res)` may answer a request itself (return true), e.g. to script a test's own case.
export async function mockModel({ extra } = {}) {
  const attempts = new Map();
  const mock = await mockUpstream((req, res, rec) => {
    if (extra && extra(rec, res)) return;
    const format = formatOf(rec.url);
    if (!format || req.method !== 'POST') {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `mock model: no route for ${req.method} ${rec.url}` } }));
      return;
    }
    const v = parseRequest(rec);
    const sc = scenarioOf(v);
    const key = `${sc}|${v.format}`;
    const n = v.wantsJson ? 0 : (attempts.get(key) || 0) + 1; // side calls do not count
    if (n) attempts.set(key, n);
    const a = decide(v, n);
    rec.view = v;
    rec.scenario = sc;
    rec.answer = a;
    writeAnswer(v, a, res);
  });
  mock.forScenario = (sc) => mock.requests.filter((r) => r.scenario === sc);
  return mock;
}
