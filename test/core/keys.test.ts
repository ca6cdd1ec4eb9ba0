import { describe, expect, it } from "vitest";

import { deriveKeys, hmacTokenKey } from "../../lib/core/keys.js";

const SECRET = "correct horse battery staple";

describe("deriveKeys", () => {
  // Expected values computed with an independent RFC 5869 HKDF-SHA256
  // (Python hmac/hashlib), salt "mcp-oauth-proxy", one info label per key.
  it("matches independent HKDF output", () => {
    const keys = deriveKeys(SECRET);

    expect(keys.signingKey.export().toString("base64url")).toBe("lN5y8RVJJjqzE8eeOLbeWY4TnoGCkiGX50grwtH5MDU");
    expect(keys.encryptionKey.toString("base64url")).toBe("JvN7hsggC8SR17YDZbR4Ei1hm3JPP0URWezQPwATOyg");
    expect(keys.cookieSecret).toBe("efa100ca6c6caf363fa9ea09df39c8dea43e7c7812d3dfb5f093c63945c72e5e");
    expect(keys.keyId).toBe("fmwE_mMzl1w");
  });

  it("returns keys of the documented shape", () => {
    const keys = deriveKeys(SECRET);

    expect(keys.signingKey.type).toBe("secret");
    expect(keys.signingKey.symmetricKeySize).toBe(32);
    expect(keys.encryptionKey).toHaveLength(32);
    expect(keys.cookieSecret).toMatch(/^[0-9a-f]{64}$/);
    expect(keys.keyId).toMatch(/^[A-Za-z0-9_-]{11}$/);
  });

  it("same secret gives same keys", () => {
    const first = deriveKeys(SECRET);
    const second = deriveKeys(SECRET);

    expect(second.signingKey.equals(first.signingKey)).toBe(true);
    expect(second.encryptionKey.equals(first.encryptionKey)).toBe(true);
    expect(second.cookieSecret).toBe(first.cookieSecret);
    expect(second.keyId).toBe(first.keyId);
  });

  it("string and UTF-8 Buffer agree", () => {
    const fromString = deriveKeys("sécret");
    const fromBuffer = deriveKeys(Buffer.from("sécret", "utf8"));

    expect(fromBuffer.cookieSecret).toBe(fromString.cookieSecret);
    expect(fromBuffer.keyId).toBe(fromString.keyId);
  });

  it("labels give distinct keys", () => {
    const keys = deriveKeys(SECRET);
    const outputs = [
      keys.signingKey.export().toString("hex"),
      keys.encryptionKey.toString("hex"),
      keys.cookieSecret,
    ];

    expect(new Set(outputs).size).toBe(3);
    expect(outputs.some((hex) => hex.startsWith(Buffer.from(keys.keyId, "base64url").toString("hex")))).toBe(false);
  });

  it("different secrets give different keys", () => {
    const first = deriveKeys(SECRET);
    const second = deriveKeys(`${SECRET}!`);

    expect(second.signingKey.equals(first.signingKey)).toBe(false);
    expect(second.encryptionKey.equals(first.encryptionKey)).toBe(false);
    expect(second.cookieSecret).not.toBe(first.cookieSecret);
    expect(second.keyId).not.toBe(first.keyId);
  });

  it("rejects an empty secret", () => {
    const message = "deriveKeys: the secret must be a non-empty string or Buffer";

    expect(() => deriveKeys("")).toThrow(new TypeError(message));
    expect(() => deriveKeys(Buffer.alloc(0))).toThrow(new TypeError(message));
    expect(() => deriveKeys(undefined as unknown as string)).toThrow(new TypeError(message));
  });
});

describe("hmacTokenKey", () => {
  it("pairs signing key with key id", () => {
    const keys = deriveKeys(SECRET);

    expect(hmacTokenKey(keys)).toEqual({ kid: keys.keyId, algorithm: "HS256", key: keys.signingKey });
  });

  it("uses no other purpose's key", () => {
    const keys = deriveKeys(SECRET);
    const tokenKey = hmacTokenKey(keys).key.export();

    expect(tokenKey.equals(keys.encryptionKey)).toBe(false);
    expect(tokenKey.toString("hex")).not.toBe(keys.cookieSecret);
  });
});
