// A mock Anthropic-format upstream for the container test, on 127.0.0.1 (the container shares
// the host's network). Prints its port on stdout, then one JSON line per request on stderr.
import { mockUpstream, sse, anthropicTextEvents } from '../e2e/lib.mjs';

export const ANSWER = 'Hello from the mock upstream, through ccrelay in the container.';

const mock = await mockUpstream((req, res, rec) => {
  process.stderr.write(`${JSON.stringify({ method: rec.method, url: rec.url, model: rec.body?.model ?? null,
    stream: rec.body?.stream ?? null, auth: rec.headers['x-api-key'] ?? rec.headers.authorization ?? null })}\n`);
  if (rec.body?.stream) {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end(sse(anthropicTextEvents(rec.body.model, ANSWER)));
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ id: 'msg_01MOCK', type: 'message', role: 'assistant', model: rec.body?.model,
    content: [{ type: 'text', text: ANSWER }], stop_reason: 'end_turn', stop_sequence: null,
    usage: { input_tokens: 12, output_tokens: 9 } }));
});
process.stdout.write(`${mock.port}\n`);
process.on('SIGTERM', async () => { await mock.close(); process.exit(0); });
