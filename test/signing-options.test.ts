import { generateKeyPairSync } from "node:crypto";

import { describe, expect, it } from "vitest";
import { OAuthProvider, oauthProxy, OptionError } from "mcp-oauth-proxy";
import type { OAuthProxyOptions } from "mcp-oauth-proxy";

import { hashKey } from "../lib/core/random.js";
import { resolveIntrospectionOptions, resolveJwtOptions } from "../lib/signing-options.js";

const provider = new OAuthProvider({
  clientId: "proxy",
  clientSecret: "upstream-secret",
  authorizationEndpoint: "https://idp.example.com/authorize",
  tokenEndpoint: "https://idp.example.com/token",
});
const secret = "s".repeat(32);
const ecPem = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "pem", type: "pkcs8" }) as string;
const otherEc = generateKeyPairSync("ec", { namedCurve: "P-256" });
const rsaPem = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "pem", type: "pkcs8" }) as string;
const introspectionSecret = "i".repeat(32);

function failure(read: () => unknown): OptionError {
  try {
    read();
  } catch (error) {
    if (error instanceof OptionError) {
      return error;
    }
    throw error;
  }
  throw new Error("the option was accepted");
}

describe("jwt option", () => {
  it("defaults to HS256", () => {
    expect(resolveJwtOptions(undefined, 3600)).toEqual({ algorithm: "HS256", configuredKeys: undefined, rotationSeconds: 30 * 86400, verifiedTokenCacheSize: 10_000 });
  });

  it("generates keys without jwt.keys", () => {
    const resolved = resolveJwtOptions({ algorithm: "ES256", rotationDays: 7, verifiedTokenCacheSize: 0 }, 3600);

    expect(resolved).toEqual({ algorithm: "ES256", configuredKeys: undefined, rotationSeconds: 7 * 86400, verifiedTokenCacheSize: 0 });
  });

  it("accepts a fractional period", () => {
    expect(resolveJwtOptions({ algorithm: "RS256", rotationDays: 0.5 }, 3600).rotationSeconds).toBe(43200);
  });

  it("imports configured keys", () => {
    const resolved = resolveJwtOptions({
      algorithm: "ES256",
      keys: [{ key: ecPem, kid: "current" }, otherEc.publicKey.export({ format: "jwk" })],
      nextKey: { key: otherEc.privateKey, kid: "next" },
    }, 3600);

    expect(resolved.configuredKeys?.current.kid).toBe("current");
    expect(resolved.configuredKeys?.next?.kid).toBe("next");
    expect(resolved.configuredKeys?.older).toHaveLength(1);
    expect(resolved.configuredKeys?.older[0]?.privateKey).toBeUndefined();
  });

  const cases: Array<{ name: string; value: unknown; option: string; message: string; ttl?: number }> = [
    { name: "a string", value: "ES256", option: "jwt", message: 'Invalid option jwt: "ES256". Pass an object such as { algorithm: "ES256" }, or leave jwt out for HS256.' },
    { name: "an unknown algorithm", value: { algorithm: "EdDSA" }, option: "jwt.algorithm", message: 'Invalid option jwt.algorithm: "EdDSA". Use one of HS256, RS256, ES256.' },
    { name: "alg none", value: { algorithm: "none" }, option: "jwt.algorithm", message: 'Invalid option jwt.algorithm: "none". Use one of HS256, RS256, ES256.' },
    { name: "a misspelt member", value: { algorithm: "ES256", rotateEveryDays: 7 }, option: "jwt.rotateEveryDays", message: "Invalid option jwt.rotateEveryDays: 7. This member is not known; use algorithm, keys, nextKey, rotationDays, verifiedTokenCacheSize." },
    { name: "keys with HS256", value: { keys: [ecPem] }, option: "jwt.keys", message: 'Invalid option jwt.keys: "(hidden)". HS256 uses a key derived from secret; remove this member or set jwt.algorithm to RS256 or ES256.' },
    { name: "rotationDays with HS256", value: { algorithm: "HS256", rotationDays: 7 }, option: "jwt.rotationDays", message: "Invalid option jwt.rotationDays: 7. HS256 uses a key derived from secret; remove this member or set jwt.algorithm to RS256 or ES256." },
    { name: "nextKey without keys", value: { algorithm: "ES256", nextKey: ecPem }, option: "jwt.nextKey", message: 'Invalid option jwt.nextKey: "(hidden)". Generated keys rotate by themselves; pass jwt.keys as well to rotate keys by hand.' },
    { name: "rotationDays with keys", value: { algorithm: "ES256", keys: [ecPem], rotationDays: 7 }, option: "jwt.rotationDays", message: "Invalid option jwt.rotationDays: 7. rotationDays applies to generated keys; remove it, or remove jwt.keys to let the proxy generate and rotate keys." },
    { name: "an empty key list", value: { algorithm: "ES256", keys: [] }, option: "jwt.keys", message: "Invalid option jwt.keys: []. Pass an array of keys (PEM, JWK or KeyObject), the current signing key first." },
    { name: "an RSA key for ES256", value: { algorithm: "ES256", keys: [rsaPem] }, option: "jwt.keys[0]", message: 'Invalid option jwt.keys[0]: "(hidden)". ES256 needs an EC key on the P-256 curve, not a key of type rsa.' },
    { name: "a bad older key", value: { algorithm: "ES256", keys: [ecPem, "not a key"] }, option: "jwt.keys[1]", message: 'Invalid option jwt.keys[1]: "(hidden)". The key string is not PEM; it must start with a -----BEGIN ...----- line.' },
    { name: "a bad next key", value: { algorithm: "ES256", keys: [ecPem], nextKey: 5 }, option: "jwt.nextKey", message: 'Invalid option jwt.nextKey: "(hidden)". The key must be PEM text, a JWK object or a KeyObject.' },
    { name: "a public current key", value: { algorithm: "ES256", keys: [otherEc.publicKey] }, option: "jwt.keys[0]", message: 'Invalid option jwt.keys[0]: "(hidden)". The first key signs tokens, so pass its private key.' },
    { name: "a repeated key", value: { algorithm: "ES256", keys: [ecPem, ecPem] }, option: "jwt.keys", message: "Every key needs a different kid; list each key once." },
    { name: "next key equal to current", value: { algorithm: "ES256", keys: [{ key: ecPem, kid: "a" }], nextKey: { key: otherEc.privateKey, kid: "a" } }, option: "jwt.keys", message: 'Invalid option jwt.keys: "a". Every key needs a different kid; list each key once.' },
    { name: "zero rotation days", value: { algorithm: "ES256", rotationDays: 0 }, option: "jwt.rotationDays", message: "Invalid option jwt.rotationDays: 0. Pass a number of days greater than 0, for example 30." },
    { name: "string rotation days", value: { algorithm: "ES256", rotationDays: "7" }, option: "jwt.rotationDays", message: 'Invalid option jwt.rotationDays: "7". Pass a number of days greater than 0, for example 30.' },
    { name: "a period shorter than a token", value: { algorithm: "ES256", rotationDays: 1 }, ttl: 2 * 86400, option: "jwt.rotationDays", message: "Invalid option jwt.rotationDays: 1. Use a period of at least accessTokenTtl (172800 seconds)." },
    { name: "a negative cache size", value: { verifiedTokenCacheSize: -1 }, option: "jwt.verifiedTokenCacheSize", message: "Invalid option jwt.verifiedTokenCacheSize: -1. Pass a whole number from 0 (no cache) to 1000000." },
    { name: "a fractional cache size", value: { verifiedTokenCacheSize: 1.5 }, option: "jwt.verifiedTokenCacheSize", message: "Invalid option jwt.verifiedTokenCacheSize: 1.5. Pass a whole number from 0 (no cache) to 1000000." },
  ];

  for (const { name, value, option, message, ttl } of cases) {
    it(`rejects ${name}`, () => {
      const error = failure(() => resolveJwtOptions(value, ttl ?? 3600));

      expect(error.option).toBe(option);
      expect(error.message).toContain(message);
      expect(error.code).toBe("ERR_MCP_OAUTH_PROXY_OPTION");
    });
  }

  it("never shows key material", () => {
    const error = failure(() => resolveJwtOptions({ algorithm: "RS256", keys: [ecPem] }, 3600));

    expect(error.message).not.toContain("BEGIN");
    expect(error.message).not.toContain(ecPem.split("\n")[1]);
  });

  it("oauthProxy validates jwt", () => {
    const error = failure(() => oauthProxy({ baseUrl: "https://mcp.example.com", provider, secret, jwt: { algorithm: "PS256" } } as unknown as OAuthProxyOptions));

    expect(error.option).toBe("jwt.algorithm");
  });

  it("checks the period against accessTokenTtl", () => {
    const options = { baseUrl: "https://mcp.example.com", provider, secret, accessTokenTtl: 3 * 86400, jwt: { algorithm: "ES256", rotationDays: 2 } };
    const error = failure(() => oauthProxy(options as OAuthProxyOptions));

    expect(error.message).toBe("Invalid option jwt.rotationDays: 2. Use a period of at least accessTokenTtl (259200 seconds).");
  });
});

