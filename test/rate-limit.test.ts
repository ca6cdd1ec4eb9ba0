import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { MemoryStore, OAuthProvider, oauthProxy, OptionError } from "mcp-oauth-proxy";
import type { OAuthProxy, OAuthProxyOptions, Storage } from "mcp-oauth-proxy";
import { StorageRateLimitStore } from "../lib/rate-limit.js";
import { RedisStore } from "../lib/storage/redis.js";
import { Harness, REDIRECT_URI } from "./helpers/harness.js";
import { REDIS_URL, redisKeyPrefix } from "./helpers/redis.js";

const SECRET = randomBytes(32).toString("base64url");
const PUBLIC_CLIENT = { redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: "none", client_name: "Rate test" };

/** Creates a provider whose endpoints are never contacted, because these tests stop before the upstream. */
function idleProvider(): OAuthProvider {
  return new OAuthProvider({
    clientId: "proxy",
    clientSecret: "upstream-secret",
    authorizationEndpoint: "http://127.0.0.1:9/authorize",
    tokenEndpoint: "http://127.0.0.1:9/token",
  });
}

/** An Express app with only the proxy, listening on 127.0.0.1, for settings the demo app does not have. */
interface App {
  url: string;
  proxy: OAuthProxy;
  close(): Promise<void>;
}

async function startApp(options: Partial<OAuthProxyOptions>, configure: (app: express.Express) => void = () => {}): Promise<App> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const proxy = oauthProxy({ baseUrl: url, provider: idleProvider(), secret: SECRET, ...options });
  const app = express();
  configure(app);
  app.use(proxy);
  server.on("request", app);
  return {
    url,
    proxy,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await proxy.close();
    },
  };
}

