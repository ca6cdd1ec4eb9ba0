import { lookup as dnsLookup } from "node:dns/promises";
import { OptionError } from "../errors.js";

/** One address a host name resolves to. */
export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a host name to all of its addresses, like `dns.lookup(hostname, { all: true })`. */
export type HostLookup = (hostname: string) => Promise<ResolvedAddress[]>;

/** Settings of Client ID Metadata Documents, the `clientIdMetadataDocuments` option of `oauthProxy()`. */
export interface ClientIdMetadataDocumentOptions {
  /**
   * Hosts whose documents are accepted, as host names (`app.example.com`) or
   * `*.example.com` for every subdomain; default any host with a public address.
   */
  allowHosts?: string[];
  /**
   * Also fetch documents from private, loopback, link-local and other
   * non-public addresses; default false. Meant for tests and closed networks:
   * with it, any client can make the proxy send GET requests into your network.
   */
  allowPrivateNetworks?: boolean;
  /** Time limit for resolving, connecting and reading one document, in milliseconds; default 5000. */
  timeoutMs?: number;
  /** Largest accepted document in bytes; default 5120. */
  maxBytes?: number;
  /** Longest time a document is cached, in seconds, whatever its `Cache-Control` header allows; default 86400. */
  maxCacheSeconds?: number;
  /** Resolves host names; default `dns.lookup` with `all: true`. For split-horizon DNS and tests. */
  lookup?: HostLookup;
  /** PEM certificates trusted for document hosts instead of Node's default roots; for private CAs and tests. */
  ca?: string | Buffer | Array<string | Buffer>;
}

/** Client ID Metadata Document settings after validation. */
export interface ClientMetadataSettings {
  allowHosts: string[] | undefined;
  allowPrivateNetworks: boolean;
  timeoutMs: number;
  maxBytes: number;
  maxCacheSeconds: number;
  lookup: HostLookup;
  ca: Array<string | Buffer> | undefined;
}

const OPTION = "clientIdMetadataDocuments";
const DEFAULT_TIMEOUT_MS = 5000;
// The Client ID Metadata Document draft suggests 5 kilobytes as the response size limit ("Maximum Response Size").
const DEFAULT_MAX_BYTES = 5 * 1024;
const DEFAULT_MAX_CACHE_SECONDS = 24 * 3600;
const HOST_PATTERN = /^(?:\*\.)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

// NOTE: dns.lookup runs getaddrinfo on libuv's thread pool (4 threads by
// default) and cannot be cancelled, so a timed-out lookup keeps its thread until
// the system resolver gives up. The per-address rate limits of the OAuth
// endpoints slow a flood of slow host names down, but nothing caps it.
const systemLookup: HostLookup = async (hostname) => {
  const addresses = await dnsLookup(hostname, { all: true, verbatim: true });
  return addresses.map((entry) => ({ address: entry.address, family: entry.family === 6 ? 6 : 4 }));
};

/**
 * Validates the `clientIdMetadataDocuments` option. Documents are enabled
 * unless the option is `false`; `undefined` and `true` mean the defaults.
 */
export function resolveClientMetadataOptions(value: unknown): ClientMetadataSettings | undefined {
  if (value === false) {
    return undefined;
  }
  if (value !== undefined && value !== true && (typeof value !== "object" || value === null || Array.isArray(value))) {
    throw new OptionError(OPTION, value, "Pass true, false or an object such as { allowHosts: [\"app.example.com\"] }.");
  }

  const options = (typeof value === "object" ? value : {}) as ClientIdMetadataDocumentOptions;
  const allowPrivateNetworks = resolveBoolean("allowPrivateNetworks", options.allowPrivateNetworks);
  warnAboutPrivateNetworks(allowPrivateNetworks);
  return {
    allowHosts: resolveAllowHosts(options.allowHosts),
    allowPrivateNetworks,
    timeoutMs: resolveInteger("timeoutMs", options.timeoutMs, DEFAULT_TIMEOUT_MS, 1, 60_000, "milliseconds"),
    maxBytes: resolveInteger("maxBytes", options.maxBytes, DEFAULT_MAX_BYTES, 256, 1024 * 1024, "bytes"),
    maxCacheSeconds: resolveInteger("maxCacheSeconds", options.maxCacheSeconds, DEFAULT_MAX_CACHE_SECONDS, 0, 7 * 24 * 3600, "seconds"),
    lookup: resolveLookup(options.lookup),
    ca: resolveCa(options.ca),
  };
}

let privateNetworksWarned = false;

/** Warns once per process, because in production the setting lets any client send requests into the local network. */
function warnAboutPrivateNetworks(allowPrivateNetworks: boolean): void {
  if (!allowPrivateNetworks || privateNetworksWarned || process.env.NODE_ENV !== "production") {
    return;
  }

  privateNetworksWarned = true;
  process.emitWarning(
    "mcp-oauth-proxy: clientIdMetadataDocuments.allowPrivateNetworks is on in production, so any client can make the proxy send GET requests to private and loopback addresses. Remove it, or limit documents with allowHosts.",
    { code: "MCP_OAUTH_PROXY_PRIVATE_NETWORKS" },
  );
}

function resolveAllowHosts(value: unknown): string[] | undefined {
  if (value === undefined) {
    return undefined;
  }

  const fix = 'Pass an array of host names such as ["app.example.com", "*.example.org"].';
  if (!Array.isArray(value) || value.length === 0) {
    throw new OptionError(`${OPTION}.allowHosts`, value, fix);
  }
  for (const host of value) {
    if (typeof host !== "string" || !HOST_PATTERN.test(host.toLowerCase()) || host.length > 253) {
      throw new OptionError(`${OPTION}.allowHosts`, host, fix);
    }
  }
  return value.map((host: string) => host.toLowerCase());
}

function resolveBoolean(name: string, value: unknown): boolean {
  if (value !== undefined && typeof value !== "boolean") {
    throw new OptionError(`${OPTION}.${name}`, value, "Pass true or false.");
  }
  return value === true;
}

function resolveInteger(name: string, value: unknown, fallback: number, min: number, max: number, unit: string): number {
  if (value === undefined) {
    return fallback;
  }
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new OptionError(`${OPTION}.${name}`, value, `Pass a whole number of ${unit} from ${min} to ${max}.`);
  }
  return value;
}

function resolveLookup(value: unknown): HostLookup {
  if (value === undefined) {
    return systemLookup;
  }
  if (typeof value !== "function") {
    throw new OptionError(`${OPTION}.lookup`, value, "Pass a function (hostname) => Promise<Array<{ address, family }>>.");
  }
  return value as HostLookup;
}

function resolveCa(value: unknown): Array<string | Buffer> | undefined {
  if (value === undefined) {
    return undefined;
  }

  const list = Array.isArray(value) ? value : [value];
  const valid = list.length > 0 && list.every((entry) => (typeof entry === "string" && entry.includes("-----BEGIN CERTIFICATE-----")) || Buffer.isBuffer(entry));
  if (!valid) {
    throw new OptionError(`${OPTION}.ca`, value, "Pass PEM certificates as a string, a Buffer or an array of them.");
  }
  return list as Array<string | Buffer>;
}
