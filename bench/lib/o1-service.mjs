// O1's service, in its own process: a plain node:http server on 127.0.0.1 answering
// GET /pets/:id with a small JSON body (with Content-Length, keep-alive). Prints its URL on
// the first stdout line; exits when stdin closes.
import http from 'node:http';

const server = http.createServer((req, res) => {
  const m = /^\/pets\/(\d+)$/.exec(req.url ?? '');
  if (req.method !== 'GET' || !m) {
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"not found"}');
    return;
  }
  const body = JSON.stringify({ pet: { id: Number(m[1]), name: 'Rex', tag: 'dog' }, requestId: null, apiKey: null });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`http://127.0.0.1:${server.address().port}\n`));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
