// Serves the client-only Trunk build (target/spa) the way `trunk serve` does: static files,
// index.html for every other path (client-side routes), and /api/ proxied to the running
// vcore server. Used by the browser tests to check that the SPA works against the server.
//   node spa-server.mjs <port> <dist dir> <backend origin>
import { createServer, request } from 'node:http';
import { connect } from 'node:net';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

const [port, dist, backend] = [Number(process.argv[2]), path.resolve(process.argv[3]), new URL(process.argv[4])];
const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css', '.svg': 'image/svg+xml', '.txt': 'text/plain' };

createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname.startsWith('/api/')) {
    // Like trunk's proxy: the Host header names the backend; Origin is left as the browser sent it.
    const headers = { ...req.headers, host: backend.host };
    const upstream = request({ host: backend.hostname, port: backend.port, path: req.url, method: req.method, headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => { res.writeHead(502); res.end('backend unreachable'); });
    req.pipe(upstream);
    return;
  }
  const file = path.join(dist, path.normalize(url.pathname));
  const inside = file.startsWith(dist + path.sep);
  const ext = path.extname(file);
  try {
    if (!inside || !ext) throw new Error('not a file');
    const body = await readFile(file);
    res.writeHead(200, { 'content-type': types[ext] ?? 'application/octet-stream' });
    res.end(body);
  } catch {
    if (ext) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(await readFile(path.join(dist, 'index.html')));
  }
}).on('upgrade', (req, socket, head) => {
  // WebSockets under /api/ (the live job queue): replay the request to the backend, then
  // pipe both ways.
  if (!req.url.startsWith('/api/')) { socket.destroy(); return; }
  const upstream = connect(Number(backend.port), backend.hostname, () => {
    const lines = [`${req.method} ${req.url} HTTP/1.1`];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const [k, v] = [req.rawHeaders[i], req.rawHeaders[i + 1]];
      lines.push(`${k}: ${k.toLowerCase() === 'host' ? backend.host : v}`);
    }
    upstream.write(lines.join('\r\n') + '\r\n\r\n');
    if (head.length) upstream.write(head);
    upstream.pipe(socket);
    socket.pipe(upstream);
  });
  upstream.on('error', () => socket.destroy());
  socket.on('error', () => upstream.destroy());
}).listen(port, '127.0.0.1');
