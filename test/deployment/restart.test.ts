import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { Redis } from "ioredis";
import { join } from "node:path";
import { DiskStore, MemoryStore, RedisStore } from "mcp-oauth-proxy";
import type { Storage } from "mcp-oauth-proxy";
import { startSharedUpstream } from "../../examples/demo/app.js";
import type { SharedUpstream } from "../../examples/demo/app.js";
import { TestBrowser } from "../../examples/demo/browser.js";
import { Harness } from "../helpers/harness.js";
import { freePort } from "../helpers/ports.js";
import { REDIS_URL, redisKeyPrefix } from "../helpers/redis.js";

const diskDirectory = mkdtempSync(join(tmpdir(), "mcp-oauth-proxy-restart-"));
const redisPrefix = redisKeyPrefix("restart");

interface StoreKind {
  name: string;
  /** Whether grants survive a restart with this store (the in-memory one loses them). */
  persistent: boolean;
  /** Opens the store as a freshly started process would. */
  open(): Storage;
}

const storeKinds: StoreKind[] = [
  { name: "MemoryStore", persistent: false, open: () => new MemoryStore() },
  { name: "DiskStore", persistent: true, open: () => new DiskStore({ directory: diskDirectory }) },
  { name: "RedisStore", persistent: true, open: () => new RedisStore({ url: REDIS_URL, keyPrefix: redisPrefix }) },
];

afterAll(async () => {
  rmSync(diskDirectory, { recursive: true, force: true });
  const reader = new Redis(REDIS_URL);
  const keys = await reader.keys(`${redisPrefix}*`);
  if (keys.length > 0) {
    await reader.del(...keys);
  }
  reader.disconnect();
});

describe.each(storeKinds)("restart with $name", (kind) => {
  const secret = randomBytes(32).toString("base64url");
  let port: number;
  let upstream: SharedUpstream;
  let stores: Storage[] = [];

  beforeAll(async () => {
    port = await freePort();
    upstream = await startSharedUpstream([`http://127.0.0.1:${port}/oauth/callback`]);
  });
  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close?.()));
    stores = [];
    await upstream.server.close();
  });

  function start(): Promise<Harness> {
    const storage = kind.open();
    stores.push(storage);
    return Harness.start({ port, secret, upstream, storage });
  }

  it("keeps registrations, and grants when the store persists", async () => {
    const before = await start();
    const client = await before.register();
    const tokens = await before.obtainTokens(client.client_id);
    await before.close();

    const after = await start();
    try {
      const consent = await new TestBrowser().get(after.authorizeUrl(client.client_id));
      expect(consent.status).toBe(200);
      expect(consent.body).toContain("Test client");

      const call = await after.callMcp(`Bearer ${tokens.access_token}`);
      expect(call.status).toBe(kind.persistent ? 200 : 401);

      const refresh = await after.token({ grant_type: "refresh_token", refresh_token: tokens.refresh_token, client_id: client.client_id });
      expect(refresh.status).toBe(kind.persistent ? 200 : 400);

      const signedInAgain = await after.obtainTokens(client.client_id);
      expect((await after.callMcp(`Bearer ${signedInAgain.access_token}`)).status).toBe(200);
    } finally {
      await after.close();
    }
  });
});
