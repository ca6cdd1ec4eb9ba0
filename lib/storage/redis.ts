import { createHash } from "node:crypto";

import createDebug from "debug";
import type { Cluster, Redis, RedisOptions } from "ioredis";

import { OptionError } from "../errors.js";
import type { Storage } from "./types.js";

const log = createDebug("mcp-oauth-proxy:storage");

/** Options for {@link RedisStore}. Pass exactly one of `client` and `url`. */
export interface RedisStoreOptions {
  /** An ioredis `Redis` or `Cluster` client. The store uses it with the caller's settings and never closes it. */
  client?: Redis | Cluster;
  /**
   * A `redis://` or `rediss://` URL. The store creates its own ioredis client from it, with
   * `commandTimeout: 5000` and `maxRetriesPerRequest: 2`, and closes that client in `close()`.
   * For other client settings, create the client yourself and pass it as `client`.
   */
  url?: string;
  /** Prefix of every key the store writes. Default `"mcp-oauth-proxy:"`. */
  keyPrefix?: string;
}

/**
 * Settings of the ioredis client that {@link RedisStore} creates from a `url`.
 *
 * While Redis is unreachable, ioredis keeps reconnecting (after 50 ms, 100 ms, ... up to 2 s
 * between attempts) and queues commands. These settings bound how long an operation waits: it
 * fails after at most 3 failed connection attempts (`maxRetriesPerRequest: 2`) or after 5 seconds
 * without a reply (`commandTimeout`), whichever comes first. The connection shows as
 * `mcp-oauth-proxy` in CLIENT LIST.
 */
const REDIS_CLIENT_DEFAULTS: Readonly<RedisOptions> = Object.freeze({
  commandTimeout: 5_000,
  maxRetriesPerRequest: 2,
  connectionName: "mcp-oauth-proxy",
});

const DEFAULT_KEY_PREFIX = "mcp-oauth-proxy:";

/** A Lua script run with EVALSHA, falling back to EVAL when the server has not cached it yet. */
class LuaScript {
  readonly #source: string;
  readonly #sha1: string;

  constructor(source: string) {
    this.#source = source;
    this.#sha1 = createHash("sha1").update(source).digest("hex");
  }

  /** Runs the script on the one key `key`, which also routes it to the right node of a Cluster. */
  async run(client: RedisClient, key: string, ...args: string[]): Promise<unknown> {
    try {
      return await client.evalsha(this.#sha1, 1, key, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) {
        throw error;
      }

      return client.eval(this.#source, 1, key, ...args);
    }
  }
}

// GETDEL needs Redis 6.2. On older servers `take` runs this script, which is atomic because
// Redis runs a script without interleaving other commands, and touches only KEYS[1].
const TAKE_SCRIPT = new LuaScript(`local value = redis.call("GET", KEYS[1])
if value then redis.call("DEL", KEYS[1]) end
return value`);

// INCR and PEXPIRE run as one step, so a crash or a lost connection between them cannot leave
// a counter without a TTL. Only the first increment sets the TTL, as the Storage contract requires.
const INCREMENT_SCRIPT = new LuaScript(`local count = redis.call("INCR", KEYS[1])
if count == 1 then redis.call("PEXPIRE", KEYS[1], ARGV[1]) end
return count`);

type RedisClient = Redis | Cluster;
/** The part of the ioredis module the store needs when it creates its own client. */
interface IoredisModule {
  Redis: typeof Redis;
}

/**
 * Storage in Redis, shared by every proxy instance that uses the same Redis and key prefix.
 *
 * Every operation is a single command or a Lua script on one key, so the store works on Redis
 * Cluster. `take` uses GETDEL, `add` uses SET NX PX and `increment` uses a script that runs INCR
 * and PEXPIRE together. Values are stored as JSON. The package `ioredis` is loaded on first use
 * only when the store is given a `url`.
 *
 * @example
 * const storage = new RedisStore({ url: "redis://127.0.0.1:6379" });
 */
export class RedisStore implements Storage {
  readonly #keyPrefix: string;
  readonly #url: string | undefined;
  readonly #ownsClient: boolean;
  #client: Promise<RedisClient> | undefined;
  #getdelSupported: boolean | undefined;
  #closed = false;

