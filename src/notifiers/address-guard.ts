/**
 * Keeps webhooks away from private destinations (SSRF). Users choose webhook URLs, and without
 * this guard one could point Tickler at its own database, a cloud metadata service or anything
 * else on the internal network. Two checks: `checkWebhookUrl` when a URL is submitted (and again
 * before each delivery), and `createGuardedLookup` at connect time, which covers DNS names that
 * resolve to private addresses, including names re-pointed after they were checked (DNS rebinding).
 */
import dns from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';

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

const WELL_KNOWN_NAT64 = ipaddr.parseCIDR('64:ff9b::/96');

/** IPv4 by ipaddr.js's special ranges: loopback and 0/8 (this host on Linux), else anything not plain unicast. */
function classifyIPv4(address: ipaddr.IPv4): AddressClass {
  const range = address.range();
  if (range === 'loopback' || range === 'unspecified') return 'loopback';
  return range === 'unicast' ? 'public' : 'private';
}

/** The IPv4 address held in 32 bits of an IPv6 address, starting at 16-bit group `from`. */
function embeddedIPv4(address: ipaddr.IPv6, from: number): ipaddr.IPv4 {
  const [high = 0, low = 0] = address.parts.slice(from, from + 2);
  return new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
}

function classifyIPv6(address: ipaddr.IPv6): AddressClass {
  const range = address.range();
  if (range === 'loopback' || range === 'unspecified') return 'loopback';
  // These carry an IPv4 address that the connection (or the gateway translating it) really reaches.
  if (address.match(WELL_KNOWN_NAT64)) return classifyIPv4(embeddedIPv4(address, 6));
  if (range === '6to4') return classifyIPv4(embeddedIPv4(address, 1));
  // The deprecated IPv4-compatible ::a.b.c.d, which ipaddr.js counts as unicast.
  if (address.parts.slice(0, 6).every((part) => part === 0)) return 'private';
  return range === 'unicast' ? 'public' : 'private';
}

/**
 * Classifies an IP address, ranges from ipaddr.js; text that is not an IP address counts as private
 * (fail closed). IPv4-mapped IPv6 (::ffff:a.b.c.d) is an IPv4 connection and is judged as one.
 */
export function classifyAddress(ip: string): AddressClass {
  const bare = ip.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  // isIP first: ipaddr.js also accepts the legacy spellings (0x7f.1, 2130706433) that Node would not connect to as such.
  if (isIP(bare) === 0) return 'private';
  const address = ipaddr.process(bare);
  return address.kind() === 'ipv4' ? classifyIPv4(address as ipaddr.IPv4) : classifyIPv6(address as ipaddr.IPv6);
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
  // Port 0 is reserved (no server listens on it; connect() picks nothing meaningful). WHATWG URL
  // drops a default port, so `parsed.port` is '' for those.
  if (parsed.port === '0') return 'port 0 is not a valid destination';
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