function registerAt(url: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}/oauth/register`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(PUBLIC_CLIENT),
  });
}

let lastWindowStart = 0;

/**
 * Freezes `Date` one second into a one-minute window that no earlier test used,
 * so counts start at zero and no window ends during the test.
 */
function freezeAtWindowStart(): number {
  vi.useFakeTimers({ toFake: ["Date"] });
  lastWindowStart = Math.max(Math.ceil(Date.now() / 60_000) * 60_000, lastWindowStart + 60_000);
  const start = lastWindowStart + 1000;
  vi.setSystemTime(start);
  return start;
}

async function statuses(count: number, send: () => Promise<Response>): Promise<number[]> {
  const result: number[] = [];
  for (let index = 0; index < count; index++) {
    const response = await send();
    await response.arrayBuffer();
    result.push(response.status);
  }
  return result;
}

/** Asserts the JSON response of a limited API endpoint and returns its Retry-After in seconds. */
async function expectJsonLimit(response: Response): Promise<number> {
  expect(response.status).toBe(429);
  expect(response.headers.get("content-type")).toMatch(/^application\/json(;|$)/);
  expect(response.headers.get("cache-control")).toBe("no-store");
  const body = await response.json() as Record<string, unknown>;
  expect(body.error).toBe("temporarily_unavailable");
  expect(body.error_description).toMatch(/^Too many requests; retry after \d+ seconds$/);
  const retryAfter = Number(response.headers.get("retry-after"));
  expect(Number.isInteger(retryAfter)).toBe(true);
  return retryAfter;
}

afterEach(() => {
  vi.useRealTimers();
});

describe("StorageRateLimitStore", () => {
  const options = { windowMs: 60_000, skipFailedRequests: false, skipSuccessfulRequests: false } as Parameters<StorageRateLimitStore["init"]>[0];

  it("counts hits per key in one window", async () => {
    const start = freezeAtWindowStart();
    const store = new StorageRateLimitStore(new MemoryStore(), "test");
    store.init(options);

    expect(await store.increment("a")).toEqual({ totalHits: 1, resetTime: new Date(start - 1000 + 60_000) });
    expect((await store.increment("a")).totalHits).toBe(2);
    expect((await store.increment("b")).totalHits).toBe(1);
  });

  it("starts again in the next window", async () => {
    const start = freezeAtWindowStart();
    const store = new StorageRateLimitStore(new MemoryStore(), "test");
    store.init(options);
    await store.increment("a");
    await store.increment("a");

    vi.setSystemTime(start + 59_000);
    expect((await store.increment("a")).totalHits).toBe(1);
  });

  it("shares counts between stores on one storage", async () => {
    freezeAtWindowStart();
    const storage = new MemoryStore();
    const first = new StorageRateLimitStore(storage, "test");
    const second = new StorageRateLimitStore(storage, "test");
    first.init(options);
    second.init(options);

    await first.increment("a");
    expect((await second.increment("a")).totalHits).toBe(2);
  });

  it("keeps endpoints apart by name", async () => {
    freezeAtWindowStart();
    const storage = new MemoryStore();
    const register = new StorageRateLimitStore(storage, "register");
    const token = new StorageRateLimitStore(storage, "token");
    register.init(options);
    token.init(options);

    await register.increment("a");
    expect((await token.increment("a")).totalHits).toBe(1);
  });

  it("resets a key", async () => {
    freezeAtWindowStart();
    const store = new StorageRateLimitStore(new MemoryStore(), "test");
    store.init(options);
    await store.increment("a");

    await store.resetKey("a");
    expect((await store.increment("a")).totalHits).toBe(1);
  });

  it("stores hashed keys only", async () => {
    freezeAtWindowStart();
    const keys: string[] = [];
    const storage = new MemoryStore();
    const recording: Storage = Object.assign(Object.create(storage) as Storage, {
      increment: (key: string, ttl: number) => {
        keys.push(key);
        return storage.increment(key, ttl);
      },
    });
    const store = new StorageRateLimitStore(recording, "test");
    store.init(options);

    await store.increment("203.0.113.7");
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatch(/^ratelimit:test:\d+:[A-Za-z0-9_-]{43}$/);
    expect(keys[0]).not.toContain("203.0.113.7");
  });

  it("rejects giving hits back", async () => {
    const store = new StorageRateLimitStore(new MemoryStore(), "test");
    expect(() => store.init({ ...options, skipFailedRequests: true })).toThrow(/skipFailedRequests/);
    await expect(store.decrement()).rejects.toThrow(/no atomic decrement/);
  });
});

describe("registration rate limit", () => {
  let harness: Harness;
  beforeAll(async () => {
    // An empty rateLimits object keeps every default limit.
    harness = await Harness.start({ proxyOptions: { rateLimits: {} } });
  });
  afterAll(async () => {
    await harness.close();
  });

  it("rejects the 31st registration in a minute", async () => {
    const start = freezeAtWindowStart();
    const url = harness.metadata.registration_endpoint as string;

    const accepted = await statuses(30, () => harness.postJson(url, PUBLIC_CLIENT));
    expect(accepted).toEqual(Array.from({ length: 30 }, () => 201));

    const limited = await harness.postJson(url, PUBLIC_CLIENT);
    expect(await expectJsonLimit(limited)).toBe(59);

    vi.setSystemTime(start + 59_000);
    expect((await harness.postJson(url, PUBLIC_CLIENT)).status).toBe(201);
  });

  it("sends the retry time to browsers through CORS", async () => {
    freezeAtWindowStart();
    const url = harness.metadata.registration_endpoint as string;
    await statuses(31, () => harness.postJson(url, PUBLIC_CLIENT));

    const limited = await harness.postJson(url, PUBLIC_CLIENT, { origin: "https://app.example" });
    expect(limited.status).toBe(429);
    expect(limited.headers.get("access-control-allow-origin")).toBe("*");
    expect(limited.headers.get("access-control-expose-headers")?.split(/, */)).toContain("Retry-After");
    expect(limited.headers.get("ratelimit-policy")).toMatch(/^"register"; q=30; w=60; pk=:[A-Za-z0-9+/=]+:$/);
  });
});

describe("authorization rate limit", () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await Harness.start({ proxyOptions: { rateLimits: { authorize: { limit: 5 } } } });
  });
  afterAll(async () => {
    await harness.close();
  });

  it("shows a 429 page after the limit", async () => {
    freezeAtWindowStart();
    const client = await harness.register();
    const url = harness.authorizeUrl(client.client_id);

    expect(await statuses(5, () => fetch(url, { redirect: "manual" }))).toEqual([200, 200, 200, 200, 200]);

    const limited = await fetch(url, { redirect: "manual" });
    expect(limited.status).toBe(429);
    expect(limited.headers.get("location")).toBeNull();
    expect(limited.headers.get("retry-after")).toBe("59");
    expect(limited.headers.get("content-type")).toMatch(/^text\/html/);
    expect(limited.headers.get("x-frame-options")).toBe("DENY");
    expect(limited.headers.get("set-cookie")).toBeNull();
    const html = await limited.text();
    expect(html).toContain("<h1>Too many requests</h1>");
    expect(html).toContain("Wait 59 seconds");
  });
});

describe("token and revocation rate limits", () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await Harness.start({
      proxyOptions: { rateLimits: { token: { limit: 8 }, tokenPerClient: { limit: 3, windowSeconds: 30 }, revoke: { limit: 4 } } },
    });
  });
  afterAll(async () => {
    await harness.close();
  });

  const refresh = (clientId: string, headers: Record<string, string> = {}): Promise<Response> =>
    harness.token({ grant_type: "refresh_token", refresh_token: "unknown", client_id: clientId }, headers);

  it("limits each registered client", async () => {
    freezeAtWindowStart();
    const first = await harness.register();
    const second = await harness.register();

    expect(await statuses(3, () => refresh(first.client_id))).toEqual([400, 400, 400]);
    expect(await expectJsonLimit(await refresh(first.client_id))).toBe(29);
    expect((await refresh(second.client_id)).status).toBe(400);
  });

  it("limits a confidential client that uses Basic", async () => {
    freezeAtWindowStart();
    const client = await harness.register({ token_endpoint_auth_method: "client_secret_basic" });
    const basic = `Basic ${Buffer.from(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret ?? "")}`).toString("base64")}`;
    const send = (): Promise<Response> => harness.token({ grant_type: "refresh_token", refresh_token: "unknown" }, { authorization: basic });

    expect(await statuses(3, send)).toEqual([400, 400, 400]);
    expect((await send()).status).toBe(429);
  });

  it("limits unknown client ids by address only", async () => {
    freezeAtWindowStart();
    const sent = await statuses(9, () => refresh("made-up-client"));

    expect(sent).toEqual([401, 401, 401, 401, 401, 401, 401, 401, 429]);
  });

  it("limits token requests per address", async () => {
    freezeAtWindowStart();
    const clients = await Promise.all(Array.from({ length: 3 }, () => harness.register()));
    const sent: number[] = [];
    for (const client of clients) {
      sent.push(...await statuses(3, () => refresh(client.client_id)));
    }

    expect(sent).toEqual([400, 400, 400, 400, 400, 400, 400, 400, 429]);
  });

  it("limits revocation per address", async () => {
    freezeAtWindowStart();
    const client = await harness.register();
    const send = (): Promise<Response> => harness.revoke({ token: "garbage", client_id: client.client_id });

    expect(await statuses(4, send)).toEqual([200, 200, 200, 200]);
    expect(await expectJsonLimit(await send())).toBe(59);
  });
});

