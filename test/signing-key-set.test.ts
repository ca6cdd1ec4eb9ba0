import { createSecretKey, generateKeyPairSync, randomBytes } from "node:crypto";

import { afterEach, describe, expect, it } from "vitest";

import { signAccessToken, verifyAccessToken } from "../lib/core/jwt.js";
import type { TokenKey } from "../lib/core/jwt.js";
import { StaticKeySet } from "../lib/core/signing-keys.js";
import { createSigningKeySet, RotatingKeySet } from "../lib/signing-key-set.js";
import type { RotationSchedule } from "../lib/signing-key-set.js";
import { resolveJwtOptions } from "../lib/signing-options.js";
import { EncryptedStore } from "../lib/storage/encrypted.js";
import { MemoryStore } from "../lib/storage/memory.js";
import type { Storage } from "../lib/storage/types.js";

const DAY = 86400;
const TTL = 3600;
const SCHEDULE: RotationSchedule = { algorithm: "ES256", periodSeconds: DAY, accessTokenTtl: TTL };
/** A period boundary: midnight UTC, 2030-01-01. */
const BOUNDARY = 1_893_456_000;

const stores: MemoryStore[] = [];
let clock = BOUNDARY;

afterEach(async () => {
  clock = BOUNDARY;
  await Promise.all(stores.splice(0).map((store) => store.close()));
});

/** Creates a memory store on the test clock, so stored keys expire in test time. */
function memoryStore(): MemoryStore {
  const store = new MemoryStore({ now: () => clock * 1000 });
  stores.push(store);
  return store;
}

/** Counts reads and writes on a real store. */
class CountingStore implements Storage {
  gets = 0;
  adds = 0;
  constructor(readonly inner: Storage) {}
  get(key: string) {
    this.gets += 1;
    return this.inner.get(key);
  }
  set(key: string, value: unknown, ttl?: number) {
    return this.inner.set(key, value, ttl);
  }
  take(key: string) {
    return this.inner.take(key);
  }
  add(key: string, value: unknown, ttl: number) {
    this.adds += 1;
    return this.inner.add(key, value, ttl);
  }
  increment(key: string, ttl: number) {
    return this.inner.increment(key, ttl);
  }
  delete(key: string) {
    return this.inner.delete(key);
  }
}

async function kids(keys: RotatingKeySet, now: number): Promise<string[]> {
  return (await keys.publicKeys(now)).map((jwk) => jwk.kid);
}

function sign(key: TokenKey, now: number): string {
  return signAccessToken({ issuer: "https://app.example.com", subject: "user", audience: "https://app.example.com/mcp", clientId: "c", scope: "", grantId: "g", ttlSeconds: TTL, now }, key).token;
}

