import { createHmac, createSecretKey } from "node:crypto";

import jsonwebtoken from "jsonwebtoken";
import { describe, expect, it } from "vitest";

import { signAccessToken, TokenVerificationError, verifyAccessToken } from "../../lib/core/jwt.js";
import type { AccessTokenClaims } from "../../lib/core/jwt.js";

const KEY = createSecretKey(Buffer.alloc(32, 7));
const OTHER_KEY = createSecretKey(Buffer.alloc(32, 8));
const NOW = 1_700_000_000;
const ISSUER = "https://app.example.com";
const AUDIENCE = "https://app.example.com/mcp";
const EXPECTED = { issuer: ISSUER, audience: AUDIENCE, now: NOW };

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

function craft(payload: object, options: { typ?: string; key?: typeof KEY; algorithm?: jsonwebtoken.Algorithm } = {}): string {
  const algorithm = options.algorithm ?? "HS256";
  const header = { alg: algorithm, typ: options.typ ?? "at+jwt" };
  return jsonwebtoken.sign(payload, options.key ?? KEY, { algorithm, header });
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

    expect(JSON.parse(Buffer.from(header, "base64url").toString())).toEqual({ alg: "HS256", typ: "at+jwt" });
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

  const unsignedHeader = encodePart({ alg: "none", typ: "at+jwt" });

  const failures: Array<[string, () => string, string, string]> = [
    ["a wrong key", () => craft(validClaims(), { key: OTHER_KEY }), "invalid_signature", "The access token signature is invalid"],
    ["a tampered payload", () => swapPayload(craft(validClaims()), { ...validClaims(), sub: "admin" }), "invalid_signature", "The access token signature is invalid"],
    ["alg none", () => `${unsignedHeader}.${encodePart(validClaims())}.`, "unsupported_algorithm", "The access token is not signed with HS256"],
    ["alg none with signature", () => `${unsignedHeader}.${encodePart(validClaims())}.c2ln`, "unsupported_algorithm", "The access token is not signed with HS256"],
    ["HS512", () => craft(validClaims(), { algorithm: "HS512" }), "unsupported_algorithm", "The access token is not signed with HS256"],
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
    ["a missing typ", () => signRaw({ alg: "HS256" }, validClaims()), "wrong_type", "The token is not an access token"],
    ["a missing exp", () => craft(withoutClaim("exp")), "invalid_claims", "The access token has missing or invalid claims"],
    ["a missing sub", () => craft(withoutClaim("sub")), "invalid_claims", "The access token has missing or invalid claims"],
    ["a missing sid", () => craft(withoutClaim("sid")), "invalid_claims", "The access token has missing or invalid claims"],
    ["a missing jti", () => craft(withoutClaim("jti")), "invalid_claims", "The access token has missing or invalid claims"],
    ["a missing client_id", () => craft(withoutClaim("client_id")), "invalid_claims", "The access token has missing or invalid claims"],
    ["a missing iat", () => jsonwebtoken.sign(withoutClaim("iat"), KEY, { algorithm: "HS256", noTimestamp: true, header: { alg: "HS256", typ: "at+jwt" } }), "invalid_claims", "The access token has missing or invalid claims"],
    ["a numeric sid", () => craft({ ...validClaims(), sid: 42 }), "invalid_claims", "The access token has missing or invalid claims"],
    ["a numeric sub", () => craft({ ...validClaims(), sub: 1 }), "invalid_claims", "The access token has missing or invalid claims"],
    ["an array scope", () => craft({ ...validClaims(), scope: ["mcp:read"] }), "invalid_claims", "The access token has missing or invalid claims"],
    ["a string iat", () => signRaw({ alg: "HS256", typ: "at+jwt" }, { ...validClaims(), iat: String(NOW) }), "invalid_claims", "The access token has missing or invalid claims"],
    ["a string exp", () => signRaw({ alg: "HS256", typ: "at+jwt" }, { ...validClaims(), exp: String(NOW + 60) }), "invalid_claims", "The access token has missing or invalid claims"],
    ["a string nbf", () => signRaw({ alg: "HS256", typ: "at+jwt" }, { ...validClaims(), nbf: "soon" }), "invalid_claims", "The access token has missing or invalid claims"],
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
    const error = verifyFailure(craft(validClaims(), { key: OTHER_KEY }));

    expect(error.description).not.toContain("jwt");
    expect(error.cause).toBeInstanceOf(jsonwebtoken.JsonWebTokenError);
    expect((error.cause as Error).message).toBe("invalid signature");
  });

  it("accepts a hand-signed token", () => {
    expect(verifyAccessToken(signRaw({ alg: "HS256", typ: "at+jwt" }, validClaims()), KEY, EXPECTED)).toEqual(validClaims());
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
  return `${signingInput}.${createHmac("sha256", KEY).update(signingInput).digest("base64url")}`;
}

describe("verifyAccessToken key id", () => {
  function failureOf(token: string, keyId: string): string | undefined {
    try {
      verifyAccessToken(token, KEY, { ...EXPECTED, keyId });
      return undefined;
    } catch (error) {
      return (error as TokenVerificationError).code;
    }
  }

  it("accepts the expected kid", () => {
    const { token } = signAccessToken({ ...INPUT, keyId: "key-1" }, KEY);
    expect(jsonwebtoken.decode(token, { complete: true })?.header.kid).toBe("key-1");
    expect(failureOf(token, "key-1")).toBeUndefined();
  });

  it("rejects another kid", () => {
    const { token } = signAccessToken({ ...INPUT, keyId: "key-2" }, KEY);
    expect(failureOf(token, "key-1")).toBe("unknown_key");
  });

  it("rejects a missing kid", () => {
    const { token } = signAccessToken(INPUT, KEY);
    expect(failureOf(token, "key-1")).toBe("unknown_key");
  });
});