describe("rate limits turned off", () => {
  it("accepts every registration with rateLimits false", async () => {
    freezeAtWindowStart();
    const app = await startApp({ rateLimits: false });
    try {
      expect(await statuses(40, () => registerAt(app.url))).toEqual(Array.from({ length: 40 }, () => 201));
    } finally {
      await app.close();
    }
  });

  it("turns off one endpoint and keeps the others", async () => {
    freezeAtWindowStart();
    const app = await startApp({ rateLimits: { register: false, revoke: { limit: 1 } } });
    try {
      expect(await statuses(40, () => registerAt(app.url))).toEqual(Array.from({ length: 40 }, () => 201));
      const revoke = () => fetch(`${app.url}/oauth/revoke`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "token=x&client_id=nobody" });
      expect(await statuses(2, revoke)).toEqual([401, 429]);
    } finally {
      await app.close();
    }
  });
});

describe("client address behind a reverse proxy", () => {
  let app: App;
  beforeAll(async () => {
    app = await startApp({ rateLimits: { register: { limit: 2 } } }, (instance) => instance.set("trust proxy", "loopback"));
  });
  afterAll(async () => {
    await app.close();
  });

  it("counts each forwarded address apart", async () => {
    freezeAtWindowStart();
    const from = (address: string) => () => registerAt(app.url, { "x-forwarded-for": address });

    expect(await statuses(3, from("198.51.100.1"))).toEqual([201, 201, 429]);
    expect(await statuses(2, from("198.51.100.2"))).toEqual([201, 201]);
  });

  it("counts an IPv6 /56 as one address", async () => {
    freezeAtWindowStart();

    expect(await statuses(2, () => registerAt(app.url, { "x-forwarded-for": "2001:db8:0:1::1" }))).toEqual([201, 201]);
    expect((await registerAt(app.url, { "x-forwarded-for": "2001:db8:0:2::1" })).status).toBe(429);
    expect((await registerAt(app.url, { "x-forwarded-for": "2001:db8:1:0::1" })).status).toBe(201);
  });
});

