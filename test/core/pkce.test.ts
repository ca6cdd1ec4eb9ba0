import { describe, expect, it } from "vitest";

import { createPkcePair, isValidPkceValue, s256Challenge, verifyS256 } from "../../lib/core/pkce.js";

// Test vector from RFC 7636 Appendix B.
const RFC_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const RFC_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

describe("s256Challenge", () => {
  it("matches RFC 7636 Appendix B", () => {
    expect(s256Challenge(RFC_VERIFIER)).toBe(RFC_CHALLENGE);
  });
});

describe("createPkcePair", () => {
  it("returns a valid verifier and challenge", () => {
    const { verifier, challenge } = createPkcePair();

    expect(verifier).toHaveLength(43);
    expect(isValidPkceValue(verifier)).toBe(true);
    expect(challenge).toBe(s256Challenge(verifier));
    expect(verifyS256(verifier, challenge)).toBe(true);
  });

  it("returns a new verifier each call", () => {
    expect(createPkcePair().verifier).not.toBe(createPkcePair().verifier);
  });
});

describe("isValidPkceValue", () => {
  const cases: Array<[string, string, boolean]> = [
    ["RFC verifier", RFC_VERIFIER, true],
    ["RFC challenge", RFC_CHALLENGE, true],
    ["43 characters", "a".repeat(43), true],
    ["128 characters", "a".repeat(128), true],
    ["all unreserved characters", "AZaz09-._~".repeat(5), true],
    ["42 characters", "a".repeat(42), false],
    ["129 characters", "a".repeat(129), false],
    ["empty string", "", false],
    ["plus sign", "a".repeat(42) + "+", false],
    ["slash", "a".repeat(42) + "/", false],
    ["padding", "a".repeat(42) + "=", false],
    ["space", "a".repeat(42) + " ", false],
    ["percent-encoding", "a".repeat(40) + "%41", false],
    ["non-ASCII letter", "a".repeat(42) + "é", false],
    ["trailing newline", "a".repeat(43) + "\n", false],
  ];

  for (const [name, value, expected] of cases) {
    it(`${expected ? "accepts" : "rejects"} ${name}`, () => {
      expect(isValidPkceValue(value)).toBe(expected);
    });
  }

  it("rejects non-string input", () => {
    expect(isValidPkceValue(undefined as unknown as string)).toBe(false);
  });
});

describe("verifyS256", () => {
  it("accepts the RFC vector", () => {
    expect(verifyS256(RFC_VERIFIER, RFC_CHALLENGE)).toBe(true);
  });

  const rejected: Array<[string, string, string]> = [
    ["another verifier", createPkcePair().verifier, RFC_CHALLENGE],
    ["the plain method", RFC_VERIFIER, RFC_VERIFIER],
    ["a changed challenge", RFC_VERIFIER, "F" + RFC_CHALLENGE.slice(1)],
    ["a truncated challenge", RFC_VERIFIER, RFC_CHALLENGE.slice(0, 42)],
    ["a padded challenge", RFC_VERIFIER, RFC_CHALLENGE + "="],
    ["a short verifier", "abc", s256Challenge("abc")],
    ["an empty verifier", "", s256Challenge("")],
    ["a verifier with bad characters", "a".repeat(42) + "+", s256Challenge("a".repeat(42) + "+")],
  ];

  for (const [name, verifier, challenge] of rejected) {
    it(`rejects ${name}`, () => {
      expect(verifyS256(verifier, challenge)).toBe(false);
    });
  }
});
