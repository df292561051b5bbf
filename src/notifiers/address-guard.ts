/**
 * Keeps webhooks away from private destinations (SSRF). Users choose webhook URLs, and without
 * this guard one could point Tickler at its own database, a cloud metadata service or anything
 * else on the internal network. Two checks: `checkWebhookUrl` when a URL is submitted (and again
 * before each delivery), and `createGuardedLookup` at connect time, which covers DNS names that
 * resolve to private addresses, including names re-pointed after they were checked (DNS rebinding).
 */
import dns from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';

export interface AddressPolicy {
  /** Allow private, link-local, CGNAT, multicast and reserved ranges (a trusted internal deployment). */
  allowPrivate: boolean;
  /** Allow this machine: 127/8, ::1 and the unspecified addresses (tests and local development). */
  allowLoopback: boolean;
}

export const STRICT_POLICY: AddressPolicy = { allowPrivate: false, allowLoopback: false };

export const MAX_WEBHOOK_URL_LENGTH = 2048;

/** `loopback` reaches this machine; `private` is any other address that is not on the public internet. */
export type AddressClass = 'public' | 'loopback' | 'private';

function parseIPv4(ip: string): number[] {
  return ip.split('.').map(Number);
}

/** Eight 16-bit groups; expects text that `isIP` already accepted as IPv6 (zone id removed). */
function parseIPv6(ip: string): number[] {
  // A dotted IPv4 tail (::ffff:1.2.3.4) stands for the last two groups: rewrite it as hex.
  const text = ip.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_match, a: string, b: string, c: string, d: string) => {
    const hex = (high: string, low: string) => ((Number(high) << 8) | Number(low)).toString(16);
    return `${hex(a, b)}:${hex(c, d)}`;
  });
  const groups = (part: string) => (part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)));
  const [head = '', tail] = text.split('::');
  if (tail === undefined) return groups(head);
  const left = groups(head);
  const right = groups(tail);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

function classifyIPv4([a = 0, b = 0, c = 0]: number[]): AddressClass {
  if (a === 127 || a === 0) return 'loopback'; // 0.0.0.0/8 connects to this host on Linux
  if (a === 10) return 'private';
  if (a === 172 && b >= 16 && b <= 31) return 'private';
  if (a === 192 && b === 168) return 'private';
  if (a === 169 && b === 254) return 'private'; // link-local, home of cloud metadata services
  if (a === 100 && b >= 64 && b <= 127) return 'private'; // carrier-grade NAT
  if (a === 192 && b === 0 && (c === 0 || c === 2)) return 'private'; // IETF assignments, documentation
  if (a === 198 && (b === 18 || b === 19)) return 'private'; // benchmarking
  if ((a === 198 && b === 51 && c === 100) || (a === 203 && b === 0 && c === 113)) return 'private'; // documentation
  if (a >= 224) return 'private'; // multicast, reserved, broadcast
  return 'public';
}

function classifyIPv6(g: number[]): AddressClass {
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = g;
  const embedded = [g6 >> 8, g6 & 0xff, g7 >> 8, g7 & 0xff];
  const upperZero = g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0;
  if (upperZero && g5 === 0 && g6 === 0 && (g7 === 0 || g7 === 1)) return 'loopback'; // :: and ::1
  if (upperZero && g5 === 0xffff) return classifyIPv4(embedded); // IPv4-mapped: really an IPv4 connection
  if (upperZero && g5 === 0) return 'private'; // deprecated IPv4-compatible ::a.b.c.d
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) {
    return classifyIPv4(embedded); // NAT64: the gateway connects to the embedded IPv4 address
  }
  if (g0 === 0x2002) return classifyIPv4([g1 >> 8, g1 & 0xff, g2 >> 8, g2 & 0xff]); // 6to4
  if (g0 === 0x64 && g1 === 0xff9b) return 'private'; // local-use NAT64
  if (g0 === 0x100 && g1 === 0 && g2 === 0 && g3 === 0) return 'private'; // discard-only
  if (g0 === 0x2001 && (g1 === 0 || g1 === 0xdb8)) return 'private'; // Teredo, documentation
  if ((g0 & 0xfe00) === 0xfc00) return 'private'; // unique-local fc00::/7
  if ((g0 & 0xffc0) === 0xfe80 || (g0 & 0xffc0) === 0xfec0) return 'private'; // link-local, old site-local
  if ((g0 & 0xff00) === 0xff00) return 'private'; // multicast
  return 'public';
}

