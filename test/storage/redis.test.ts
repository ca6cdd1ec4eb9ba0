import { execFile } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import type { Server, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";

import { OptionError } from "../../lib/errors.js";
import { runStorageContract } from "../../lib/storage/contract.js";
import { RedisStore } from "../../lib/storage/redis.js";
import type { RedisStoreOptions } from "../../lib/storage/redis.js";
import { connectLocalRedis, deleteKeys, findFreePort, LOCAL_REDIS_URL, startRedisServer, stopRedisServer } from "./local-redis.js";

const runPrefix = `mcp-oauth-proxy-test:${randomUUID()}:`;
let client: Redis;

beforeAll(async () => {
  client = await connectLocalRedis();
});

afterAll(async () => {
  if (client === undefined) {
    return;
  }

  await deleteKeys(client, runPrefix);
  expect(await client.keys(`${runPrefix}*`)).toEqual([]);
  await client.quit();
});

runStorageContract("RedisStore with a client", () => new RedisStore({ client, keyPrefix: runPrefix }), { describe, it, expect, beforeEach, afterEach });
runStorageContract("RedisStore with a url", () => new RedisStore({ url: LOCAL_REDIS_URL, keyPrefix: runPrefix }), { describe, it, expect, beforeEach, afterEach });

describe("RedisStore", () => {
  let store: RedisStore;
  let prefix: string;

  beforeEach(() => {
    prefix = `${runPrefix}${randomUUID()}:`;
    store = new RedisStore({ client, keyPrefix: prefix });
  });

  afterEach(async () => {
    await store.close();
  });

  it("writes JSON under the prefix with TTLs in milliseconds", async () => {
    await store.set("set", { scopes: ["read"] }, 1.5);
    await store.set("forever", "kept");
    await store.add("add", 7, 2);
    await store.increment("counter", 3);

    expect(await client.get(`${prefix}set`)).toBe('{"scopes":["read"]}');
    expect(await client.get(`${prefix}add`)).toBe("7");
    expect(await client.get(`${prefix}counter`)).toBe("1");
    expectBetween(await client.pttl(`${prefix}set`), 1_300, 1_500);
    expectBetween(await client.pttl(`${prefix}add`), 1_800, 2_000);
    expectBetween(await client.pttl(`${prefix}counter`), 2_800, 3_000);
    expect(await client.pttl(`${prefix}forever`)).toBe(-1);
  });

  it("default key prefix is mcp-oauth-proxy:", async () => {
    const key = `test:${randomUUID()}`;
    const unprefixed = new RedisStore({ client });

    await unprefixed.set(key, "value", 60);

    expect(await client.get(`mcp-oauth-proxy:${key}`)).toBe('"value"');
    await unprefixed.delete(key);
    expect(await client.exists(`mcp-oauth-proxy:${key}`)).toBe(0);
  });

  it("take uses a script on servers without GETDEL", async () => {
    const oldServer = withoutGetdel(client, "ERR unknown command `getdel`, with args beginning with: `key`, ");
    const fallback = new RedisStore({ client: oldServer.client, keyPrefix: prefix });
    await fallback.set("single", "once", 60);
    await fallback.set("concurrent", "once", 60);

    expect(await fallback.take("single")).toBe("once");
    expect(await fallback.take("single")).toBeUndefined();
    const results = await Promise.all(Array.from({ length: 50 }, () => fallback.take("concurrent")));

    expect(results.filter((result) => result !== undefined)).toEqual(["once"]);
    expect(oldServer.getdelCalls()).toBe(1);
    expect(await client.exists(`${prefix}concurrent`)).toBe(0);
  });

  it("take rethrows other GETDEL errors", async () => {
    const denied = withoutGetdel(client, "NOPERM this user has no permissions to run the 'getdel' command");
    const restricted = new RedisStore({ client: denied.client, keyPrefix: prefix });
    await restricted.set("k", "value", 60);

    await expect(restricted.take("k")).rejects.toThrow("NOPERM");
    expect(await restricted.get("k")).toBe("value");
  });

  it("increment rejects a non-counter value", async () => {
    await store.set("k", "text");

    await expect(store.increment("k", 10)).rejects.toThrow(new TypeError('Cannot increment "k" because its value is not a counter. Use a separate key for counters.'));
    expect(await store.get("k")).toBe("text");
  });

  it("increment keeps the TTL of an existing counter", async () => {
    await store.set("counter", 5);

    expect(await store.increment("counter", 10)).toBe(6);
    expect(await client.pttl(`${prefix}counter`)).toBe(-1);
  });

  it("writes reject an invalid TTL", async () => {
    for (const ttl of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      const error = new RangeError(`Invalid ttlSeconds ${ttl}. Pass a positive number of seconds.`);
      await expect(store.set("k", "value", ttl)).rejects.toThrow(error);
      await expect(store.add("k", "value", ttl)).rejects.toThrow(error);
      await expect(store.increment("counter", ttl)).rejects.toThrow(error);
    }

    expect(await client.exists(`${prefix}k`, `${prefix}counter`)).toBe(0);
  });

  it("set rejects values JSON cannot represent", async () => {
    for (const value of [undefined, () => 1, Symbol("s")]) {
      await expect(store.set("k", value)).rejects.toThrow(TypeError);
      await expect(store.add("k", value, 60)).rejects.toThrow(TypeError);
    }

    expect(await store.get("k")).toBeUndefined();
  });

  it("get rejects a value that is not JSON", async () => {
    await client.set(`${prefix}foreign`, "not json");

    await expect(store.get("foreign")).rejects.toThrow('Cannot parse the Redis value under "foreign" as JSON. Give RedisStore a keyPrefix that no other program writes under.');
  });

  it("close leaves a passed client open", async () => {
    await store.set("k", "value", 60);

    await store.close();

    expect(await client.ping()).toBe("PONG");
    await expect(store.get("k")).rejects.toThrow("RedisStore is closed. Create a new RedisStore to use Redis again.");
  });

  it("close quits the client it created", async () => {
    const countSockets = (): number => process.getActiveResourcesInfo().filter((resource) => resource === "TCPSocketWrap").length;
    const before = countSockets();
    const owning = new RedisStore({ url: LOCAL_REDIS_URL, keyPrefix: prefix });

    await owning.set("k", "value", 60);
    expect(countSockets()).toBe(before + 1);

    await owning.close();
    await waitFor(() => countSockets() === before);
    expect(countSockets()).toBe(before);
    await expect(owning.get("k")).rejects.toThrow("RedisStore is closed.");
  });

  it("constructor rejects invalid options", () => {
    const cases: ReadonlyArray<[Record<string, unknown> | undefined, string]> = [
      [undefined, "Invalid option client: undefined. Pass RedisStore either client (an ioredis client) or url (a redis:// URL)."],
      [{}, "Invalid option client: undefined. Pass RedisStore either client (an ioredis client) or url (a redis:// URL)."],
      [{ client, url: LOCAL_REDIS_URL }, 'Invalid option url: "redis://127.0.0.1:6379". Pass RedisStore either client or url, not both.'],
      [{ url: "http://127.0.0.1:6379" }, 'Invalid option url: "http://127.0.0.1:6379". Pass a URL such as redis://127.0.0.1:6379 or rediss://user:password@host:6380/0.'],
      [{ url: "http://user:hunter2@h/" }, 'Invalid option url: "http://user:redacted@h/". Pass a URL such as redis://127.0.0.1:6379 or rediss://user:password@host:6380/0.'],
      [{ url: "user:hunter2@h" }, 'Invalid option url: "(a string with credentials, redacted)". Pass a URL such as redis://127.0.0.1:6379 or rediss://user:password@host:6380/0.'],
      [{ url: 6379 }, "Invalid option url: 6379. Pass a URL such as redis://127.0.0.1:6379 or rediss://user:password@host:6380/0."],
      [{ client: {} }, "Invalid option client: an object. Pass an ioredis Redis or Cluster client (ioredis 5), or a redis:// URL as the url option."],
      [{ client: "redis://127.0.0.1" }, 'Invalid option client: "redis://127.0.0.1". Pass an ioredis Redis or Cluster client (ioredis 5), or a redis:// URL as the url option.'],
      [{ client, keyPrefix: 5 }, 'Invalid option keyPrefix: 5. Set keyPrefix to a string such as "mcp-oauth-proxy:", or leave it unset for the default.'],
    ];

    for (const [options, message] of cases) {
      let thrown: unknown;
      try {
        new RedisStore(options as RedisStoreOptions);
      } catch (error) {
        thrown = error;
      }

      expect(thrown).toBeInstanceOf(OptionError);
      expect((thrown as OptionError).message).toBe(message);
      expect((thrown as OptionError).message).not.toContain("hunter2");
    }
  });

  it("url store names the missing ioredis package", async () => {
    const output = await runWithoutIoredis(`
      const { RedisStore } = await import(${JSON.stringify(fileURLToPath(new URL("../../lib/storage/redis.ts", import.meta.url)))});
      const store = new RedisStore({ url: "redis://127.0.0.1:6379" });
      try { await store.get("k"); console.log("resolved"); } catch (error) { console.log(error.message); }
    `);

    expect(output).toBe('RedisStore cannot connect to the url because the package "ioredis" is not installed. Run `npm install ioredis`, or pass an ioredis client as the client option.');
  });
});

describe("RedisStore outages", () => {
  const sockets = new Set<Socket>();
  let silent: Server | undefined;
  let ownServer: ChildProcess | undefined;
  let serverDirectory: string | undefined;

  afterEach(async () => {
    for (const socket of sockets) {
      socket.destroy();
    }
    sockets.clear();
    await new Promise((resolve) => (silent === undefined ? resolve(undefined) : silent.close(resolve)));
    silent = undefined;
    if (ownServer !== undefined) {
      await stopRedisServer(ownServer);
      ownServer = undefined;
    }
    if (serverDirectory !== undefined) {
      await rm(serverDirectory, { recursive: true, force: true });
      serverDirectory = undefined;
    }
  });

  /** Starts a TCP server on 127.0.0.1 that accepts connections and never replies, and returns its port. */
  async function startSilentServer(): Promise<number> {
    silent = createServer((socket) => {
      sockets.add(socket);
    });
    await new Promise<void>((resolve) => silent?.listen(0, "127.0.0.1", resolve));
    const address = silent.address();
    if (address === null || typeof address === "string") {
      throw new Error("The silent server has no TCP address.");
    }
    return address.port;
  }

  it("operations fail fast when Redis refuses connections", async () => {
    const port = await findFreePort();
    const store = new RedisStore({ url: `redis://127.0.0.1:${port}` });

    const started = Date.now();
    await expect(store.get("k")).rejects.toThrow("Reached the max retries per request limit (which is 2)");
    const elapsed = Date.now() - started;

    expect(elapsed).toBeLessThan(2_000);
    await store.close();
  });

  it("operations time out after 5 s when Redis does not reply", async () => {
    const port = await startSilentServer();
    const store = new RedisStore({ url: `redis://127.0.0.1:${port}` });

    const started = Date.now();
    await expect(store.set("k", "value", 60)).rejects.toThrow("Command timed out");
    const elapsed = Date.now() - started;

    expectBetween(elapsed, 4_900, 6_500);
    await store.close();
  }, 15_000);

  it("store reconnects after Redis restarts", async () => {
    const port = await findFreePort();
    serverDirectory = await mkdtemp(join(tmpdir(), "redis-store-"));
    ownServer = await startRedisServer(port, serverDirectory);
    const store = new RedisStore({ url: `redis://127.0.0.1:${port}` });

    // A fresh server has no cached scripts, so this also covers the EVALSHA to EVAL fallback.
    expect(await store.increment("counter", 60)).toBe(1);
    await store.set("k", "before", 60);
    expect(await store.get("k")).toBe("before");

    await stopRedisServer(ownServer);
    const started = Date.now();
    await expect(store.get("k")).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(6_000);

    ownServer = await startRedisServer(port, serverDirectory);
    await waitFor(async () => {
      try {
        await store.set("k", "after", 60);
        return true;
      } catch {
        return false;
      }
    }, 10_000);

    expect(await store.get("k")).toBe("after");
    expect(await store.increment("counter", 60)).toBe(1);
    await store.close();
  }, 30_000);
});

function expectBetween(actual: number, minimum: number, maximum: number): void {
  expect(actual).toBeGreaterThanOrEqual(minimum);
  expect(actual).toBeLessThanOrEqual(maximum);
}

async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      throw new Error(`Condition not met within ${timeoutMs} ms.`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Wraps the real client so GETDEL fails with `message`, the way a server before Redis 6.2 or an ACL rejects it. */
function withoutGetdel(real: Redis, message: string): { client: Redis; getdelCalls: () => number } {
  let calls = 0;
  const wrapped = new Proxy(real, {
    get(target, property, receiver) {
      if (property === "getdel") {
        return async () => {
          calls += 1;
          throw new Error(message);
        };
      }

      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { client: wrapped, getdelCalls: () => calls };
}

/** Runs an ES module snippet in a new Node process where the package "ioredis" cannot be resolved, and returns its output. */
async function runWithoutIoredis(source: string): Promise<string> {
  const hooks = `export async function resolve(specifier, context, next) {
    if (specifier === "ioredis") {
      throw Object.assign(new Error("Cannot find package 'ioredis'"), { code: "ERR_MODULE_NOT_FOUND" });
    }
    return next(specifier, context);
  }`;
  const register = `import { register } from "node:module"; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hooks)}`)});`;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ["--import", "tsx", "--import", `data:text/javascript,${encodeURIComponent(register)}`, "--input-type=module", "-e", source],
    { timeout: 20_000 },
  );
  return stdout.trim();
}
