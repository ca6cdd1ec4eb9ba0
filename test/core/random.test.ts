import { describe, expect, it } from "vitest";

import { hashKey, randomToken, safeEqual } from "../../lib/core/random.js";

const BASE64URL = /^[A-Za-z0-9_-]+$/;

describe("randomToken", () => {
  it("encodes 32 bytes by default", () => {
    const token = randomToken();

    expect(token).toHaveLength(43);
    expect(token).toMatch(BASE64URL);
    expect(Buffer.from(token, "base64url")).toHaveLength(32);
  });

  it("encodes the requested byte count", () => {
    for (const [bytes, length] of [[16, 22], [24, 32], [48, 64]] as const) {
      const token = randomToken(bytes);

      expect(token).toHaveLength(length);
      expect(Buffer.from(token, "base64url")).toHaveLength(bytes);
    }
  });

  it("returns a different value each call", () => {
    const tokens = new Set(Array.from({ length: 100 }, () => randomToken()));

    expect(tokens.size).toBe(100);
  });
});

describe("hashKey", () => {
  it("returns base64url SHA-256", () => {
    // SHA-256("abc") from FIPS 180-2 App. B.1, re-encoded as base64url.
    expect(hashKey("abc")).toBe("ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
    expect(hashKey("")).toBe("47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU");
  });

  it("hashes UTF-8 bytes", () => {
    expect(hashKey("\u00e9")).toBe("SplVfkAzw1Od4utlRyAXytX5VX96BiWgnxw_biumnEw");
  });
});

describe("safeEqual", () => {
  const cases: Array<[string, string, boolean]> = [
    ["abc", "abc", true],
    ["", "", true],
    ["abc", "abd", false],
    ["abc", "ab", false],
    ["ab", "abc", false],
    ["abc", "ABC", false],
    ["é", "é", true],
    ["é", "e\u0301", false],
  ];

  for (const [a, b, expected] of cases) {
    it(`compares ${JSON.stringify(a)} and ${JSON.stringify(b)}`, () => {
      expect(safeEqual(a, b)).toBe(expected);
    });
  }

  it("returns false for non-strings", () => {
    expect(safeEqual(undefined as unknown as string, "a")).toBe(false);
    expect(safeEqual("a", null as unknown as string)).toBe(false);
    expect(safeEqual(1 as unknown as string, 1 as unknown as string)).toBe(false);
  });
});