/** Classifies an IP address; text that is not an IP address counts as private (fail closed). */
export function classifyAddress(ip: string): AddressClass {
  const bare = ip.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  switch (isIP(bare)) {
    case 4:
      return classifyIPv4(parseIPv4(bare));
    case 6:
      return classifyIPv6(parseIPv6(bare.toLowerCase()));
    default:
      return 'private';
  }
}

/** True for every address that is not on the public internet, loopback included. */
export function isPrivateAddress(ip: string): boolean {
  return classifyAddress(ip) !== 'public';
}

export function isAllowedAddress(ip: string, policy: AddressPolicy): boolean {
  const kind = classifyAddress(ip);
  if (kind === 'loopback') return policy.allowLoopback;
  if (kind === 'private') return policy.allowPrivate;
  return true;
}

/**
 * Why a submitted webhook URL is unacceptable, or null when it is fine. DNS names are not resolved
 * here (the answer could change before delivery anyway); the guarded lookup checks them.
 */
export function checkWebhookUrl(url: string, policy: AddressPolicy): string | null {
  if (url.length > MAX_WEBHOOK_URL_LENGTH) return `the URL is longer than ${MAX_WEBHOOK_URL_LENGTH} characters`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'not a valid URL';
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return 'only http and https URLs are allowed';
  if (parsed.username !== '' || parsed.password !== '') return 'credentials in the URL are not allowed';
  // The WHATWG parser has already normalised odd IPv4 spellings (0x7f.1, 2130706433) to dotted form.
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  if (host === '') return 'the URL has no host';
  if (isIP(host) !== 0) {
    if (!isAllowedAddress(host, policy)) return `the address ${host} is not publicly routable`;
    return null;
  }
  // RFC 6761: these names always mean this machine; refuse them early with a clear reason.
  const name = host.toLowerCase().replace(/\.$/, '');
  if (!policy.allowLoopback && (name === 'localhost' || name.endsWith('.localhost'))) {
    return 'localhost is not allowed';
  }
  return null;
}

/** A destination the policy forbids; never worth retrying. */
export class AddressRefusedError extends Error {
  readonly code = 'ERR_ADDRESS_REFUSED';
  constructor(hostname: string, address: string) {
    super(`${hostname} resolves to ${address}, which is not publicly routable`);
    this.name = 'AddressRefusedError';
  }
}

/**
 * A `lookup` for http.request / net.connect that resolves the name and refuses it when any of
 * its addresses is forbidden, so the address checked is the address connected to. Node calls
 * `lookup` only for names: IP literals must be checked with `checkWebhookUrl` first.
 */
export function createGuardedLookup(policy: AddressPolicy): LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, options.all ? [] : '');
      const refused = addresses.find((entry) => !isAllowedAddress(entry.address, policy));
      const first = addresses[0];
      if (refused) return callback(new AddressRefusedError(hostname, refused.address), options.all ? [] : '');
      if (!first) {
        const missing: NodeJS.ErrnoException = new Error(`${hostname} has no addresses`);
        missing.code = 'ENOTFOUND';
        return callback(missing, options.all ? [] : '');
      }
      // With autoSelectFamily (Node 20's default) net asks for every address; otherwise for one.
      if (options.all) return callback(null, addresses);
      return callback(null, first.address, first.family);
    });
  };
}
