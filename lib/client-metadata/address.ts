import { BlockList, isIPv4, isIPv6 } from "node:net";

// Addresses that are not reachable on the public internet (IANA special-purpose
// registries, RFC 6890). Fetching a client-chosen URL on one of them would let
// any client probe the proxy's own network (Client ID Metadata Document draft, "Server Side Request Forgery").
const IPV4_RANGES: Array<[string, number]> = [
  ["0.0.0.0", 8], // "this network", including the unspecified address
  ["10.0.0.0", 8], // private (RFC 1918)
  ["100.64.0.0", 10], // shared address space, carrier-grade NAT (RFC 6598)
  ["127.0.0.0", 8], // loopback
  ["169.254.0.0", 16], // link-local, including cloud metadata services
  ["172.16.0.0", 12], // private (RFC 1918)
  ["192.0.0.0", 24], // IETF protocol assignments
  ["192.0.2.0", 24], // documentation
  ["192.88.99.0", 24], // deprecated 6to4 relay anycast (RFC 7526)
  ["192.168.0.0", 16], // private (RFC 1918)
  ["198.18.0.0", 15], // benchmarking
  ["198.51.100.0", 24], // documentation
  ["203.0.113.0", 24], // documentation
  ["224.0.0.0", 4], // multicast
  ["240.0.0.0", 4], // reserved, including the broadcast address
];

const IPV6_RANGES: Array<[string, number]> = [
  ["::", 128], // unspecified
  ["::1", 128], // loopback
  ["::", 96], // deprecated IPv4-compatible addresses
  ["::ffff:0:0:0", 96], // IPv4-translated addresses (SIIT, RFC 2765)
  ["64:ff9b:1::", 48], // local-use IPv4/IPv6 translation
  ["100::", 64], // discard-only
  ["2001::", 32], // Teredo, whose embedded IPv4 address is obfuscated
  ["2001:db8::", 32], // documentation
  ["fc00::", 7], // unique local
  ["fe80::", 10], // link-local
  ["fec0::", 10], // deprecated site-local
  ["ff00::", 8], // multicast
];

const blocked = new BlockList();
for (const [network, prefix] of IPV4_RANGES) {
  blocked.addSubnet(network, prefix, "ipv4");
}
for (const [network, prefix] of IPV6_RANGES) {
  blocked.addSubnet(network, prefix, "ipv6");
}

/**
 * Checks whether an IP address is private, loopback, link-local or otherwise
 * not public. IPv6 forms that carry an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`,
 * NAT64 `64:ff9b::/96` and 6to4 `2002::/16`) are judged by that IPv4 address. Anything that is not an IP address counts as not public.
 *
 * @example
 * isNonPublicAddress("10.1.2.3"); // true
 * isNonPublicAddress("::ffff:127.0.0.1"); // true
 * isNonPublicAddress("93.184.215.14"); // false
 */
export function isNonPublicAddress(address: string): boolean {
  const plain = address.replace(/%.*$/, "");
  if (isIPv4(plain)) {
    return blocked.check(plain, "ipv4");
  }
  if (!isIPv6(plain)) {
    return true;
  }

  const embedded = embeddedIPv4(plain);
  if (embedded !== undefined && blocked.check(embedded, "ipv4")) {
    return true;
  }
  return blocked.check(plain, "ipv6");
}

/** Returns the IPv4 address an IPv6 address carries in one of the transition formats, if any. */
function embeddedIPv4(address: string): string | undefined {
  const bytes = parseIPv6(address);
  if (bytes === undefined) {
    return undefined;
  }

  const mapped = bytes.subarray(0, 10).every((byte) => byte === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  const nat64 = bytes[0] === 0x00 && bytes[1] === 0x64 && bytes[2] === 0xff && bytes[3] === 0x9b && bytes.subarray(4, 12).every((byte) => byte === 0);
  if (mapped || nat64) {
    return Array.from(bytes.subarray(12, 16)).join(".");
  }
  if (bytes[0] === 0x20 && bytes[1] === 0x02) {
    return Array.from(bytes.subarray(2, 6)).join(".");
  }
  return undefined;
}

/** Parses an IPv6 address (already checked with `isIPv6`) into its 16 bytes. */
function parseIPv6(address: string): Uint8Array | undefined {
  let text = address.toLowerCase();
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted !== null) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }

  const [head = "", tail] = text.split("::");
  const headGroups = head === "" ? [] : head.split(":");
  const tailGroups = tail === undefined || tail === "" ? [] : tail.split(":");
  const missing = 8 - headGroups.length - tailGroups.length;
  if (missing < 0 || (tail === undefined && missing !== 0)) {
    return undefined;
  }

  const groups = [...headGroups, ...new Array<string>(missing).fill("0"), ...tailGroups];
  const bytes = new Uint8Array(16);
  groups.forEach((group, index) => {
    const value = Number.parseInt(group, 16);
    bytes[index * 2] = value >> 8;
    bytes[index * 2 + 1] = value & 0xff;
  });
  return bytes;
}
