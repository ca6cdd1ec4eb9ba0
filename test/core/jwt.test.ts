import { createHmac, createSecretKey, generateKeyPairSync } from "node:crypto";
import type { KeyObject } from "node:crypto";

import jsonwebtoken from "jsonwebtoken";
import { describe, expect, it } from "vitest";

import { readAccessTokenHeader, signAccessToken, TokenVerificationError, verifyAccessToken } from "../../lib/core/jwt.js";
import type { AccessTokenClaims, TokenKey } from "../../lib/core/jwt.js";

const SECRET = createSecretKey(Buffer.alloc(32, 7));
const KEY: TokenKey = { kid: "key-1", algorithm: "HS256", key: SECRET };
const OTHER_KEY: TokenKey = { kid: "key-1", algorithm: "HS256", key: createSecretKey(Buffer.alloc(32, 8)) };
const NOW = 1_700_000_000;
const ISSUER = "https://app.example.com";
const AUDIENCE = "https://app.example.com/mcp";
const EXPECTED = { issuer: ISSUER, audience: AUDIENCE, now: NOW };
const HEADER = { alg: "HS256", typ: "at+jwt", kid: "key-1" };

const INPUT = {
  issuer: ISSUER,
  subject: "user-1",
  audience: AUDIENCE,
  clientId: "client-1",
  scope: "mcp:read mcp:write",
  grantId: "grant-1",
  ttlSeconds: 3600,
  now: NOW,
};

function validClaims(): AccessTokenClaims {
  return {
    iss: ISSUER,
    sub: "user-1",
    aud: AUDIENCE,
    client_id: "client-1",
    scope: "mcp:read",
    jti: "jti-1",
    iat: NOW,
    exp: NOW + 60,
    sid: "grant-1",
  };
}

function craft(payload: object, options: { typ?: string; key?: KeyObject; algorithm?: jsonwebtoken.Algorithm; kid?: string } = {}): string {
  const algorithm = options.algorithm ?? "HS256";
  const header = { alg: algorithm, typ: options.typ ?? "at+jwt", kid: options.kid ?? KEY.kid };
  return jsonwebtoken.sign(payload, options.key ?? SECRET, { algorithm, header });
}

function withoutClaim(name: keyof AccessTokenClaims): Partial<AccessTokenClaims> {
  const claims: Partial<AccessTokenClaims> = validClaims();
  delete claims[name];
  return claims;
}

