/**
 * SSRF guard: which URLs an OpenAPI action may send a request to.
 *
 * Blocked: loopback (127/8, ::1), private (10/8, 172.16/12, 192.168/16, fc00::/7), link-local
 * (169.254/16 — cloud metadata at 169.254.169.254 included — and fe80::/10), carrier-grade NAT
 * (100.64/10), "this network" (0/8, 0.0.0.0, ::), multicast and reserved ranges, IPv4 addresses
 * embedded in IPv6 (::ffff:a.b.c.d, ::a.b.c.d, 64:ff9b::/96), and the names `localhost`,
 * `*.localhost` and `*.internal` (`metadata.google.internal`). The one exception is the exact
 * host:port of the source's own configured `baseUrl`.
 *
 * Limits: host names are checked by name only, not by the addresses they resolve to. This
 * code runs on Cloudflare Workers too, which have no DNS API, so a public name that resolves
 * to a private address (or DNS rebinding) is not caught here; on Workers, outbound `fetch`
 * cannot reach private networks anyway. On Node, put an egress proxy or firewall in front
 * when that matters.
 */

/** Why a URL is refused, or undefined when it is allowed. */
export function blockedReason(url: URL): string | undefined {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `scheme ${url.protocol} is not allowed`;
  if (url.username || url.password) return 'credentials in the URL are not allowed';
  const host = url.hostname.toLowerCase().replace(/\.$/, '');
  if (host.startsWith('[')) {
    const v6 = parseIpv6(host.slice(1, -1));
    if (!v6) return `invalid IPv6 address ${host}`;
    return blockedIpv6(v6);
  }
  const v4 = parseIpv4(host);
  if (v4) return blockedIpv4(v4);
  if (host === 'localhost' || host.endsWith('.localhost')) return `${host} is a loopback name`;
  if (host === 'internal' || host.endsWith('.internal')) return `${host} is an internal name`;
  if (host === '') return 'empty host';
  return undefined;
}

/** `host:port` with the scheme's default port filled in, for comparing origins. */
export function hostPort(url: URL): string {
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return `${url.hostname.toLowerCase().replace(/\.$/, '')}:${port}`;
}

/**
 * Throws-free check for one request: allowed when public, or when it goes to exactly the
 * host:port of `trustedBase` (the source's configured `baseUrl`).
 */
export function checkUrl(url: URL, trustedBase?: URL): string | undefined {
  const reason = blockedReason(url);
  if (!reason) return undefined;
  if (trustedBase && hostPort(url) === hostPort(trustedBase) && (url.protocol === 'http:' || url.protocol === 'https:')) {
    return undefined;
  }
  return reason;
}

/** How many decisions a guard keeps (a source's calls go to one or a few hosts). */
const GUARD_MEMO = 64;

/**
 * `checkUrl` for one source, remembering its decisions: they depend only on the scheme, the
 * credentials and the host:port of a URL, so a source whose calls all go to its base URL
 * decides once instead of parsing the same host on every call.
 */
export function urlGuard(trustedBase?: URL): (url: URL) => string | undefined {
  const memo = new Map<string, string | undefined>();
  return (url) => {
    const key = `${url.protocol}//${url.username}:${url.password}@${url.host}`;
    if (memo.has(key)) return memo.get(key);
    const reason = checkUrl(url, trustedBase);
    if (memo.size >= GUARD_MEMO) memo.clear();
    memo.set(key, reason);
    return reason;
  };
}

function parseIpv4(host: string): number[] | undefined {
  // The WHATWG URL parser has already normalised 127.1, 0x7f.0.0.1 and 2130706433 to dotted quads.
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  return parts.every((p) => p <= 255) ? parts : undefined;
}

function blockedIpv4([a, b, c, d]: number[]): string | undefined {
  const ip = `${a}.${b}.${c}.${d}`;
  if (a === 127) return `${ip} is a loopback address`;
  if (a === 0) return `${ip} is a "this network" address`;
  if (a === 10 || (a === 172 && b! >= 16 && b! <= 31) || (a === 192 && b === 168)) return `${ip} is a private address`;
  if (a === 169 && b === 254) return `${ip} is a link-local (metadata) address`;
  if (a === 100 && b! >= 64 && b! <= 127) return `${ip} is a carrier-grade NAT address`;
  if (a === 192 && b === 0 && c === 0) return `${ip} is an IETF protocol address`;
  if (a === 198 && (b === 18 || b === 19)) return `${ip} is a benchmarking address`;
  if (a! >= 224) return `${ip} is a multicast or reserved address`;
  return undefined;
}

/**
 * Eight 16-bit groups, or undefined. The WHATWG URL parser has already put IPv6 hosts in
 * canonical form (hex groups, `::` compression, `::ffff:127.0.0.1` → `::ffff:7f00:1`).
 */
function parseIpv6(text: string): number[] | undefined {
  const halves = text.toLowerCase().split('::');
  if (halves.length > 2) return undefined;
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((g) => (/^[0-9a-f]{1,4}$/.test(g) ? parseInt(g, 16) : NaN)));
  const head = parse(halves[0]!);
  const tail = halves.length === 2 ? parse(halves[1]!) : [];
  const fill = halves.length === 2 ? 8 - head.length - tail.length : 0;
  if (fill < 0) return undefined;
  const groups = [...head, ...new Array<number>(fill).fill(0), ...tail];
  if (groups.length !== 8 || groups.some((g) => Number.isNaN(g))) return undefined;
  return groups;
}

function blockedIpv6(g: number[]): string | undefined {
  const [g0, g1, g2, g3, g4, g5, g6, g7] = g as [number, number, number, number, number, number, number, number];
  const zeroPrefix = g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0;
  if (zeroPrefix && g5 === 0 && g6 === 0 && g7 <= 1) return g7 === 1 ? '::1 is a loopback address' : ':: is an unspecified address';
  const embedded = [g6 >> 8, g6 & 0xff, g7 >> 8, g7 & 0xff];
  // ::ffff:a.b.c.d (mapped), ::a.b.c.d (compatible), 64:ff9b::a.b.c.d (NAT64)
  if ((zeroPrefix && (g5 === 0xffff || g5 === 0)) || (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0)) {
    const reason = blockedIpv4(embedded);
    return reason ? `IPv4 in IPv6: ${reason}` : undefined;
  }
  if ((g0 & 0xfe00) === 0xfc00) return 'fc00::/7 is a private (unique local) address';
  if ((g0 & 0xffc0) === 0xfe80) return 'fe80::/10 is a link-local address';
  if ((g0 & 0xffc0) === 0xfec0) return 'fec0::/10 is a site-local address';
  if ((g0 & 0xff00) === 0xff00) return 'ff00::/8 is a multicast address';
  return undefined;
}
