import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * Returns `bytes` cryptographically random bytes encoded as base64url, for codes, tokens and ids.
 *
 * @example
 * randomToken(); // 43 characters carrying 256 bits
 */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString("base64url");
}

/**
 * Hashes a secret with SHA-256 into a base64url storage key, so a leaked store does not reveal usable codes or tokens.
 */
export function hashKey(value: string): string {
  return createHash("sha256").update(value, "utf8").digest("base64url");
}

/**
 * Compares two strings in time that depends only on their length, returning false on any mismatch or non-string input.
 */
export function safeEqual(a: string, b: string): boolean {
  if (typeof a !== "string" || typeof b !== "string") {
    return false;
  }

  const left = Buffer.from(a, "utf8");
  const right = Buffer.from(b, "utf8");
  // timingSafeEqual throws on unequal lengths, and the length of a token is not secret.
  if (left.length !== right.length) {
    return false;
  }

  return timingSafeEqual(left, right);
}
