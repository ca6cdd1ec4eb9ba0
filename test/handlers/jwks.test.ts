import { generateKeyPairSync, randomBytes } from "node:crypto";

import express from "express";
import request from "supertest";
import { afterEach, describe, expect, it } from "vitest";
import { MemoryStore, OAuthProvider, oauthProxy } from "mcp-oauth-proxy";
import type { OAuthProxy, OAuthProxyOptions } from "mcp-oauth-proxy";

const BASE_URL = "http://127.0.0.1:8080";
const provider = new OAuthProvider({
  clientId: "proxy",
  clientSecret: "upstream-secret",
  authorizationEndpoint: "http://127.0.0.1:9/authorize",
  tokenEndpoint: "http://127.0.0.1:9/token",
});

const proxies: OAuthProxy[] = [];

afterEach(async () => {
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
});

function appWith(options: Partial<OAuthProxyOptions>): express.Express {
  const proxy = oauthProxy({ baseUrl: BASE_URL, provider, secret: randomBytes(32), ...options });
  proxies.push(proxy);
  const app = express();
  app.use(proxy);
  return app;
}

describe("GET /oauth/jwks", () => {
  it("publishes generated ES256 keys", async () => {
    const response = await request(appWith({ jwt: { algorithm: "ES256" } })).get("/oauth/jwks");

    expect(response.status).toBe(200);
    expect(response.headers["content-type"]).toBe("application/jwk-set+json; charset=utf-8");
    expect(response.headers["cache-control"]).toBe("public, max-age=300");
    const keys = JSON.parse(response.text).keys as Array<Record<string, string>>;
    // The current key and the next one.
    expect(keys).toHaveLength(2);
    for (const jwk of keys) {
      expect(Object.keys(jwk).sort()).toEqual(["alg", "crv", "kid", "kty", "use", "x", "y"]);
      expect(jwk).toMatchObject({ kty: "EC", crv: "P-256", alg: "ES256", use: "sig" });
    }
    expect(keys[0]?.kid).not.toBe(keys[1]?.kid);
  });

  it("publishes generated RS256 keys", async () => {
    const response = await request(appWith({ jwt: { algorithm: "RS256" } })).get("/oauth/jwks");
    const keys = JSON.parse(response.text).keys as Array<Record<string, string>>;

    expect(keys).toHaveLength(2);
    for (const jwk of keys) {
      expect(Object.keys(jwk).sort()).toEqual(["alg", "e", "kid", "kty", "n", "use"]);
      expect(jwk).toMatchObject({ kty: "RSA", e: "AQAB", alg: "RS256", use: "sig" });
    }
  });

  it("lists configured keys next first", async () => {
    const ecPem = () => generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "pem", type: "pkcs8" }) as string;
    const app = appWith({
      jwt: {
        algorithm: "ES256",
        keys: [{ key: ecPem(), kid: "current" }, { key: generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey, kid: "older" }],
        nextKey: { key: ecPem(), kid: "next" },
      },
    });
    const response = await request(app).get("/oauth/jwks");

    expect(JSON.parse(response.text).keys.map((jwk: { kid: string }) => jwk.kid)).toEqual(["next", "current", "older"]);
  });

  it("is advertised as jwks_uri", async () => {
    const response = await request(appWith({ jwt: { algorithm: "ES256" } })).get("/.well-known/oauth-authorization-server");

    expect(response.body.jwks_uri).toBe(`${BASE_URL}/oauth/jwks`);
  });

  it("allows cross-origin reads", async () => {
    const app = appWith({ jwt: { algorithm: "ES256" } });
    const response = await request(app).get("/oauth/jwks").set("Origin", "https://inspector.example");
    const preflight = await request(app).options("/oauth/jwks").set("Origin", "https://inspector.example").set("Access-Control-Request-Method", "GET");

    expect(response.headers["access-control-allow-origin"]).toBe("*");
    expect(preflight.status).toBe(204);
    expect(preflight.headers["access-control-allow-methods"]).toContain("GET");
  });

  it("is absent with HS256", async () => {
    const app = appWith({});
    const jwks = await request(app).get("/oauth/jwks");
    const metadata = await request(app).get("/.well-known/oauth-authorization-server");

    expect(jwks.status).toBe(404);
    expect(metadata.body).not.toHaveProperty("jwks_uri");
  });

  it("instances sharing storage publish the same keys", async () => {
    const storage = new MemoryStore();
    const secret = randomBytes(32);
    const first = appWith({ storage, secret, jwt: { algorithm: "ES256" } });
    const second = appWith({ storage, secret, jwt: { algorithm: "ES256" } });
    const [one, two] = await Promise.all([request(first).get("/oauth/jwks"), request(second).get("/oauth/jwks")]);

    expect(JSON.parse(one.text).keys).toHaveLength(2);
    expect(JSON.parse(two.text)).toEqual(JSON.parse(one.text));
    await storage.close();
  });
});
