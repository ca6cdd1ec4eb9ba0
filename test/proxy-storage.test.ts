import { afterEach, describe, expect, it, vi } from "vitest";
import { EncryptedStore, MemoryStore, OAuthProvider, oauthProxy } from "mcp-oauth-proxy";
import type { Storage } from "mcp-oauth-proxy";
import { Harness } from "./helpers/harness.js";

const provider = new OAuthProvider({
  clientId: "proxy",
  clientSecret: "upstream-secret",
  authorizationEndpoint: "https://idp.example.com/authorize",
  tokenEndpoint: "https://idp.example.com/token",
});
const secret = "s".repeat(32);

/** A store that records every value written to it, to see what the proxy hands its storage. */
class RecordingStore extends MemoryStore {
  readonly written: Array<{ key: string; value: unknown }> = [];

  override async set(key: string, value: unknown, ttlSeconds?: number): Promise<void> {
    this.written.push({ key, value });
    await super.set(key, value, ttlSeconds);
  }
}

describe("proxy storage wrapping", () => {
  it("encrypts a plain store", async () => {
    const inner = new RecordingStore();
    const harness = await Harness.start({ storage: inner });
    try {
      await harness.register();
      expect(inner.written.length).toBeGreaterThan(0);
      for (const { value } of inner.written) {
        expect(value).toMatch(/^e1\./);
      }
    } finally {
      await harness.close();
      await inner.close();
    }
  });

  it("does not wrap an encrypting store twice", async () => {
    const key = { id: "own", key: Buffer.alloc(32, 9) };
    const inner = new RecordingStore();
    const harness = await Harness.start({ storage: new EncryptedStore(inner, [key]) });
    try {
      const client = await harness.register();
      const tokens = await harness.obtainTokens(client.client_id);
      expect((await harness.callMcp(`Bearer ${tokens.access_token}`)).status).toBe(200);
      expect(inner.written.length).toBeGreaterThan(3);

      // Opening each raw value once with the store's own key must give the record itself, not another ciphertext.
      const copy = new MemoryStore();
      const opener = new EncryptedStore(copy, [key]);
      for (const { key: name, value } of inner.written) {
        expect(value).toMatch(/^e1\.own\./);
        await copy.set(name, value);
        const opened = await opener.get(name);
        expect(opened).toBeDefined();
        expect(String(opened)).not.toMatch(/^e1\./);
      }
      await copy.close();
    } finally {
      await harness.close();
      await inner.close();
    }
  });
});

describe("in-memory store in production", () => {
  const savedEnv = process.env.NODE_ENV;
  afterEach(() => {
    process.env.NODE_ENV = savedEnv;
    vi.restoreAllMocks();
  });

  it("warns once, naming the fix", () => {
    process.env.NODE_ENV = "production";
    const warnings: string[] = [];
    vi.spyOn(process, "emitWarning").mockImplementation(((message: string | Error) => {
      warnings.push(String(message));
    }) as typeof process.emitWarning);

    const first = oauthProxy({ baseUrl: "https://mcp.example.com", provider, secret });
    const second = oauthProxy({ baseUrl: "https://mcp.example.com", provider, secret, storage: new MemoryStore() as Storage });
    void first.close();
    void second.close();

    const memoryWarnings = warnings.filter((warning) => warning.includes("in-memory store"));
    expect(memoryWarnings.length).toBe(1);
    expect(memoryWarnings.join("")).toMatch(/RedisStore|DiskStore/);
  });
});
