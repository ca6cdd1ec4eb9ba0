import { createPublicKey, createSecretKey, generateKeyPairSync } from "node:crypto";
import type { JsonWebKey } from "node:crypto";

import { describe, expect, it } from "vitest";

import { signAccessToken, verifyAccessToken } from "../../lib/core/jwt.js";
import type { TokenKey } from "../../lib/core/jwt.js";
import {
  exportPrivateJwk,
  generateKeyPair,
  importKeyPair,
  jwkThumbprint,
  signingKeyOf,
  StaticKeySet,
  verificationKeyOf,
} from "../../lib/core/signing-keys.js";

const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });

const PEM = {
  rsaPrivate: rsa.privateKey.export({ format: "pem", type: "pkcs8" }) as string,
  rsaPkcs1: rsa.privateKey.export({ format: "pem", type: "pkcs1" }) as string,
  rsaPublic: rsa.publicKey.export({ format: "pem", type: "spki" }) as string,
  ecPrivate: ec.privateKey.export({ format: "pem", type: "pkcs8" }) as string,
  ecSec1: ec.privateKey.export({ format: "pem", type: "sec1" }) as string,
};

// A PKCS#8 frame around four bytes that are no key.
const DAMAGED_PEM = "-----BEGIN PRIVATE KEY-----\nAAAAAA==\n-----END PRIVATE KEY-----\n";

const INPUT = {
  issuer: "https://app.example.com",
  subject: "user-1",
  audience: "https://app.example.com/mcp",
  clientId: "client-1",
  scope: "mcp:read",
  grantId: "grant-1",
  ttlSeconds: 60,
};
const EXPECTED = { issuer: INPUT.issuer, audience: INPUT.audience };

// RFC 7638 §3.1: the example RSA key and its SHA-256 thumbprint.
const RFC7638_KEY: JsonWebKey = {
  kty: "RSA",
  n: "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
  e: "AQAB",
  alg: "RS256",
  kid: "2011-04-29",
};
const RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

function roundTrip(signing: TokenKey, verification: TokenKey): string {
  const { token } = signAccessToken(INPUT, signing);
  return verifyAccessToken(token, verification, EXPECTED).sub;
}

describe("jwkThumbprint", () => {
  it("matches the RFC 7638 example", () => {
    expect(jwkThumbprint(createPublicKey({ key: RFC7638_KEY, format: "jwk" }))).toBe(RFC7638_THUMBPRINT);
  });

  it("ignores kid, alg and use", () => {
    const withExtras = createPublicKey({ key: { ...RFC7638_KEY, kid: "other", use: "sig" }, format: "jwk" });

    expect(jwkThumbprint(withExtras)).toBe(RFC7638_THUMBPRINT);
  });

  it("differs between keys", () => {
    expect(jwkThumbprint(ec.publicKey)).not.toBe(jwkThumbprint(generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey));
  });
});