  constructor(options: RedisStoreOptions) {
    const { client, url, keyPrefix = DEFAULT_KEY_PREFIX } = options ?? {};
    if (client === undefined && url === undefined) {
      throw new OptionError("client", client, "Pass RedisStore either client (an ioredis client) or url (a redis:// URL).");
    }

    if (client !== undefined && url !== undefined) {
      throw new OptionError("url", redactUrl(url), "Pass RedisStore either client or url, not both.");
    }

    if (typeof keyPrefix !== "string") {
      throw new OptionError("keyPrefix", keyPrefix, "Set keyPrefix to a string such as \"mcp-oauth-proxy:\", or leave it unset for the default.");
    }

    this.#keyPrefix = keyPrefix;
    this.#ownsClient = client === undefined;
    if (client !== undefined) {
      requireIoredisClient(client);
      this.#client = Promise.resolve(client);
      return;
    }

    this.#url = requireRedisUrl(url);
  }

  /** Returns the value stored under `key`, or `undefined` when absent or expired. */
  async get(key: string): Promise<unknown> {
    const client = await this.#connection();
    return this.#parse(key, await client.get(this.#keyPrefix + key));
  }

  /** Stores `value` under `key`, replacing any previous value and its TTL. Without `ttlSeconds` the key never expires. */
  async set(key: string, value: unknown, ttlSeconds?: number): Promise<void> {
    const json = serialize(key, value);
    const client = await this.#connection();
    if (ttlSeconds === undefined) {
      await client.set(this.#keyPrefix + key, json);
      return;
    }

    await client.set(this.#keyPrefix + key, json, "PX", toMilliseconds(ttlSeconds));
  }

  /** Reads and deletes `key` in one Redis command (or script), so of concurrent calls from any number of processes only one gets the value. */
  async take(key: string): Promise<unknown> {
    const client = await this.#connection();
    const redisKey = this.#keyPrefix + key;
    if (this.#getdelSupported === false) {
      return this.#parse(key, await TAKE_SCRIPT.run(client, redisKey));
    }

    let stored: string | null;
    try {
      stored = await client.getdel(redisKey);
    } catch (error) {
      if (!isUnknownCommand(error)) {
        throw error;
      }

      this.#switchToTakeScript();
      return this.#parse(key, await TAKE_SCRIPT.run(client, redisKey));
    }

    this.#getdelSupported = true;
    return this.#parse(key, stored);
  }

  /** Stores `value` only if `key` is absent or expired, and returns whether it was stored. */
  async add(key: string, value: unknown, ttlSeconds: number): Promise<boolean> {
    const json = serialize(key, value);
    const milliseconds = toMilliseconds(ttlSeconds);
    const client = await this.#connection();
    const reply = await client.set(this.#keyPrefix + key, json, "PX", milliseconds, "NX");
    return reply === "OK";
  }

  /** Increments the counter under `key` and returns the new count. The first increment sets the TTL and later ones leave it unchanged. */
  async increment(key: string, ttlSeconds: number): Promise<number> {
    const milliseconds = toMilliseconds(ttlSeconds);
    const client = await this.#connection();
    let count: unknown;
    try {
      count = await INCREMENT_SCRIPT.run(client, this.#keyPrefix + key, String(milliseconds));
    } catch (error) {
      if (error instanceof Error && /not an integer/i.test(error.message)) {
        throw new TypeError(`Cannot increment ${JSON.stringify(key)} because its value is not a counter. Use a separate key for counters.`, { cause: error });
      }
      throw error;
    }

    return Number(count);
  }

  /** Deletes `key`. Deleting an absent key is not an error. */
  async delete(key: string): Promise<void> {
    const client = await this.#connection();
    await client.del(this.#keyPrefix + key);
  }

  /**
   * Quits the client the store created from a `url`, after its pending replies arrive. A client
   * passed as `client` stays open. Every operation after `close()` rejects.
   */
  async close(): Promise<void> {
    if (this.#closed) {
      return;
    }

    this.#closed = true;
    if (!this.#ownsClient || this.#client === undefined) {
      return;
    }

    const client = await this.#client.catch(() => undefined);
    if (client === undefined) {
      return;
    }

    // QUIT would wait in the offline queue until Redis is back, so a client that is not
    // connected is closed at once instead.
    if (client.status !== "ready") {
      client.disconnect();
      return;
    }

    await client.quit().catch(() => client.disconnect());
  }

  async #connection(): Promise<RedisClient> {
    if (this.#closed) {
      throw new Error("RedisStore is closed. Create a new RedisStore to use Redis again.");
    }

    this.#client ??= this.#createClient();
    return this.#client;
  }

  async #createClient(): Promise<RedisClient> {
    const { Redis } = await importIoredis();
    const client = new Redis(this.#url ?? "", { ...REDIS_CLIENT_DEFAULTS });
    watchConnection(client);
    return client;
  }

  #switchToTakeScript(): void {
    if (this.#getdelSupported !== false) {
      log("redis take: the server has no GETDEL (Redis before 6.2), using a Lua script instead");
    }
    this.#getdelSupported = false;
  }

  #parse(key: string, stored: unknown): unknown {
    if (stored === null || stored === undefined) {
      return undefined;
    }

    try {
      return JSON.parse(String(stored));
    } catch (error) {
      throw new Error(`Cannot parse the Redis value under ${JSON.stringify(key)} as JSON. Give RedisStore a keyPrefix that no other program writes under.`, { cause: error });
    }
  }
}

/** Logs connection trouble of a client the store created: the first error, then a count once Redis is back. */
function watchConnection(client: Redis): void {
  let errorsSinceReady = 0;
  client.on("error", (error: Error) => {
    errorsSinceReady += 1;
    if (errorsSinceReady === 1) {
      log("redis connection error=%s, reconnecting", error.message);
    }
  });
  client.on("ready", () => {
    if (errorsSinceReady > 0) {
      log("redis connection ready after errors=%d", errorsSinceReady);
    }
    errorsSinceReady = 0;
  });
}

async function importIoredis(): Promise<IoredisModule> {
  try {
    return await import("ioredis");
  } catch (error) {
    // A missing dependency of ioredis itself has the same code but another name in its message.
    const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
    const missing = (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") && String(message).includes("'ioredis'");
    if (!missing) {
      throw error;
    }

    throw new Error("RedisStore cannot connect to the url because the package \"ioredis\" is not installed. Run `npm install ioredis`, or pass an ioredis client as the client option.", { cause: error });
  }
}

function requireIoredisClient(client: unknown): asserts client is RedisClient {
  const candidate = client as Partial<Record<string, unknown>> | null;
  const methods = ["get", "set", "getdel", "del", "eval", "evalsha", "quit"];
  if (typeof candidate !== "object" || candidate === null || !methods.every((method) => typeof candidate[method] === "function")) {
    throw new OptionError("client", client, "Pass an ioredis Redis or Cluster client (ioredis 5), or a redis:// URL as the url option.");
  }
}

function requireRedisUrl(url: unknown): string {
  if (typeof url !== "string" || !/^rediss?:\/\/./i.test(url)) {
    throw new OptionError("url", redactUrl(url), "Pass a URL such as redis://127.0.0.1:6379 or rediss://user:password@host:6380/0.");
  }

  return url;
}

/** Returns a description of `url` that leaves out any password it contains. */
function redactUrl(url: unknown): unknown {
  if (typeof url !== "string" || !url.includes("@")) {
    return url;
  }

  // Only a URL that parses with a password can keep its other parts. Any other string with
  // an "@" may contain credentials in a form the URL parser does not recognize.
  const parsed = URL.canParse(url) ? new URL(url) : undefined;
  if (parsed === undefined || parsed.password === "") {
    return "(a string with credentials, redacted)";
  }

  parsed.password = "redacted";
  return parsed.href;
}

function isUnknownCommand(error: unknown): boolean {
  return error instanceof Error && /^ERR unknown command/i.test(error.message);
}

/** Converts a TTL in seconds to whole milliseconds, at least 1, because PX takes a positive integer. */
function toMilliseconds(ttlSeconds: number): number {
  if (typeof ttlSeconds !== "number" || !Number.isFinite(ttlSeconds) || ttlSeconds <= 0) {
    throw new RangeError(`Invalid ttlSeconds ${String(ttlSeconds)}. Pass a positive number of seconds.`);
  }

  return Math.max(1, Math.round(ttlSeconds * 1000));
}

function serialize(key: string, value: unknown): string {
  const json = JSON.stringify(value);
  if (json === undefined) {
    throw new TypeError(`Cannot store ${typeof value} under ${JSON.stringify(key)} because values must be JSON-serializable.`);
  }

  return json;
}
