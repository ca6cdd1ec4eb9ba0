import type { Request, RequestHandler, Response } from "express";
import createDebug from "debug";
import { ipKeyGenerator, rateLimit } from "express-rate-limit";
import type { ClientRateLimitInfo, Options, RateLimitInfo, Store } from "express-rate-limit";
import type { ProxyContext } from "./context.js";
import { hashKey } from "./core/random.js";
import { OAuthError } from "./errors.js";
import { sendOAuthError } from "./http.js";
import type { RateLimitedEndpoint, ResolvedRateLimit } from "./options.js";
import { renderErrorPage, sendPage } from "./pages.js";
import type { Storage } from "./storage/types.js";

const debug = createDebug("mcp-oauth-proxy:rate-limit");

/**
 * An express-rate-limit store that counts in the proxy's `Storage`, so every
 * instance sharing a store (Redis, for example) shares the limits.
 *
 * Windows are fixed and aligned to the epoch: a counter's key carries the
 * window number, so all instances agree on when a window resets without
 * storing the reset time. A client can therefore send up to twice the limit
 * across a window boundary.
 *
 * NOTE: instances whose clocks differ count near a boundary in different
 * windows; keep server clocks synchronized (NTP), as token expiry needs anyway.
 */
export class StorageRateLimitStore implements Store {
  readonly localKeys = false;
  readonly prefix: string;

  readonly #storage: Storage;
  #windowMs = 60_000;

  constructor(storage: Storage, name: string) {
    this.#storage = storage;
    this.prefix = `ratelimit:${name}:`;
  }

  /** Takes the window length from the limiter. */
  init(options: Options): void {
    if (options.skipFailedRequests || options.skipSuccessfulRequests) {
      throw new TypeError("StorageRateLimitStore cannot give hits back, so skipFailedRequests and skipSuccessfulRequests must stay off.");
    }
    this.#windowMs = options.windowMs;
  }