describe("RotatingKeySet", () => {
  it("signs with the current key and publishes the next", async () => {
    const keys = new RotatingKeySet(memoryStore(), SCHEDULE);
    const now = BOUNDARY + 100;
    const signing = await keys.signingKey(now);
    const published = await kids(keys, now);

    expect(signing.algorithm).toBe("ES256");
    expect(signing.key.type).toBe("private");
    expect(published).toHaveLength(2);
    expect(published[1]).toBe(signing.kid);
    expect(published[0]).not.toBe(signing.kid);
  });

  it("verifies what it signs", async () => {
    const keys = new RotatingKeySet(memoryStore(), SCHEDULE);
    const now = BOUNDARY + 100;
    const token = sign(await keys.signingKey(now), now);
    const key = await keys.verificationKey((await keys.signingKey(now)).kid, now);

    expect(key?.key.type).toBe("public");
    expect(verifyAccessToken(token, key as TokenKey, { issuer: "https://app.example.com", audience: "https://app.example.com/mcp", now }).sub).toBe("user");
  });

  it("instances converge on one key", async () => {
    const storage = memoryStore();
    const instances = Array.from({ length: 5 }, () => new RotatingKeySet(storage, SCHEDULE));
    const now = BOUNDARY + 100;
    const signing = await Promise.all(instances.map((keys) => keys.signingKey(now)));
    const published = await Promise.all(instances.map((keys) => kids(keys, now)));

    expect(new Set(signing.map((key) => key.kid)).size).toBe(1);
    for (const list of published) {
      expect(list).toEqual(published[0]);
    }
  });

  it("rotates to the published next key", async () => {
    const keys = new RotatingKeySet(memoryStore(), SCHEDULE);
    const before = BOUNDARY + DAY - 60;
    const first = await keys.signingKey(before);
    const [next] = await kids(keys, before);
    const after = BOUNDARY + DAY + 60;
    const second = await keys.signingKey(after);

    expect(second.kid).toBe(next);
    expect(second.kid).not.toBe(first.kid);
  });

  it("publishes next key a period ahead", async () => {
    const keys = new RotatingKeySet(memoryStore(), SCHEDULE);
    const firstSeen = new Map<string, number>();
    const firstSigned = new Map<string, number>();
    // Look every 10 minutes for three days, as a verifier polling the JWKS would.
    for (let now = BOUNDARY + 1; now < BOUNDARY + 3 * DAY; now += 600) {
      for (const kid of await kids(keys, now)) {
        if (!firstSeen.has(kid)) {
          firstSeen.set(kid, now);
        }
      }
      const { kid } = await keys.signingKey(now);
      if (!firstSigned.has(kid)) {
        firstSigned.set(kid, now);
      }
    }

    // The first key signed at once; every later key was published at least a token lifetime before it signed.
    const rotated = [...firstSigned].slice(1);
    expect(rotated).toHaveLength(2);
    for (const [kid, signedAt] of rotated) {
      expect(signedAt - (firstSeen.get(kid) as number)).toBeGreaterThanOrEqual(TTL);
    }
  });

  it("old key verifies until tokens expire", async () => {
    const keys = new RotatingKeySet(memoryStore(), SCHEDULE);
    const old = await keys.signingKey(BOUNDARY + DAY - 1);
    const lastTokenExpiry = BOUNDARY + DAY - 1 + TTL;

    expect(await keys.verificationKey(old.kid, BOUNDARY + DAY + 10)).toBeDefined();
    expect(await kids(keys, BOUNDARY + DAY + 10)).toContain(old.kid);
    expect(await keys.verificationKey(old.kid, lastTokenExpiry)).toBeDefined();
    expect(await keys.verificationKey(old.kid, BOUNDARY + DAY + TTL + 5)).toBeUndefined();
    expect(await kids(keys, BOUNDARY + DAY + TTL + 5)).not.toContain(old.kid);
  });

  it("rejects unknown and missing kids", async () => {
    const keys = new RotatingKeySet(memoryStore(), SCHEDULE);

    expect(await keys.verificationKey("unknown", BOUNDARY)).toBeUndefined();
    expect(await keys.verificationKey(undefined, BOUNDARY)).toBeUndefined();
  });

  it("reloads for unknown kids once per cooldown", async () => {
    const storage = new CountingStore(memoryStore());
    const keys = new RotatingKeySet(storage, SCHEDULE);
    await keys.signingKey(BOUNDARY);
    const afterLoad = storage.gets;

    await keys.verificationKey("unknown-1", BOUNDARY + 1);
    await keys.verificationKey("unknown-2", BOUNDARY + 29);
    expect(storage.gets).toBe(afterLoad);

    await keys.verificationKey("unknown-3", BOUNDARY + 30);
    expect(storage.gets).toBeGreaterThan(afterLoad);
  });

  it("finds a key another instance stored", async () => {
    const storage = memoryStore();
    const early = new RotatingKeySet(storage, SCHEDULE);
    await early.signingKey(BOUNDARY + 10);
    // A key that early never loaded: written by another instance, then presented on a token.
    await storage.delete(`signing-key:ES256:${DAY}:${BOUNDARY / DAY + 1}`);
    const late = new RotatingKeySet(storage, SCHEDULE);
    const [nextKid] = await kids(late, BOUNDARY + 20);

    expect(await early.verificationKey(nextKid, BOUNDARY + 100)).toBeDefined();
  });

  it("keeps a displaced key for its tokens", async () => {
    const storage = memoryStore();
    const keys = new RotatingKeySet(storage, SCHEDULE);
    const original = await keys.signingKey(BOUNDARY + 10);
    // Storage lost the key and another instance stored a new one for the same period.
    const name = `signing-key:ES256:${DAY}:${BOUNDARY / DAY}`;
    await storage.delete(name);
    const replacement = await new RotatingKeySet(storage, SCHEDULE).signingKey(BOUNDARY + 20);

    expect(replacement.kid).not.toBe(original.kid);
    expect(await keys.verificationKey(replacement.kid, BOUNDARY + 100)).toBeDefined();
    expect((await keys.signingKey(BOUNDARY + 100)).kid).toBe(replacement.kid);
    expect(await keys.verificationKey(original.kid, BOUNDARY + 100)).toBeDefined();
  });

  it("adopts a replaced key within five minutes", async () => {
    const storage = memoryStore();
    const keys = new RotatingKeySet(storage, SCHEDULE);
    const original = await keys.signingKey(BOUNDARY + 10);
    await storage.delete(`signing-key:ES256:${DAY}:${BOUNDARY / DAY}`);
    const replacement = await new RotatingKeySet(storage, SCHEDULE).signingKey(BOUNDARY + 20);

    expect((await keys.signingKey(BOUNDARY + 200)).kid).toBe(original.kid);
    // The periodic reload runs in the background; the call after it sees its result.
    await keys.signingKey(BOUNDARY + 310);
    await new Promise((resolve) => setImmediate(resolve));
    expect((await keys.signingKey(BOUNDARY + 320)).kid).toBe(replacement.kid);
  });

  it("writes back an evicted key", async () => {
    const storage = memoryStore();
    const keys = new RotatingKeySet(storage, SCHEDULE);
    const current = await keys.signingKey(BOUNDARY + 10);
    await storage.delete(`signing-key:ES256:${DAY}:${BOUNDARY / DAY}`);
    // The unknown kid forces a reload, which finds the current key missing.
    await keys.verificationKey("unknown", BOUNDARY + 100);
    const other = new RotatingKeySet(storage, SCHEDULE);

    expect((await other.signingKey(BOUNDARY + 100)).kid).toBe(current.kid);
  });

  it("stores private keys encrypted", async () => {
    const inner = memoryStore();
    const storage = new EncryptedStore(inner, [{ id: "k1", key: randomBytes(32) }]);
    const keys = new RotatingKeySet(storage, SCHEDULE);
    await keys.signingKey(BOUNDARY);
    const raw = await inner.get(`signing-key:ES256:${DAY}:${BOUNDARY / DAY}`);

    expect(typeof raw).toBe("string");
    expect(raw as string).toMatch(/^e1\.k1\./);
    expect(raw as string).not.toContain("privateJwk");
  });

  it("stored keys expire after their tokens", async () => {
    const storage = memoryStore();
    const keys = new RotatingKeySet(storage, SCHEDULE);
    await keys.signingKey(BOUNDARY);
    const name = `signing-key:ES256:${DAY}:${BOUNDARY / DAY}`;

    clock = BOUNDARY + DAY + TTL;
    expect(await storage.get(name)).toBeDefined();
    clock = BOUNDARY + DAY + TTL + 3600;
    expect(await storage.get(name)).toBeUndefined();
  });

  it("rejects a key it cannot decrypt", async () => {
    const inner = memoryStore();
    await new RotatingKeySet(new EncryptedStore(inner, [{ id: "a", key: randomBytes(32) }]), SCHEDULE).signingKey(BOUNDARY);
    const otherSecret = new RotatingKeySet(new EncryptedStore(inner, [{ id: "b", key: randomBytes(32) }]), SCHEDULE);

    await expect(otherSecret.signingKey(BOUNDARY)).rejects.toThrow(
      `The signing key signing-key:ES256:${DAY}:${BOUNDARY / DAY} exists in storage but cannot be read. Give every instance the same secret, or delete the key so it is generated again.`,
    );
  });

  it("rejects a stored value of another shape", async () => {
    const storage = memoryStore();
    await storage.set(`signing-key:ES256:${DAY}:${BOUNDARY / DAY}`, { kid: 1 }, 600);

    await expect(new RotatingKeySet(storage, SCHEDULE).signingKey(BOUNDARY)).rejects.toThrow(
      `The signing key signing-key:ES256:${DAY}:${BOUNDARY / DAY} in storage is not a stored key record`,
    );
  });

  it("separates algorithms and periods", async () => {
    const storage = memoryStore();
    const es = await new RotatingKeySet(storage, SCHEDULE).signingKey(BOUNDARY);
    const rs = await new RotatingKeySet(storage, { ...SCHEDULE, algorithm: "RS256" }).signingKey(BOUNDARY);
    const weekly = await new RotatingKeySet(storage, { ...SCHEDULE, periodSeconds: 7 * DAY }).signingKey(BOUNDARY);

    expect(rs.algorithm).toBe("RS256");
    expect(new Set([es.kid, rs.kid, weekly.kid]).size).toBe(3);
  });
});

describe("createSigningKeySet", () => {
  const hmac: TokenKey[] = [{ kid: "h1", algorithm: "HS256", key: createSecretKey(randomBytes(32)) }];

  it("HS256 uses the derived keys", async () => {
    const keys = createSigningKeySet(resolveJwtOptions(undefined, TTL), hmac, memoryStore(), TTL);

    expect(keys.algorithm).toBe("HS256");
    expect((await keys.signingKey()).kid).toBe("h1");
    expect(await keys.publicKeys()).toEqual([]);
  });

  it("configured keys stay fixed", async () => {
    const pem = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "pem", type: "pkcs8" }) as string;
    const keys = createSigningKeySet(resolveJwtOptions({ algorithm: "ES256", keys: [{ key: pem, kid: "k1" }] }, TTL), hmac, memoryStore(), TTL);

    expect(keys).toBeInstanceOf(StaticKeySet);
    expect((await keys.signingKey()).kid).toBe("k1");
  });

  it("generated keys rotate", () => {
    const keys = createSigningKeySet(resolveJwtOptions({ algorithm: "RS256" }, TTL), hmac, memoryStore(), TTL);

    expect(keys).toBeInstanceOf(RotatingKeySet);
    expect(keys.algorithm).toBe("RS256");
  });
});