describe("importKeyPair", () => {
  const accepted: Array<[string, () => Parameters<typeof importKeyPair>, boolean]> = [
    ["an RSA PKCS#8 PEM", () => [PEM.rsaPrivate, "RS256"], true],
    ["an RSA PKCS#1 PEM", () => [PEM.rsaPkcs1, "RS256"], true],
    ["an RSA public PEM", () => [PEM.rsaPublic, "RS256"], false],
    ["an EC PKCS#8 PEM", () => [PEM.ecPrivate, "ES256"], true],
    ["an EC SEC1 PEM", () => [PEM.ecSec1, "ES256"], true],
    ["a private JWK", () => [ec.privateKey.export({ format: "jwk" }), "ES256"], true],
    ["a public JWK", () => [ec.publicKey.export({ format: "jwk" }), "ES256"], false],
    ["a private KeyObject", () => [rsa.privateKey, "RS256"], true],
    ["a public KeyObject", () => [ec.publicKey, "ES256"], false],
  ];

  for (const [name, args, isPrivate] of accepted) {
    it(`reads ${name}`, () => {
      const pair = importKeyPair(...args());

      expect(pair.privateKey !== undefined).toBe(isPrivate);
      expect(pair.algorithm).toBe(args()[1]);
      expect(pair.kid).toBe(jwkThumbprint(pair.publicKey));
    });
  }

  it("keys sign and verify", () => {
    const rsaPair = importKeyPair(PEM.rsaPrivate, "RS256");
    const ecPair = importKeyPair(PEM.ecPrivate, "ES256");

    expect(roundTrip(signingKeyOf(rsaPair), verificationKeyOf(importKeyPair(PEM.rsaPublic, "RS256")))).toBe("user-1");
    expect(roundTrip(signingKeyOf(ecPair), verificationKeyOf(ecPair))).toBe("user-1");
  });

  it("takes kid from a JWK", () => {
    const pair = importKeyPair({ ...ec.privateKey.export({ format: "jwk" }), kid: "from-jwk" }, "ES256");

    expect(pair.kid).toBe("from-jwk");
    expect(pair.jwk.kid).toBe("from-jwk");
  });

  it("takes kid from a wrapper", () => {
    expect(importKeyPair({ key: PEM.ecPrivate, kid: "2025-01" }, "ES256").kid).toBe("2025-01");
    expect(importKeyPair({ key: { ...ec.publicKey.export({ format: "jwk" }), kid: "inner" }, kid: "outer" }, "ES256").kid).toBe("outer");
  });

  it("publishes only public members", () => {
    const rsaJwk = importKeyPair(PEM.rsaPrivate, "RS256").jwk;
    const ecJwk = importKeyPair(PEM.ecPrivate, "ES256").jwk;

    expect(Object.keys(rsaJwk).sort()).toEqual(["alg", "e", "kid", "kty", "n", "use"]);
    expect(Object.keys(ecJwk).sort()).toEqual(["alg", "crv", "kid", "kty", "use", "x", "y"]);
    expect(rsaJwk).toMatchObject({ kty: "RSA", alg: "RS256", use: "sig" });
    expect(ecJwk).toMatchObject({ kty: "EC", crv: "P-256", alg: "ES256", use: "sig" });
  });

  const rejected: Array<[string, () => Parameters<typeof importKeyPair>, string]> = [
    ["an EC key for RS256", () => [PEM.ecPrivate, "RS256"], "RS256 needs an RSA key, not a key of type ec on curve prime256v1"],
    ["an RSA key for ES256", () => [PEM.rsaPrivate, "ES256"], "ES256 needs an EC key on the P-256 curve, not a key of type rsa"],
    ["a P-384 key", () => [generateKeyPairSync("ec", { namedCurve: "P-384" }).privateKey, "ES256"], "ES256 needs an EC key on the P-256 curve, not a key of type ec on curve secp384r1"],
    ["a 1024-bit RSA key", () => [generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey, "RS256"], "RS256 needs an RSA key of at least 2048 bits, not 1024"],
    ["an Ed25519 key", () => [generateKeyPairSync("ed25519").privateKey, "ES256"], "ES256 needs an EC key on the P-256 curve, not a key of type ed25519"],
    ["a secret KeyObject", () => [createSecretKey(Buffer.alloc(32)), "ES256"], "The key is a secret key; RS256 and ES256 need an RSA or EC key pair"],
    ["a string that is not PEM", () => ["c2VjcmV0LWJ1dC1ub3QtYS1rZXk=", "ES256"], "The key string is not PEM; it must start with a -----BEGIN ...----- line"],
    ["a damaged private PEM", () => [DAMAGED_PEM, "ES256"], "The PEM private key could not be read (encrypted PEM is not supported)"],
    ["a damaged public PEM", () => ["-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "RS256"], "The PEM public key could not be read"],
    ["a broken private JWK", () => [{ kty: "EC", crv: "P-256", d: "AAAA", x: "AAAA", y: "AAAA" }, "ES256"], "The private JWK could not be read"],
    ["a broken public JWK", () => [{ kty: "EC", crv: "P-256", x: "AAAA", y: "AAAA" }, "ES256"], "The public JWK could not be read"],
    ["an empty RSA modulus", () => [{ kty: "RSA", n: "", e: "" }, "RS256"], "RS256 needs an RSA key of at least 2048 bits, not 0"],
    ["a number", () => [42 as unknown as string, "ES256"], "The key must be PEM text, a JWK object or a KeyObject"],
    ["a wrapper without kid", () => [{ key: PEM.ecPrivate } as unknown as { key: string; kid: string }, "ES256"], "A key given as { key, kid } needs a non-empty string kid"],
    ["a wrapper with an empty kid", () => [{ key: PEM.ecPrivate, kid: "" }, "ES256"], "A key given as { key, kid } needs a non-empty string kid"],
  ];

  for (const [name, args, message] of rejected) {
    it(`rejects ${name}`, () => {
      expect(() => importKeyPair(...args())).toThrow(new TypeError(message));
    });
  }

  it("keeps key material out of messages", () => {
    let message = "";
    try {
      importKeyPair(PEM.ecPrivate, "RS256");
    } catch (error) {
      message = (error as Error).message;
    }

    expect(message).not.toContain("BEGIN");
    expect(message).not.toContain(PEM.ecPrivate.split("\n")[1]);
  });
});

describe("generateKeyPair", () => {
  for (const algorithm of ["RS256", "ES256"] as const) {
    it(`generates ${algorithm} keys`, async () => {
      const pair = await generateKeyPair(algorithm);

      expect(pair.algorithm).toBe(algorithm);
      expect(pair.privateKey?.type).toBe("private");
      expect(pair.kid).toBe(jwkThumbprint(pair.publicKey));
      expect(roundTrip(signingKeyOf(pair), verificationKeyOf(pair))).toBe("user-1");
    });
  }

  it("gives each key its own kid", async () => {
    const first = await generateKeyPair("ES256");
    const second = await generateKeyPair("ES256");

    expect(first.kid).not.toBe(second.kid);
  });
});

describe("exportPrivateJwk", () => {
  it("round-trips through import", async () => {
    const pair = await generateKeyPair("ES256");
    const exported = exportPrivateJwk(pair);
    const imported = importKeyPair(exported, "ES256");

    expect(exported.kid).toBe(pair.kid);
    expect(typeof exported.d).toBe("string");
    expect(imported.kid).toBe(pair.kid);
    expect(roundTrip(signingKeyOf(imported), verificationKeyOf(pair))).toBe("user-1");
  });

  it("rejects a public-only pair", () => {
    const pair = importKeyPair(PEM.rsaPublic, "RS256");

    expect(() => exportPrivateJwk(pair)).toThrow(new TypeError(`The key ${pair.kid} has no private key to export`));
    expect(() => signingKeyOf(pair)).toThrow(new TypeError(`The key ${pair.kid} has no private key, so it cannot sign`));
  });
});

describe("verificationKeyOf", () => {
  it("uses the public half", () => {
    const key = verificationKeyOf(importKeyPair(PEM.ecPrivate, "ES256"));

    expect(key.key.type).toBe("public");
  });
});

describe("StaticKeySet.hmac", () => {
  const first: TokenKey = { kid: "new", algorithm: "HS256", key: createSecretKey(Buffer.alloc(32, 1)) };
  const second: TokenKey = { kid: "old", algorithm: "HS256", key: createSecretKey(Buffer.alloc(32, 2)) };
  const keys = StaticKeySet.hmac([first, second]);

  it("signs with the first key", async () => {
    expect(await keys.signingKey()).toBe(first);
    expect(keys.algorithm).toBe("HS256");
  });

  it("verifies with every key", async () => {
    expect(await keys.verificationKey("new")).toBe(first);
    expect(await keys.verificationKey("old")).toBe(second);
    expect(await keys.verificationKey("other")).toBeUndefined();
    expect(await keys.verificationKey(undefined)).toBeUndefined();
  });

  it("publishes nothing", async () => {
    expect(await keys.publicKeys()).toEqual([]);
  });

  it("needs a key", () => {
    expect(() => StaticKeySet.hmac([])).toThrow(new TypeError("StaticKeySet.hmac needs at least one key"));
  });
});

describe("StaticKeySet.asymmetric", () => {
  const current = importKeyPair({ key: PEM.ecPrivate, kid: "current" }, "ES256");
  const next = importKeyPair({ key: generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey, kid: "next" }, "ES256");
  const older = importKeyPair({ key: generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey, kid: "older" }, "ES256");
  const keys = StaticKeySet.asymmetric(current, next, [older]);

  it("signs with the current key", async () => {
    const key = await keys.signingKey();

    expect(key.kid).toBe("current");
    expect(key.key).toBe(current.privateKey);
  });

  it("verifies next, current and older", async () => {
    for (const kid of ["next", "current", "older"]) {
      expect((await keys.verificationKey(kid))?.key.type, kid).toBe("public");
    }
    expect(await keys.verificationKey("unknown")).toBeUndefined();
  });

  it("publishes next key first", async () => {
    expect((await keys.publicKeys()).map((jwk) => jwk.kid)).toEqual(["next", "current", "older"]);
  });

  it("works without next or older keys", async () => {
    const alone = StaticKeySet.asymmetric(current, undefined, []);

    expect((await alone.publicKeys()).map((jwk) => jwk.kid)).toEqual(["current"]);
    expect(alone.algorithm).toBe("ES256");
  });
});