describe("rate limits across instances", () => {
  it("shares a limit between two instances on one Redis", async () => {
    freezeAtWindowStart();
    const keyPrefix = redisKeyPrefix("rate-limit");
    const stores = [new RedisStore({ url: REDIS_URL, keyPrefix }), new RedisStore({ url: REDIS_URL, keyPrefix })];
    const apps = [await startApp({ storage: stores[0] }), await startApp({ storage: stores[1] })];
    try {
      const sent: number[] = [];
      for (let index = 0; index < 31; index++) {
        const response = await registerAt((apps[index % 2] as App).url);
        sent.push(response.status);
      }

      expect(sent.slice(0, 30)).toEqual(Array.from({ length: 30 }, () => 201));
      expect(sent[30]).toBe(429);
      expect((await registerAt((apps[0] as App).url)).status).toBe(429);
    } finally {
      await Promise.all(apps.map((app) => app.close()));
      await Promise.all(stores.map((store) => store.close()));
    }
  });
});

describe("rateLimits option", () => {
  const cases: Array<{ value: unknown; option: string; fix: RegExp }> = [
    { value: true, option: "rateLimits", fix: /Pass false or an object/ },
    { value: [], option: "rateLimits", fix: /Pass false or an object/ },
    { value: { consent: { limit: 5 } }, option: "rateLimits.consent", fix: /register, authorize, token, tokenPerClient, revoke/ },
    { value: { register: 30 }, option: "rateLimits.register", fix: /\{ limit, windowSeconds \}/ },
    { value: { token: { limit: 0 } }, option: "rateLimits.token", fix: /greater than 0/ },
    { value: { token: { limit: 1.5 } }, option: "rateLimits.token", fix: /whole number/ },
    { value: { revoke: {} }, option: "rateLimits.revoke", fix: /\{ limit, windowSeconds \}/ },
    { value: { authorize: { limit: 5, windowSeconds: 0 } }, option: "rateLimits.authorize.windowSeconds", fix: /seconds greater than 0/ },
    { value: { tokenPerClient: { limit: 5, windowSeconds: "60" } }, option: "rateLimits.tokenPerClient.windowSeconds", fix: /whole number of seconds/ },
  ];

  for (const { value, option, fix } of cases) {
    it(`rejects ${JSON.stringify(value)}`, () => {
      let error: unknown;
      try {
        oauthProxy({ baseUrl: "https://mcp.example.com", provider: idleProvider(), secret: SECRET, rateLimits: value as OAuthProxyOptions["rateLimits"] });
      } catch (caught) {
        error = caught;
      }

      expect(error).toBeInstanceOf(OptionError);
      expect((error as OptionError).option).toBe(option);
      expect((error as OptionError).message).toMatch(fix);
    });
  }
});