  /** Counts one hit for `key` in the current window. */
  async increment(key: string): Promise<ClientRateLimitInfo> {
    const window = this.#currentWindow();
    const totalHits = await this.#storage.increment(this.#counterKey(key, window), this.#ttlSeconds());
    return { totalHits, resetTime: new Date((window + 1) * this.#windowMs) };
  }

  /**
   * Always rejects: `Storage` has no atomic decrement. express-rate-limit calls
   * this only with skipFailedRequests or skipSuccessfulRequests, which `init()` refuses.
   */
  async decrement(): Promise<void> {
    throw new TypeError("StorageRateLimitStore cannot give hits back because Storage has no atomic decrement.");
  }

  /** Clears the current window's counter for `key`. */
  async resetKey(key: string): Promise<void> {
    await this.#storage.delete(this.#counterKey(key, this.#currentWindow()));
  }

  #currentWindow(): number {
    return Math.floor(Date.now() / this.#windowMs);
  }

  #ttlSeconds(): number {
    return Math.ceil(this.#windowMs / 1000);
  }

  /** Identifiers are hashed: they may be IP addresses or long client ids, and storage keys should carry neither. */
  #counterKey(key: string, window: number): string {
    return `${this.prefix}${window}:${hashKey(key)}`;
  }
}

/** The limiter middleware of each endpoint, empty where the limit is turned off. */
export type RateLimiters = Record<RateLimitedEndpoint, RequestHandler[]>;

/**
 * Creates the limiters of the OAuth endpoints from the resolved options.
 * `tokenPerClient` reads the parsed form body, so it goes after the body parser.
 */
export function createRateLimiters(context: ProxyContext): RateLimiters {
  const limits = context.options.rateLimits;
  const limiter = (endpoint: RateLimitedEndpoint, settings: LimiterSettings): RequestHandler[] => {
    const limit = limits[endpoint];
    return limit === undefined ? [] : [createLimiter(context.storage, endpoint, limit, settings)];
  };

  return {
    register: limiter("register", { keyGenerator: addressKey, handler: rejectWithJson }),
    authorize: limiter("authorize", { keyGenerator: addressKey, handler: rejectWithPage }),
    token: limiter("token", { keyGenerator: addressKey, handler: rejectWithJson }),
    tokenPerClient: limiter("tokenPerClient", { keyGenerator: (req) => clientKey(context, req) ?? "", handler: rejectWithJson, skip: (req) => clientKey(context, req) === undefined }),
    revoke: limiter("revoke", { keyGenerator: addressKey, handler: rejectWithJson }),
  };
}

interface LimiterSettings {
  keyGenerator: (req: Request) => string;
  handler: (req: Request, res: Response) => void;
  skip?: (req: Request) => boolean;
}

function createLimiter(storage: Storage, endpoint: RateLimitedEndpoint, limit: ResolvedRateLimit, settings: LimiterSettings): RequestHandler {
  return rateLimit({
    windowMs: limit.windowSeconds * 1000,
    limit: limit.limit,
    store: new StorageRateLimitStore(storage, endpoint),
    // draft-8 headers name each policy, so the two limits of the token endpoint can both be reported.
    standardHeaders: "draft-8",
    legacyHeaders: false,
    identifier: endpoint,
    keyGenerator: settings.keyGenerator,
    handler: (req, res) => {
      debug("limit reached endpoint=%s limit=%d window=%ds", endpoint, limit.limit, limit.windowSeconds);
      settings.handler(req, res);
    },
    ...(settings.skip === undefined ? {} : { skip: settings.skip }),
    logger: {
      warn: (error, message) => debug("express-rate-limit warning endpoint=%s message=%s error=%s", endpoint, message, describeError(error)),
      error: (error, message) => debug("express-rate-limit error endpoint=%s message=%s error=%s", endpoint, message, describeError(error)),
    },
  });
}

let trustProxyHintLogged = false;

/**
 * Keys a request by client address. IPv6 addresses are grouped by /56 prefix,
 * because providers often assign one user a whole IPv6 subnet.
 */
function addressKey(req: Request): string {
  if (!trustProxyHintLogged && req.headers["x-forwarded-for"] !== undefined && !req.app.get("trust proxy")) {
    trustProxyHintLogged = true;
    debug("X-Forwarded-For is present but Express's trust proxy setting is off, so every request behind the proxy shares one rate limit; set app.set(\"trust proxy\", ...)");
  }
  const address = req.ip ?? req.socket.remoteAddress;
  return address === undefined ? "unknown-address" : ipKeyGenerator(address);
}

const clientKeys = new WeakMap<Request, string | undefined>();

/**
 * Keys a token request by the client it names, only when that is a client this
 * proxy registered. Anything else is limited by address alone, so made-up ids
 * cannot fill storage with counters.
 *
 * NOTE: the key is the presented client_id, before authentication, so anyone who
 * has seen a public client's id can spend that client's budget.
 */
function clientKey(context: ProxyContext, req: Request): string | undefined {
  if (clientKeys.has(req)) {
    return clientKeys.get(req);
  }

  const clientId = bodyClientId(req) ?? basicClientId(req.headers.authorization);
  const key = clientId !== undefined && context.clientIds.open(clientId) !== undefined ? `client:${clientId}` : undefined;
  clientKeys.set(req, key);
  return key;
}

function bodyClientId(req: Request): string | undefined {
  const body: unknown = req.body;
  if (typeof body !== "object" || body === null) {
    return undefined;
  }
  const value = (body as Record<string, unknown>).client_id;
  return typeof value === "string" && value !== "" ? value : undefined;
}

/** Reads the client id of `Authorization: Basic` (RFC 6749 §2.3.1); malformed credentials give none. */
function basicClientId(header: string | undefined): string | undefined {
  const match = header === undefined ? null : /^basic +([A-Za-z0-9+/]+=*) *$/i.exec(header);
  if (match?.[1] === undefined) {
    return undefined;
  }

  const decoded = Buffer.from(match[1], "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  try {
    return colon < 1 ? undefined : decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, " "));
  } catch {
    return undefined;
  }
}

function retryAfterSeconds(req: Request): number {
  const info = (req as Request & { rateLimit?: RateLimitInfo }).rateLimit;
  const resetTime = info?.resetTime?.getTime() ?? Date.now();
  return Math.max(1, Math.ceil((resetTime - Date.now()) / 1000));
}

/**
 * Rejects with 429 and an OAuth error. RFC 6749 defines no code for rate
 * limiting, so this uses `temporarily_unavailable`, which clients already treat
 * as "try again later", and `Retry-After` (RFC 6585 §4) gives the wait.
 */
function rejectWithJson(req: Request, res: Response): void {
  const seconds = retryAfterSeconds(req);
  res.setHeader("Retry-After", String(seconds));
  sendOAuthError(res, new OAuthError("temporarily_unavailable", `Too many requests; retry after ${seconds} seconds`, 429));
}

/** Rejects with a 429 page, not a redirect, because the client and redirect URI are not validated yet. */
function rejectWithPage(req: Request, res: Response): void {
  const seconds = retryAfterSeconds(req);
  res.setHeader("Retry-After", String(seconds));
  sendPage(res, 429, renderErrorPage("Too many requests", `Too many sign-in requests came from your network. Wait ${seconds} seconds and try again.`));
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