describe("introspection option", () => {
  it("is off by default", () => {
    expect(resolveIntrospectionOptions(undefined)).toBeUndefined();
  });

  it("keeps only secret hashes", () => {
    const resolved = resolveIntrospectionOptions({ clients: [{ id: "gateway", secret: introspectionSecret }] });

    expect([...(resolved?.secretHashes ?? [])]).toEqual([["gateway", hashKey(introspectionSecret)]]);
  });

  const cases: Array<{ name: string; value: unknown; option: string; message: string }> = [
    { name: "a list", value: [], option: "introspection", message: 'Invalid option introspection: []. Pass { clients: [{ id: "gateway", secret: "<32 or more characters>" }] }.' },
    { name: "no clients", value: {}, option: "introspection.clients", message: "Invalid option introspection.clients: undefined." },
    { name: "an empty client list", value: { clients: [] }, option: "introspection.clients", message: "Invalid option introspection.clients: []." },
    { name: "an unknown member", value: { clients: [], allowRegistered: true }, option: "introspection.allowRegistered", message: "Invalid option introspection.allowRegistered: true. This member is not known; use clients." },
    { name: "a missing id", value: { clients: [{ secret: introspectionSecret }] }, option: "introspection.clients[0].id", message: "Invalid option introspection.clients[0].id: undefined. Use 1 to 200 visible ASCII characters without spaces." },
    { name: "an id with a space", value: { clients: [{ id: "my gateway", secret: introspectionSecret }] }, option: "introspection.clients[0].id", message: 'Invalid option introspection.clients[0].id: "my gateway". Use 1 to 200 visible ASCII characters without spaces.' },
    { name: "a repeated id", value: { clients: [{ id: "a", secret: introspectionSecret }, { id: "a", secret: introspectionSecret }] }, option: "introspection.clients[1].id", message: 'Invalid option introspection.clients[1].id: "a". Give every introspection client a different id.' },
    { name: "a short secret", value: { clients: [{ id: "a", secret: "short" }] }, option: "introspection.clients[0].secret", message: 'Invalid option introspection.clients[0].secret: "(hidden, 5 characters)". Use at least 32 characters, for example from `openssl rand -base64 32`.' },
    { name: "a Buffer secret", value: { clients: [{ id: "a", secret: Buffer.alloc(40) }] }, option: "introspection.clients[0].secret", message: 'Invalid option introspection.clients[0].secret: "object".' },
  ];

  for (const { name, value, option, message } of cases) {
    it(`rejects ${name}`, () => {
      const error = failure(() => resolveIntrospectionOptions(value));

      expect(error.option).toBe(option);
      expect(error.message).toContain(message);
    });
  }

  it("never shows the secret", () => {
    const error = failure(() => resolveIntrospectionOptions({ clients: [{ id: "a", secret: "short-but-secret" }] }));

    expect(error.message).not.toContain("short-but-secret");
  });
});
