import type { IncomingMessage } from "node:http";
import { request } from "node:https";
import { isIP } from "node:net";
import type { LookupFunction } from "node:net";
import createDebug from "debug";
import { isNonPublicAddress } from "./address.js";
import type { ClientMetadataSettings, ResolvedAddress } from "./options.js";

const debug = createDebug("mcp-oauth-proxy:client-metadata");

/** A failed document fetch. Its message completes "The client metadata document could not be fetched: …" and is safe to show. */
export class DocumentFetchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DocumentFetchError";
  }
}

/** A fetched document: the raw body and the caching header that came with it. */
export interface FetchedDocument {
  body: string;
  cacheControl: string | undefined;
}

/**
 * Fetches a Client ID Metadata Document without letting the client aim the
 * proxy at its own network. The host is resolved once, every address is
 * checked, and the connection goes to the checked address only, so a DNS
 * answer that changes between check and connect cannot redirect it. Redirects
 * are not followed, the body is capped at `maxBytes`, and resolving, connecting
 * and reading share one `timeoutMs` deadline.
 */
export async function fetchDocument(url: URL, settings: ClientMetadataSettings): Promise<FetchedDocument> {
  const deadline = Date.now() + settings.timeoutMs;
  const address = await withDeadline(resolveAddress(url.hostname, settings), settings.timeoutMs);
  return await requestDocument(url, address, settings, Math.max(1, deadline - Date.now()));
}

/** Resolves a host to the one address to connect to, rejecting hosts with any non-public address. */
export async function resolveAddress(hostname: string, settings: Pick<ClientMetadataSettings, "lookup" | "allowPrivateNetworks">): Promise<ResolvedAddress> {
  const host = hostname.startsWith("[") ? hostname.slice(1, -1) : hostname;
  const family = isIP(host);
  const addresses = family === 0 ? await lookupAll(host, settings) : [{ address: host, family: family as 4 | 6 }];

  const first = addresses[0];
  if (first === undefined) {
    throw new DocumentFetchError("its host name could not be resolved");
  }

  // Every address is checked, not only the one used, because a name that mixes
  // public and private addresses is not trusted.
  const nonPublic = addresses.find((entry) => isNonPublicAddress(entry.address));
  if (nonPublic !== undefined && !settings.allowPrivateNetworks) {
    debug("rejected non-public address host=%s address=%s", host, nonPublic.address);
    throw new DocumentFetchError("its host is not on a public internet address");
  }
  return first;
}

async function lookupAll(host: string, settings: Pick<ClientMetadataSettings, "lookup">): Promise<ResolvedAddress[]> {
  let answer: unknown;
  try {
    answer = await settings.lookup(host);
  } catch (error) {
    debug("lookup failed host=%s error=%s", host, (error as NodeJS.ErrnoException).code ?? String(error));
    throw new DocumentFetchError("its host name could not be resolved");
  }

  // A custom lookup may return anything; the family is recomputed rather than trusted.
  const entries: unknown[] = Array.isArray(answer) ? answer : [];
  return entries.flatMap((entry) => {
    const address = (entry as { address?: unknown } | null)?.address;
    const family = typeof address === "string" ? isIP(address) : 0;
    return family === 0 ? [] : [{ address: address as string, family: family as 4 | 6 }];
  });
}

function requestDocument(url: URL, address: ResolvedAddress, settings: ClientMetadataSettings, timeoutMs: number): Promise<FetchedDocument> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (error: Error | undefined, document?: FetchedDocument): void => {
      if (settled) {
        return;
      }
      settled = true;
      clearTimeout(timer);
      if (error !== undefined) {
        outgoing.destroy();
        reject(error);
        return;
      }
      resolve(document as FetchedDocument);
    };

    const outgoing = request({
      host: url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname,
      port: url.port === "" ? 443 : Number(url.port),
      path: url.pathname + url.search,
      method: "GET",
      headers: { accept: "application/json", "accept-encoding": "identity" },
      // The Host header and TLS server name stay the URL's host. Only the socket goes to the checked address.
      lookup: pinnedLookup(address),
      agent: false,
      ...(settings.ca === undefined ? {} : { ca: settings.ca }),
    });
    const timer = setTimeout(() => finish(new DocumentFetchError(`the request timed out after ${settings.timeoutMs} ms`)), timeoutMs);

    outgoing.on("response", (response) => {
      readResponse(response, settings.maxBytes).then((document) => finish(undefined, document), (error: Error) => finish(error));
    });
    outgoing.on("error", (error: NodeJS.ErrnoException) => {
      debug("request failed url=%s error=%s", url.href, error.code ?? error.message);
      finish(new DocumentFetchError(`the connection failed (${error.code ?? "network error"})`));
    });
    outgoing.end();
  });
}

function readResponse(response: IncomingMessage, maxBytes: number): Promise<FetchedDocument> {
  const status = response.statusCode ?? 0;
  if (status >= 300 && status < 400) {
    return Promise.reject(new DocumentFetchError(`the server responded with a redirect (HTTP ${status}), which is not followed`));
  }
  if (status !== 200) {
    return Promise.reject(new DocumentFetchError(`the server responded with HTTP ${status}`));
  }

  const encoding = response.headers["content-encoding"];
  if (encoding !== undefined && encoding.toLowerCase() !== "identity") {
    return Promise.reject(new DocumentFetchError(`the response is compressed (${encoding}), so serve it uncompressed`));
  }
  const declared = Number(response.headers["content-length"]);
  if (Number.isFinite(declared) && declared > maxBytes) {
    return Promise.reject(new DocumentFetchError(`the document is larger than ${maxBytes} bytes`));
  }

  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    response.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        reject(new DocumentFetchError(`the document is larger than ${maxBytes} bytes`));
        response.destroy();
        return;
      }
      chunks.push(chunk);
    });
    response.on("end", () => {
      const cacheControl = response.headers["cache-control"];
      resolve({ body: Buffer.concat(chunks).toString("utf8"), cacheControl });
    });
    response.on("error", () => reject(new DocumentFetchError("the response ended early")));
    response.on("aborted", () => reject(new DocumentFetchError("the response ended early")));
  });
}

/** A `lookup` for `net.connect` that returns the already checked address, whatever name it is asked for. */
function pinnedLookup(address: ResolvedAddress): LookupFunction {
  return (_hostname, options, callback) => {
    if (options.all === true) {
      (callback as unknown as (error: null, addresses: ResolvedAddress[]) => void)(null, [address]);
      return;
    }
    callback(null, address.address, address.family);
  };
}

function withDeadline<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new DocumentFetchError(`resolving the host timed out after ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
