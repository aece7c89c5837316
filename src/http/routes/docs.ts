import type { Hono } from 'hono';
import { openApiDocument } from '../openapi-document.js';
import type { AppEnv, HttpDeps } from '../types.js';

/** `GET /openapi.json` and `GET /docs` (unless the broker was built with `docs: false`). */
export function docsRoutes(app: Hono<AppEnv>, deps: HttpDeps): void {
  app.get('/openapi.json', (c) => {
    const path = c.req.path;
    const basePath = path.endsWith('/openapi.json') ? path.slice(0, -'/openapi.json'.length) : '';
    return c.json(
      openApiDocument({
        basePath,
        authentication: deps.authentication,
        rateLimiting: deps.rateLimiting,
        metrics: deps.metrics !== undefined,
      }),
    );
  });
  app.get('/docs', (c) => c.html(DOCS_PAGE, 200, { 'Cache-Control': 'no-cache', 'Content-Security-Policy': CSP }));
}

/** The page runs only its own inline script and talks only to this origin. */
const CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'";

/** A self-contained page: it loads nothing from the internet. */
export const DOCS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>enclave-broker API</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}
header{padding:12px 20px;background:#20232a;color:#fff}header h1{font-size:18px;margin:0}
main{max-width:1000px;margin:0 auto;padding:16px 20px}
.auth{display:flex;gap:8px;flex-wrap:wrap;align-items:center;margin-bottom:12px}
input,textarea{font:13px ui-monospace,monospace;padding:4px 6px;border:1px solid #bbb;border-radius:4px}
textarea{width:100%;box-sizing:border-box}
button{padding:5px 12px;border-radius:4px;border:1px solid #2b6cb0;background:#2b6cb0;color:#fff;cursor:pointer}
details{background:#fff;border:1px solid #ddd;border-radius:6px;margin:6px 0;padding:6px 10px}
summary{cursor:pointer}.m{display:inline-block;min-width:60px;font-weight:600;font-family:ui-monospace,monospace}
.get{color:#2f855a}.post{color:#2b6cb0}.delete{color:#c53030}.p{font-family:ui-monospace,monospace}
pre{background:#f3f3f3;padding:8px;overflow:auto;max-height:320px;font-size:12px}
.err{color:#c53030}
</style>
</head>
<body>
<header><h1>enclave-broker API</h1></header>
<main>
<div class="auth">
<label>Credential header <input id="hname" value="Authorization" size="14"></label>
<label>value <input id="hvalue" placeholder="Bearer …" size="36"></label>
<button id="load">Load API</button>
<span id="status"></span>
</div>
<section id="try">
<h2>Try POST /execute</h2>
<textarea id="code" rows="6">console.log('hello');
return 1 + 2;</textarea>
<p><button id="run">Run</button></p>
<pre id="out"></pre>
</section>
<h2>Routes</h2>
<div id="routes"></div>
</main>
<script>
(function () {
  var $ = function (id) { return document.getElementById(id); };
  function headers(extra) {
    var h = Object.assign({}, extra || {});
    var name = $('hname').value.trim(), value = $('hvalue').value.trim();
    if (name && value) h[name] = value;
    return h;
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function resolve(doc, schema) {
    if (schema && schema.$ref) return doc.components.schemas[schema.$ref.split('/').pop()];
    return schema;
  }
  function render(doc) {
    var root = $('routes');
    root.textContent = '';
    Object.keys(doc.paths).forEach(function (path) {
      var item = doc.paths[path];
      ['get', 'post', 'delete'].forEach(function (method) {
        var op = item[method];
        if (!op) return;
        var d = el('details');
        var s = el('summary');
        s.appendChild(el('span', 'm ' + method, method.toUpperCase()));
        s.appendChild(el('span', 'p', path + '  '));
        s.appendChild(el('span', '', op.summary || ''));
        d.appendChild(s);
        d.appendChild(el('p', '', op.description || ''));
        var params = (item.parameters || []).concat(op.parameters || []);
        if (params.length) {
          d.appendChild(el('h4', '', 'Parameters'));
          var ul = el('ul');
          params.forEach(function (p) { ul.appendChild(el('li', '', p.name + ' (' + p.in + (p.required ? ', required' : '') + ')' + (p.description ? ': ' + p.description : ''))); });
          d.appendChild(ul);
        }
        if (op.requestBody) {
          d.appendChild(el('h4', '', 'Request body'));
          d.appendChild(el('pre', '', JSON.stringify(resolve(doc, op.requestBody.content['application/json'].schema), null, 2)));
        }
        d.appendChild(el('h4', '', 'Responses'));
        var rl = el('ul');
        Object.keys(op.responses).forEach(function (status) {
          var r = op.responses[status];
          rl.appendChild(el('li', '', status + ' ' + Object.keys(r.content || {}).join(', ') + ': ' + r.description));
        });
        d.appendChild(rl);
        root.appendChild(d);
      });
    });
  }
  function load() {
    $('status').textContent = 'loading…';
    fetch('openapi.json', { headers: headers() }).then(function (res) {
      return res.json().then(function (body) {
        if (!res.ok) throw new Error(res.status + ' ' + (body.error ? body.error.code + ': ' + body.error.message : ''));
        $('status').textContent = body.info.title + ' ' + body.info.version;
        $('status').className = '';
        render(body);
      });
    }).catch(function (err) { $('status').textContent = String(err.message || err); $('status').className = 'err'; });
  }
  function run() {
    var out = $('out');
    out.textContent = '';
    fetch('execute', { method: 'POST', headers: headers({ 'Content-Type': 'application/json' }), body: JSON.stringify({ code: $('code').value }) })
      .then(function (res) {
        if (!res.body) return res.text().then(function (t) { out.textContent = t; });
        var reader = res.body.getReader(), decoder = new TextDecoder();
        out.textContent = 'HTTP ' + res.status + '\\n';
        function pump() {
          return reader.read().then(function (r) {
            if (r.done) return;
            out.textContent += decoder.decode(r.value, { stream: true });
            return pump();
          });
        }
        return pump();
      })
      .catch(function (err) { out.textContent += String(err); });
  }
  $('load').addEventListener('click', load);
  $('run').addEventListener('click', run);
  load();
})();
</script>
</body>
</html>
`;
