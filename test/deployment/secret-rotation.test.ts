import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisStore } from "mcp-oauth-proxy";
import { startSharedUpstream } from "../../examples/demo/app.js";
import type { SharedUpstream } from "../../examples/demo/app.js";
import { TestBrowser } from "../../examples/demo/browser.js";
import { deriveKeys } from "../../lib/core/keys.js";
import { Harness, VERIFIER } from "../helpers/harness.js";
import { freePort } from "../helpers/ports.js";
import { REDIS_URL, redisKeyPrefix } from "../helpers/redis.js";

describe("secret rotation", () => {
  const oldSecret = randomBytes(32).toString("base64url");
  const newSecret = randomBytes(32).toString("base64url");
  const keyPrefix = redisKeyPrefix("rotation");
  const reader = new Redis(REDIS_URL);
  const stores: RedisStore[] = [];
  let port: number;
  let upstream: SharedUpstream;

  beforeAll(async () => {
    port = await freePort();
    upstream = await startSharedUpstream([`http://127.0.0.1:${port}/oauth/callback`]);
  });
  afterAll(async () => {
    const keys = await reader.keys(`${keyPrefix}*`);
    if (keys.length > 0) {
      await reader.del(...keys);
    }
    reader.disconnect();
    await Promise.all(stores.map((store) => store.close()));
    await upstream.server.close();
  });

  function start(secret: string | string[]): Promise<Harness> {
    const storage = new RedisStore({ url: REDIS_URL, keyPrefix });
    stores.push(storage);
    return Harness.start({ port, secret, upstream, storage });
  }

  async function keyIdsInUse(): Promise<Set<string>> {
    const keys = await reader.keys(`${keyPrefix}*`);
    const raw = await Promise.all(keys.map((key) => reader.get(key)));
    // RedisStore keeps JSON, so an encrypted value is a JSON string "e1.<key id>.<sealed>".
    const values = raw.map((value) => (value === null ? undefined : JSON.parse(value) as unknown));
    const encrypted = values.filter((value): value is string => typeof value === "string" && value.startsWith("e1."));
    return new Set(encrypted.map((value) => value.split(".")[1] as string));
  }

  it("keeps old tokens and writes under the new secret", async () => {
    const before = await start(oldSecret);
    const client = await before.register({ token_endpoint_auth_method: "client_secret_basic" });
    const basic = `Basic ${Buffer.from(`${client.client_id}:${client.client_secret as string}`).toString("base64")}`;
    const { code } = await before.signIn(client.client_id);
    const redeemed = await before.token({ grant_type: "authorization_code", code, code_verifier: VERIFIER }, { authorization: basic });
    expect(redeemed.status).toBe(200);
    const tokens = await redeemed.json() as { access_token: string; refresh_token: string };
    await before.close();
    expect(await keyIdsInUse()).toEqual(new Set([deriveKeys(oldSecret).keyId]));

    const after = await start([newSecret, oldSecret]);
    try {
      expect((await after.callMcp(`Bearer ${tokens.access_token}`)).status).toBe(200);

      const refreshed = await after.token({ grant_type: "refresh_token", refresh_token: tokens.refresh_token }, { authorization: basic });
      expect(refreshed.status).toBe(200);
      const body = await refreshed.json() as { access_token: string; refresh_token: string };
      expect((await after.callMcp(`Bearer ${body.access_token}`)).status).toBe(200);

      const consent = await new TestBrowser().get(after.authorizeUrl(client.client_id));
      expect(consent.status).toBe(200);
      expect(await keyIdsInUse()).toContain(deriveKeys(newSecret).keyId);
    } finally {
      await after.close();
    }
  });
});
