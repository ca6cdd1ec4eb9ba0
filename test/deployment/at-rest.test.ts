import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { DiskStore, OIDCProvider, RedisStore } from "mcp-oauth-proxy";
import type { Storage, UpstreamTokens } from "mcp-oauth-proxy";
import { startSharedUpstream, UPSTREAM_CLIENT_ID } from "../../examples/demo/app.js";
import { Harness } from "../helpers/harness.js";
import { freePort } from "../helpers/ports.js";
import { REDIS_URL, redisKeyPrefix } from "../helpers/redis.js";

/** A provider that remembers every upstream token it received, so the test knows what must not appear at rest. */
function recordingProvider(issuer: string, clientSecret: string, seen: string[]): OIDCProvider {
  const provider = new OIDCProvider({ issuer, clientId: UPSTREAM_CLIENT_ID, clientSecret, scopes: ["openid", "profile", "email", "offline_access"] });
  const record = (tokens: UpstreamTokens): UpstreamTokens => {
    seen.push(tokens.accessToken, ...[tokens.refreshToken, tokens.idToken].filter((value): value is string => value !== undefined));
    return tokens;
  };
  const exchangeCode = provider.exchangeCode.bind(provider);
  const refresh = provider.refresh.bind(provider);
  provider.exchangeCode = async (params) => record(await exchangeCode(params));
  provider.refresh = async (tokens) => record(await refresh(tokens));
  return provider;
}

interface AtRestCase {
  name: string;
  open(): { storage: Storage; dump(): Promise<string[]>; cleanup(): Promise<void> };
}

const cases: AtRestCase[] = [
  {
    name: "RedisStore",
    open() {
      const keyPrefix = redisKeyPrefix("at-rest");
      const storage = new RedisStore({ url: REDIS_URL, keyPrefix });
      const reader = new Redis(REDIS_URL);
      return {
        storage,
        async dump() {
          const keys = await reader.keys(`${keyPrefix}*`);
          const values = await Promise.all(keys.map((key) => reader.get(key)));
          return [...keys, ...values.map((value) => value ?? "")];
        },
        async cleanup() {
          const keys = await reader.keys(`${keyPrefix}*`);
          if (keys.length > 0) {
            await reader.del(...keys);
          }
          reader.disconnect();
          await storage.close();
        },
      };
    },
  },
  {
    name: "DiskStore",
    open() {
      const directory = mkdtempSync(join(tmpdir(), "mcp-oauth-proxy-at-rest-"));
      const storage = new DiskStore({ directory });
      return {
        storage,
        async dump() {
          const names = readdirSync(directory);
          return [...names, ...names.map((name) => readFileSync(join(directory, name), "latin1"))];
        },
        async cleanup() {
          await storage.close?.();
          rmSync(directory, { recursive: true, force: true });
        },
      };
    },
  },
];

describe.each(cases)("secrets at rest in $name", (testCase) => {
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const cleanup of cleanups) {
      await cleanup();
    }
  });

  it("stores no token or code in plain text", async () => {
    const port = await freePort();
    const upstream = await startSharedUpstream([`http://127.0.0.1:${port}/oauth/callback`]);
    cleanups.push(() => upstream.server.close());
    const store = testCase.open();
    cleanups.push(store.cleanup);
    const upstreamTokens: string[] = [];
    const harness = await Harness.start({
      port,
      upstream,
      storage: store.storage,
      secret: randomBytes(32).toString("base64url"),
      proxyOptions: { provider: recordingProvider(upstream.server.issuer, upstream.clientSecret, upstreamTokens) },
    });
    cleanups.push(() => harness.close());

    const client = await harness.register({ token_endpoint_auth_method: "client_secret_post" });
    const { code } = await harness.signIn(client.client_id);
    const first = await (await harness.token({
      grant_type: "authorization_code",
      code,
      code_verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
      client_id: client.client_id,
      client_secret: client.client_secret as string,
    })).json() as { access_token: string; refresh_token: string };
    const second = await (await harness.token({
      grant_type: "refresh_token",
      refresh_token: first.refresh_token,
      client_id: client.client_id,
      client_secret: client.client_secret as string,
    })).json() as { access_token: string; refresh_token: string };

    const secrets = [...upstreamTokens, code, first.refresh_token, second.refresh_token, first.access_token, client.client_secret as string];
    expect(upstreamTokens.length).toBeGreaterThanOrEqual(4);
    expect(secrets.every((secret) => secret.length >= 20)).toBe(true);

    const stored = await store.dump();
    expect(stored.length).toBeGreaterThan(4);
    for (const secret of secrets) {
      expect(stored.filter((entry) => entry.includes(secret))).toEqual([]);
    }
  });
});
