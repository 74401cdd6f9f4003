/**
 * Where `fetch` may go. A URL's host must be in the project's `allow_net`, and every address
 * it resolves to must be public: loopback, private, link-local, unique-local, multicast and
 * the other special-purpose ranges are refused (unless the server allows private addresses,
 * for local development), however the address is spelled.
 *
 * `allow_net` entries: `host` (any port), `host:port`, `*.domain` (subdomains of domain), or an
 * IP address (`[v6]` with a port).
 */
import ipaddr from "ipaddr.js";

export class NetworkRefusedError extends Error {}

/** True when the URL's host and port are in `allowNet`. */
export function hostAllowed(url: URL, allowNet: readonly string[]): boolean {
  const host = url.hostname.toLowerCase();
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  return allowNet.some((entry) => entryMatches(entry.trim().toLowerCase(), host, port));
}

function entryMatches(entry: string, host: string, port: string): boolean {
  let entryHost = entry;
  let entryPort: string | null = null;
  const v6 = /^(\[[^\]]+\])(?::(\d+))?$/.exec(entry);
  if (v6 !== null) {
    entryHost = v6[1]!;
    entryPort = v6[2] ?? null;
  } else if (/^[^:]+:\d+$/.test(entry)) {
    [entryHost, entryPort] = entry.split(":") as [string, string];
  }
  if (entryPort !== null && entryPort !== port) return false;
  // A wildcard matches names only, never an address that happens to end the same way.
  if (entryHost.startsWith("*.")) return !isAddress(host) && host.endsWith(entryHost.slice(1));
  return normalizeHost(entryHost) === normalizeHost(host);
}

const HOST_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/i;

/**
 * What is wrong with an `allow_net` entry, or `null` when it is one: a host name, an IPv4
 * address or a bracketed IPv6 address, with an optional port; `*.` before a name for its
 * subdomains.
 */
export function allowNetEntryProblem(entry: string): string | null {
  const url = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(entry);
  if (url !== null) {
    return `must be a host, not a URL: write ${JSON.stringify(url[1])}`;
  }
  let host = entry;
  let port: string | null = null;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (v6 !== null) {
    if (!ipaddr.IPv6.isValid(v6[1]!)) return "is not a valid IPv6 address";
    port = v6[2] ?? null;
  } else {
    const colon = entry.lastIndexOf(":");
    if (colon !== -1) {
      host = entry.slice(0, colon);
      port = entry.slice(colon + 1);
      if (host.includes(":")) return "an IPv6 address goes in brackets: [2001:db8::1]:443";
    }
    const wildcard = host.startsWith("*.");
    const name = wildcard ? host.slice(2) : host;
    const labels = name.split(".");
    const isIPv4 = ipaddr.IPv4.isValidFourPartDecimal(name);
    if (!isIPv4 && (name.length > 253 || !labels.every((label) => HOST_LABEL.test(label)))) {
      return "must be a host name, host:port, *.domain or an IP address";
    }
    // A name of digits only is an address in another spelling (2130706433 is 127.0.0.1), and
    // `*.0.0.1` would match addresses: only names with a letter are names.
    const numeric = /^[\d.]+$/.test(name);
    if (wildcard && numeric) return "a wildcard goes before a domain name only";
    if (numeric && !isIPv4) return "an IPv4 address is written as four numbers: 203.0.113.7";
  }
  if (port !== null && !(/^\d{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535)) {
    return "has a port that is not from 1 to 65535";
  }
  return null;
}

function isAddress(host: string): boolean {
  const bare = host.startsWith("[") ? host.slice(1, -1) : host;
  return ipaddr.isValid(bare);
}

/** IP literals compare by value (so `[::1]` equals `[0:0::1]`); names as they are. */
function normalizeHost(host: string): string {
  const bare = host.startsWith("[") ? host.slice(1, -1) : host;
  return ipaddr.isValid(bare) ? ipaddr.parse(bare).toNormalizedString() : host;
}

/** True for a public unicast address; every special-purpose range is not. */
export function isPublicAddress(address: string): boolean {
  const bare = address.startsWith("[") ? address.slice(1, -1) : address;
  if (!ipaddr.isValid(bare)) return false;
  let parsed = ipaddr.parse(bare);
  if (parsed.kind() === "ipv6") {
    const v6 = parsed as ipaddr.IPv6;
    // ::/96 (`::`, `::1`, and the deprecated IPv4-compatible `::a.b.c.d`) is never public.
    if (
      v6
        .toByteArray()
        .slice(0, 12)
        .every((byte) => byte === 0)
    )
      return false;
    if (v6.isIPv4MappedAddress()) parsed = v6.toIPv4Address();
    // NAT64 (64:ff9b::/96) carries an IPv4 address; judge that one.
    else if (v6.range() === "rfc6052") parsed = ipaddr.fromByteArray(v6.toByteArray().slice(12));
  }
  return parsed.range() === "unicast";
}
