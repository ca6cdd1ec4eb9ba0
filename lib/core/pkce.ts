import { createHash } from "node:crypto";

import { randomToken, safeEqual } from "./random.js";

// RFC 7636 §4.1 and §4.2 give code_verifier and code_challenge the same syntax:
// 43 to 128 characters of unreserved URI characters.
const PKCE_VALUE = /^[A-Za-z0-9._~-]{43,128}$/;

/**
 * Creates a code_verifier from 32 random bytes and its S256 code_challenge (RFC 7636 §4.1, §4.2).
 *
 * @example
 * const { verifier, challenge } = createPkcePair(); // verifier.length === 43
 */
export function createPkcePair(): { verifier: string; challenge: string } {
  const verifier = randomToken(32);
  return { verifier, challenge: s256Challenge(verifier) };
}

/**
 * Computes the S256 code_challenge, BASE64URL(SHA256(ASCII(code_verifier))) (RFC 7636 §4.2).
 */
export function s256Challenge(verifier: string): string {
  return createHash("sha256").update(verifier, "utf8").digest("base64url");
}

/**
 * Checks that a code_verifier or code_challenge has the RFC 7636 §4.1/§4.2 syntax.
 */
export function isValidPkceValue(value: string): boolean {
  return typeof value === "string" && PKCE_VALUE.test(value);
}

/**
 * Checks in constant time that `verifier` is well formed and hashes to `challenge` under S256 (RFC 7636 §4.6).
 */
export function verifyS256(verifier: string, challenge: string): boolean {
  if (!isValidPkceValue(verifier) || !isValidPkceValue(challenge)) {
    return false;
  }

  return safeEqual(s256Challenge(verifier), challenge);
}
