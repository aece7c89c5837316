// The load generator, in its own process. Prints one JSON line with its result.
//   node bench/lib/load.mjs '{"mode":"cannon","url":"http://127.0.0.1:P/execute","connections":10,"seconds":4}'
// mode "cannon": autocannon (its API) → { rps, p50, p99, non2xx, errors } (latencies in ms).
// mode "latency": a keep-alive node:http client with `connections` loops, each request timed
//   with performance.now() (µs resolution, unlike autocannon's ms histogram) → { rps, p50, p99 }.
// spin: n requests running `while (true) {}` opened first and held open during the run.
import http from 'node:http';

const cfg = JSON.parse(process.argv[2]);
const body = cfg.body ?? '{"code":"return 1 + 2"}';
const headers = { 'content-type': 'application/json', ...(cfg.headers ?? {}) };

function post(agent, payload, onResponse) {
  return new Promise((resolve, reject) => {
    const req = http.request(cfg.url, { method: 'POST', agent, headers: { ...headers, 'content-length': Buffer.byteLength(payload) } }, (res) => {
      if (onResponse) return onResponse(res, req, resolve);
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () =>
        res.statusCode === 200 && text.includes('"final"') ? resolve(text) : reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`)),
      );
    });
    req.on('error', reject);
    req.end(payload);
  });
}

const spinners = [];
if (cfg.spin) {
  // Sent, not awaited: an inline broker spins on the thread that would answer them.
  const payload = JSON.stringify({ code: 'while (true) {}' });
  for (let i = 0; i < cfg.spin; i++) {
    const req = http.request(cfg.url, { method: 'POST', agent: false, headers: { ...headers, 'content-length': Buffer.byteLength(payload) } });
    req.on('error', () => {});
    req.on('response', (res) => res.resume());
    req.end(payload);
    spinners.push(req);
  }
  await new Promise((r) => setTimeout(r, 300));
}

let result;
if (cfg.mode === 'cannon') {
  const { default: autocannon } = await import('autocannon');
  const r = await autocannon({ url: cfg.url, method: 'POST', connections: cfg.connections, duration: cfg.seconds, headers, body });
  result = { rps: r.requests.average, total: r.requests.total, p50: r.latency.p50, p99: r.latency.p99, non2xx: r.non2xx, errors: r.errors + r.timeouts };
} else {
  const agent = new http.Agent({ keepAlive: true, maxSockets: cfg.connections });
  const times = [];
  let errors = 0;
  let unanswered = 0;
  const until = performance.now() + cfg.seconds * 1000;
  // A request still unanswered this long after the run's end counts as unanswered (P1: a
  // spinning guest may hold every worker).
  const TIMED_OUT = new Error('unanswered');
  let hardTimer;
  const hardStop = new Promise((_, reject) => (hardTimer = setTimeout(() => reject(TIMED_OUT), cfg.seconds * 1000 + (cfg.graceMs ?? 5000))));
  hardStop.catch(() => {});
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: cfg.connections }, async () => {
      while (performance.now() < until) {
        const s = performance.now();
        try {
          await Promise.race([post(agent, body), hardStop]);
          times.push(performance.now() - s);
        } catch (err) {
          if (err === TIMED_OUT) {
            unanswered++;
            return;
          }
          if (++errors === 1) console.error(String(err));
        }
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  times.sort((a, b) => a - b);
  const q = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))];
  clearTimeout(hardTimer);
  // Unanswered requests sort last (as infinitely slow).
  for (let i = 0; i < unanswered; i++) times.push(Infinity);
  result = { rps: (times.length - unanswered) / elapsed, total: times.length, p50: q(0.5), p99: q(0.99), max: times.at(-1), unanswered, non2xx: 0, errors };
  agent.destroy();
}
for (const req of spinners) req.destroy();
process.stdout.write(`${JSON.stringify(result, (_k, v) => (v === Infinity ? 'Infinity' : v))}\n`);
process.exit(0);