function encodePart(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

function verifyFailure(token: string, expected: Parameters<typeof verifyAccessToken>[2] = EXPECTED): TokenVerificationError {
  try {
    verifyAccessToken(token, KEY, expected);
  } catch (error) {
    expect(error).toBeInstanceOf(TokenVerificationError);
    return error as TokenVerificationError;
  }
  throw new Error("verifyAccessToken accepted the token");
}

describe("signAccessToken", () => {
  it("returns RFC 9068 claims", () => {
    const { claims } = signAccessToken(INPUT, KEY);

    expect(claims).toEqual({
      iss: ISSUER,
      sub: "user-1",
      aud: AUDIENCE,
      client_id: "client-1",
      scope: "mcp:read mcp:write",
      jti: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
      iat: NOW,
      exp: NOW + 3600,
      sid: "grant-1",
    });
  });

  it("writes an at+jwt HS256 header", () => {
    const { token } = signAccessToken(INPUT, KEY);
    const [header = ""] = token.split(".");

    expect(JSON.parse(Buffer.from(header, "base64url").toString())).toEqual({ alg: "HS256", typ: "at+jwt", kid: "key-1" });
  });

  it("payload equals returned claims", () => {
    const { token, claims } = signAccessToken(INPUT, KEY);

    expect(jsonwebtoken.decode(token)).toEqual(claims);
  });

  it("uses a fresh jti each time", () => {
    expect(signAccessToken(INPUT, KEY).claims.jti).not.toBe(signAccessToken(INPUT, KEY).claims.jti);
  });

  it("defaults iat to current time", () => {
    const before = Math.floor(Date.now() / 1000);
    const { claims } = signAccessToken({ ...INPUT, now: undefined }, KEY);
    const after = Math.floor(Date.now() / 1000);

    expect(claims.iat).toBeGreaterThanOrEqual(before);
    expect(claims.iat).toBeLessThanOrEqual(after);
    expect(claims.exp).toBe(claims.iat + 3600);
  });
});

describe("verifyAccessToken", () => {
  it("returns claims of a signed token", () => {
    const { token, claims } = signAccessToken(INPUT, KEY);

    expect(verifyAccessToken(token, KEY, EXPECTED)).toEqual(claims);
  });

  it("accepts both at+jwt spellings", () => {
    for (const typ of ["at+jwt", "AT+JWT", "application/at+jwt", "Application/At+JWT"]) {
      expect(verifyAccessToken(craft(validClaims(), { typ }), KEY, EXPECTED), typ).toEqual(validClaims());
    }
  });

  it("accepts audience inside an array", () => {
    const token = craft({ ...validClaims(), aud: ["https://other.example", AUDIENCE] });

    expect(verifyAccessToken(token, KEY, EXPECTED).aud).toBe(AUDIENCE);
  });

  it("accepts any expected audience", () => {
    const token = craft({ ...validClaims(), aud: "https://app.example.com/other" });
    const expected = { ...EXPECTED, audience: ["https://app.example.com/mcp", "https://app.example.com/other"] };

    expect(verifyAccessToken(token, KEY, expected).aud).toBe("https://app.example.com/other");
    expect(verifyFailure(token, { ...EXPECTED, audience: ["https://app.example.com/mcp"] }).code).toBe("wrong_audience");
    expect(verifyFailure(token, { ...EXPECTED, audience: [] }).code).toBe("wrong_audience");
  });

  it("returns the matched audience", () => {
    const token = craft({ ...validClaims(), aud: ["https://x.example", "https://app.example.com/other"] });
    const expected = { ...EXPECTED, audience: ["https://app.example.com/mcp", "https://app.example.com/other"] };

    expect(verifyAccessToken(token, KEY, expected).aud).toBe("https://app.example.com/other");
  });

  it("accepts expiry within default leeway", () => {
    const token = craft(validClaims());

    expect(verifyAccessToken(token, KEY, { ...EXPECTED, now: NOW + 64 }).sub).toBe("user-1");
    expect(verifyFailure(token, { ...EXPECTED, now: NOW + 65 }).code).toBe("expired");
  });

  it("honours a custom leeway", () => {
    const token = craft(validClaims());

    expect(verifyAccessToken(token, KEY, { ...EXPECTED, now: NOW + 89, leewaySeconds: 30 }).sub).toBe("user-1");
    expect(verifyFailure(token, { ...EXPECTED, now: NOW + 60, leewaySeconds: 0 }).code).toBe("expired");
  });

  const unsignedHeader = encodePart({ alg: "none", typ: "at+jwt", kid: "key-1" });
  const UNSUPPORTED = "The access token is signed with an algorithm this server does not accept";

  const failures: Array<[string, () => string, string, string]> = [
    ["a wrong key", () => craft(validClaims(), { key: OTHER_KEY.key }), "invalid_signature", "The access token signature is invalid"],
    ["a tampered payload", () => swapPayload(craft(validClaims()), { ...validClaims(), sub: "admin" }), "invalid_signature", "The access token signature is invalid"],
    ["alg none", () => `${unsignedHeader}.${encodePart(validClaims())}.`, "unsupported_algorithm", UNSUPPORTED],
    ["alg none with signature", () => `${unsignedHeader}.${encodePart(validClaims())}.c2ln`, "unsupported_algorithm", UNSUPPORTED],
    ["HS512", () => craft(validClaims(), { algorithm: "HS512" }), "unsupported_algorithm", UNSUPPORTED],
    ["an expired token", () => craft({ ...validClaims(), exp: NOW - 10 }), "expired", "The access token expired"],
    ["a future nbf", () => craft({ ...validClaims(), nbf: NOW + 600 }), "not_yet_valid", "The access token is not valid yet"],
    ["a wrong issuer", () => craft({ ...validClaims(), iss: "https://evil.example" }), "wrong_issuer", "The access token was not issued by this server"],
    ["a missing issuer", () => craft({ ...validClaims(), iss: undefined }), "wrong_issuer", "The access token was not issued by this server"],
    ["a wrong audience", () => craft({ ...validClaims(), aud: "https://app.example.com/other" }), "wrong_audience", "The access token was not issued for this resource"],
    ["an audience prefix", () => craft({ ...validClaims(), aud: "https://app.example.com/mcp/x" }), "wrong_audience", "The access token was not issued for this resource"],
    ["an array without audience", () => craft({ ...validClaims(), aud: ["https://other.example"] }), "wrong_audience", "The access token was not issued for this resource"],
    ["a missing audience", () => craft({ ...validClaims(), aud: undefined }), "wrong_audience", "The access token was not issued for this resource"],
    ["typ JWT", () => craft(validClaims(), { typ: "JWT" }), "wrong_type", "The token is not an access token"],
    ["typ at+jwt suffix", () => craft(validClaims(), { typ: "at+jwt2" }), "wrong_type", "The token is not an access token"],
    ["a missing typ", () => signRaw({ alg: "HS256", kid: "key-1" }, validClaims()), "wrong_type", "The token is not an access token"],
    ["a missing exp", () => craft(withoutClaim("exp")), "invalid_claims", "The access token has missing or invalid claims"],
    ["a missing sub", () => craft(withoutClaim("sub")), "invalid_claims", "The access token has missing or invalid claims"],
    ["a missing sid", () => craft(withoutClaim("sid")), "invalid_claims", "The access token has missing or invalid claims"],
    ["a missing jti", () => craft(withoutClaim("jti")), "invalid_claims", "The access token has missing or invalid claims"],
    ["a missing client_id", () => craft(withoutClaim("client_id")), "invalid_claims", "The access token has missing or invalid claims"],
    ["a missing iat", () => jsonwebtoken.sign(withoutClaim("iat"), SECRET, { algorithm: "HS256", noTimestamp: true, header: { alg: "HS256", typ: "at+jwt", kid: "key-1" } }), "invalid_claims", "The access token has missing or invalid claims"],
    ["a numeric sid", () => craft({ ...validClaims(), sid: 42 }), "invalid_claims", "The access token has missing or invalid claims"],
    ["a numeric sub", () => craft({ ...validClaims(), sub: 1 }), "invalid_claims", "The access token has missing or invalid claims"],
    ["an array scope", () => craft({ ...validClaims(), scope: ["mcp:read"] }), "invalid_claims", "The access token has missing or invalid claims"],
    ["a string iat", () => signRaw(HEADER, { ...validClaims(), iat: String(NOW) }), "invalid_claims", "The access token has missing or invalid claims"],
    ["a string exp", () => signRaw(HEADER, { ...validClaims(), exp: String(NOW + 60) }), "invalid_claims", "The access token has missing or invalid claims"],
    ["a string nbf", () => signRaw(HEADER, { ...validClaims(), nbf: "soon" }), "invalid_claims", "The access token has missing or invalid claims"],
    ["garbage", () => "not-a-jwt", "malformed", "The access token is malformed"],
    ["an empty string", () => "", "malformed", "The access token is malformed"],
    ["two segments", () => "a.b", "malformed", "The access token is malformed"],
    ["a non-JSON header", () => `${Buffer.from("{").toString("base64url")}.${encodePart(validClaims())}.c2ln`, "malformed", "The access token is malformed"],
  ];

  for (const [name, makeToken, code, description] of failures) {
    it(`rejects ${name}`, () => {
      const error = verifyFailure(makeToken());

      expect(error.code).toBe(code);
      expect(error.description).toBe(description);
      expect(error.message).toBe(description);
      expect(error.name).toBe("TokenVerificationError");
    });
  }

  it("keeps library message in cause", () => {
    const error = verifyFailure(craft(validClaims(), { key: OTHER_KEY.key }));

    expect(error.description).not.toContain("jwt");
    expect(error.cause).toBeInstanceOf(jsonwebtoken.JsonWebTokenError);
    expect((error.cause as Error).message).toBe("invalid signature");
  });

  it("accepts a hand-signed token", () => {
    expect(verifyAccessToken(signRaw(HEADER, validClaims()), KEY, EXPECTED)).toEqual(validClaims());
  });

  it("rejects tokens from another key set", () => {
    const { token } = signAccessToken(INPUT, OTHER_KEY);

    expect(verifyFailure(token).code).toBe("invalid_signature");
  });

  it("uses current time without now", () => {
    const { token } = signAccessToken(INPUT, KEY);

    expect(verifyFailure(token, { issuer: ISSUER, audience: AUDIENCE }).code).toBe("expired");
  });
});

function swapPayload(token: string, payload: object): string {
  const [header = "", , signature = ""] = token.split(".");
  return `${header}.${encodePart(payload)}.${signature}`;
}

// jsonwebtoken.sign always writes typ and checks iat and exp types, so these
// tokens are signed by hand.
function signRaw(header: object, payload: object): string {
  const signingInput = `${encodePart(header)}.${encodePart(payload)}`;
  return `${signingInput}.${createHmac("sha256", SECRET).update(signingInput).digest("base64url")}`;
}


describe("verifyAccessToken key id", () => {
  function failureOf(token: string): string | undefined {
    try {
      verifyAccessToken(token, KEY, EXPECTED);
      return undefined;
    } catch (error) {
      return (error as TokenVerificationError).code;
    }
  }

  it("accepts the key's kid", () => {
    const { token } = signAccessToken(INPUT, KEY);

    expect(jsonwebtoken.decode(token, { complete: true })?.header.kid).toBe("key-1");
    expect(failureOf(token)).toBeUndefined();
  });

  it("rejects another kid", () => {
    expect(failureOf(craft(validClaims(), { kid: "key-2" }))).toBe("unknown_key");
  });

  it("rejects a missing kid", () => {
    expect(failureOf(signRaw({ alg: "HS256", typ: "at+jwt" }, validClaims()))).toBe("unknown_key");
  });
});

describe("readAccessTokenHeader", () => {
  it("returns alg and kid", () => {
    const { token } = signAccessToken(INPUT, KEY);

    expect(readAccessTokenHeader(token)).toEqual({ alg: "HS256", kid: "key-1" });
  });

  it("returns undefined for a non-string kid", () => {
    expect(readAccessTokenHeader(`${encodePart({ alg: "ES256", kid: 7 })}.e30.c2ln`)).toEqual({ alg: "ES256", kid: undefined });
  });

  const failures: Array<[string, string, string]> = [
    ["alg none", `${encodePart({ alg: "none", kid: "key-1" })}.e30.`, "unsupported_algorithm"],
    ["a missing alg", `${encodePart({ kid: "key-1" })}.e30.c2ln`, "unsupported_algorithm"],
    ["PS256", `${encodePart({ alg: "PS256", kid: "key-1" })}.e30.c2ln`, "unsupported_algorithm"],
    ["lower-case hs256", `${encodePart({ alg: "hs256", kid: "key-1" })}.e30.c2ln`, "unsupported_algorithm"],
    ["two segments", "a.b", "malformed"],
    ["four segments", "a.b.c.d", "malformed"],
    ["a non-JSON header", `${Buffer.from("{").toString("base64url")}.e30.c2ln`, "malformed"],
    ["an array header", `${encodePart(["HS256"])}.e30.c2ln`, "malformed"],
    ["a null header", `${encodePart(null as unknown as object)}.e30.c2ln`, "malformed"],
  ];

  for (const [name, token, code] of failures) {
    it(`rejects ${name}`, () => {
      let failure: unknown;
      try {
        readAccessTokenHeader(token);
      } catch (error) {
        failure = error;
      }

      expect(failure).toBeInstanceOf(TokenVerificationError);
      expect((failure as TokenVerificationError).code).toBe(code);
    });
  }
});

describe("asymmetric access tokens", () => {
  const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const pairs = {
    RS256: { signing: { kid: "rsa-1", algorithm: "RS256", key: rsa.privateKey } as TokenKey, verification: { kid: "rsa-1", algorithm: "RS256", key: rsa.publicKey } as TokenKey },
    ES256: { signing: { kid: "ec-1", algorithm: "ES256", key: ec.privateKey } as TokenKey, verification: { kid: "ec-1", algorithm: "ES256", key: ec.publicKey } as TokenKey },
  };

  for (const [algorithm, { signing, verification }] of Object.entries(pairs)) {
    it(`${algorithm} round trip`, () => {
      const { token, claims } = signAccessToken(INPUT, signing);

      expect(jsonwebtoken.decode(token, { complete: true })?.header).toEqual({ alg: algorithm, typ: "at+jwt", kid: signing.kid });
      expect(verifyAccessToken(token, verification, EXPECTED)).toEqual(claims);
    });

    it(`${algorithm} rejects a tampered payload`, () => {
      const { token } = signAccessToken(INPUT, signing);
      const error = failureWith(swapPayload(token, { ...validClaims(), sub: "admin" }), verification);

      expect(error.code).toBe("invalid_signature");
    });
  }

  it("ES256 key rejects an RS256 token", () => {
    const { token } = signAccessToken(INPUT, { ...pairs.RS256.signing, kid: "ec-1" });

    expect(failureWith(token, pairs.ES256.verification).code).toBe("unsupported_algorithm");
  });

  // The classic confusion attack: an HS256 token whose HMAC secret is the public key's PEM.
  it("rejects HS256 signed with the public key", () => {
    const pem = ec.publicKey.export({ format: "pem", type: "spki" });
    const signingInput = `${encodePart({ alg: "HS256", typ: "at+jwt", kid: "ec-1" })}.${encodePart(validClaims())}`;
    const token = `${signingInput}.${createHmac("sha256", pem).update(signingInput).digest("base64url")}`;

    expect(failureWith(token, pairs.ES256.verification).code).toBe("unsupported_algorithm");
  });

  function failureWith(token: string, key: TokenKey): TokenVerificationError {
    try {
      verifyAccessToken(token, key, EXPECTED);
    } catch (error) {
      expect(error).toBeInstanceOf(TokenVerificationError);
      return error as TokenVerificationError;
    }
    throw new Error("verifyAccessToken accepted the token");
  }
});
