import { hashKey } from "./core/random.js";
import { importKeyPair } from "./core/signing-keys.js";
import type { AsymmetricAlgorithm, KeyPair, SigningKeyInput } from "./core/signing-keys.js";
import { SIGNING_ALGORITHMS } from "./core/jwt.js";
import type { SigningAlgorithm } from "./core/jwt.js";
import { OptionError } from "./errors.js";

/** The `jwt` option of `oauthProxy()`: how access tokens are signed. */
export interface JwtOptions {
  /**
   * `HS256` (default) signs with a key derived from `secret`, so only holders of the secret can
   * verify. `RS256` or `ES256` sign with a private key and publish the public keys at `jwks_uri`.
   */
  algorithm?: SigningAlgorithm;

  /**
   * RS256 or ES256 keys for manual rotation: the current key first (it must be private), then
   * older keys whose tokens are still accepted (public halves suffice). Without `keys` the proxy
   * generates keys, keeps them encrypted in `storage` and rotates them every `rotationDays`.
   */
  keys?: SigningKeyInput[];

  /** A key published at `jwks_uri` and accepted before it signs; move it to the front of `keys` later. */
  nextKey?: SigningKeyInput;

  /**
   * Days each generated key signs before the next one takes over; default 30. The next key is
   * published one whole period before it signs, so the period must be at least `accessTokenTtl`.
   */
  rotationDays?: number;

  /**
   * Number of verified tokens whose signature check repeat requests skip; default 10000, 0
   * turns the cache off. Revocation stays exact because the grant is still loaded every time.
   */
  verifiedTokenCacheSize?: number;
}

/** A caller allowed to use the introspection endpoint, authenticated like a confidential client. */
export interface IntrospectionClient {
  id: string;
  /** At least 32 characters, for example from `openssl rand -base64 32`. */
  secret: string;
}

/** The `introspection` option of `oauthProxy()`: enables `POST /oauth/introspect` (RFC 7662) for these callers. */
export interface IntrospectionOptions {
  clients: IntrospectionClient[];
}

/** The `jwt` option after validation, with configured keys imported once. */
export interface ResolvedJwtOptions {
  algorithm: SigningAlgorithm;
  /** Keys rotated by hand; `undefined` for HS256 and for generated keys. */
  configuredKeys: { current: KeyPair; next: KeyPair | undefined; older: KeyPair[] } | undefined;
  /** Seconds each generated key signs. */
  rotationSeconds: number;
  verifiedTokenCacheSize: number;
}

/** The `introspection` option after validation: each caller's id with the SHA-256 of its secret. */
export interface ResolvedIntrospectionOptions {
  secretHashes: ReadonlyMap<string, string>;
}

const JWT_MEMBERS = ["algorithm", "keys", "nextKey", "rotationDays", "verifiedTokenCacheSize"];
const DEFAULT_ROTATION_DAYS = 30;
const DEFAULT_CACHE_SIZE = 10_000;
const MAX_CACHE_SIZE = 1_000_000;
const MIN_INTROSPECTION_SECRET_LENGTH = 32;

/** Validates the `jwt` option and imports its keys, throwing an `OptionError` that names the member and the fix. */
export function resolveJwtOptions(value: unknown, accessTokenTtl: number): ResolvedJwtOptions {
  if (value === undefined) {
    return { algorithm: "HS256", configuredKeys: undefined, rotationSeconds: DEFAULT_ROTATION_DAYS * 86400, verifiedTokenCacheSize: DEFAULT_CACHE_SIZE };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new OptionError("jwt", value, 'Pass an object such as { algorithm: "ES256" }, or leave jwt out for HS256.');
  }
  const options = value as Record<string, unknown>;
  rejectUnknownMembers("jwt", options, JWT_MEMBERS);

  const algorithm = options.algorithm ?? "HS256";
  if (!isSigningAlgorithm(algorithm)) {
    throw new OptionError("jwt.algorithm", algorithm, `Use one of ${SIGNING_ALGORITHMS.join(", ")}.`);
  }

  const verifiedTokenCacheSize = resolveCacheSize(options.verifiedTokenCacheSize);
  if (algorithm === "HS256") {
    for (const member of ["keys", "nextKey", "rotationDays"]) {
      if (options[member] !== undefined) {
        throw new OptionError(`jwt.${member}`, member === "rotationDays" ? options[member] : "(hidden)", "HS256 uses a key derived from secret; remove this member or set jwt.algorithm to RS256 or ES256.");
      }
    }
    return { algorithm, configuredKeys: undefined, rotationSeconds: DEFAULT_ROTATION_DAYS * 86400, verifiedTokenCacheSize };
  }

  if (options.keys === undefined) {
    if (options.nextKey !== undefined) {
      throw new OptionError("jwt.nextKey", "(hidden)", "Generated keys rotate by themselves; pass jwt.keys as well to rotate keys by hand.");
    }
    return { algorithm, configuredKeys: undefined, rotationSeconds: resolveRotation(options.rotationDays, accessTokenTtl), verifiedTokenCacheSize };
  }
  if (options.rotationDays !== undefined) {
    throw new OptionError("jwt.rotationDays", options.rotationDays, "rotationDays applies to generated keys; remove it, or remove jwt.keys to let the proxy generate and rotate keys.");
  }
  return { algorithm, configuredKeys: resolveConfiguredKeys(options, algorithm), rotationSeconds: 0, verifiedTokenCacheSize };
}

/** Validates the `introspection` option; `undefined` leaves the endpoint off. */
export function resolveIntrospectionOptions(value: unknown): ResolvedIntrospectionOptions | undefined {
  if (value === undefined) {
    return undefined;
  }
  const fix = 'Pass { clients: [{ id: "gateway", secret: "<32 or more characters>" }] }.';
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new OptionError("introspection", value, fix);
  }
  rejectUnknownMembers("introspection", value as Record<string, unknown>, ["clients"]);

  const clients = (value as { clients?: unknown }).clients;
  if (!Array.isArray(clients) || clients.length === 0) {
    throw new OptionError("introspection.clients", clients, fix);
  }

  const secretHashes = new Map<string, string>();
  for (const [index, client] of clients.entries()) {
    const { id, secret } = (typeof client === "object" && client !== null ? client : {}) as Record<string, unknown>;
    if (typeof id !== "string" || !/^[\x21-\x7E]{1,200}$/.test(id)) {
      throw new OptionError(`introspection.clients[${index}].id`, id, "Use 1 to 200 visible ASCII characters without spaces.");
    }
    if (secretHashes.has(id)) {
      throw new OptionError(`introspection.clients[${index}].id`, id, "Give every introspection client a different id.");
    }
    if (typeof secret !== "string" || secret.length < MIN_INTROSPECTION_SECRET_LENGTH) {
      const redactedValue = typeof secret === "string" ? `(hidden, ${secret.length} characters)` : typeof secret;
      throw new OptionError(`introspection.clients[${index}].secret`, redactedValue, `Use at least ${MIN_INTROSPECTION_SECRET_LENGTH} characters, for example from \`openssl rand -base64 32\`.`);
    }
    secretHashes.set(id, hashKey(secret));
  }
  return { secretHashes };
}

function isSigningAlgorithm(value: unknown): value is SigningAlgorithm {
  return (SIGNING_ALGORITHMS as readonly unknown[]).includes(value);
}

function resolveConfiguredKeys(options: Record<string, unknown>, algorithm: AsymmetricAlgorithm): ResolvedJwtOptions["configuredKeys"] {
  const list = options.keys;
  if (!Array.isArray(list) || list.length === 0) {
    throw new OptionError("jwt.keys", list, "Pass an array of keys (PEM, JWK or KeyObject), the current signing key first.");
  }

  const pairs = list.map((input, index) => importOption(`jwt.keys[${index}]`, input as SigningKeyInput, algorithm));
  const next = options.nextKey === undefined ? undefined : importOption("jwt.nextKey", options.nextKey as SigningKeyInput, algorithm);
  const [current, ...older] = pairs as [KeyPair, ...KeyPair[]];
  if (current.privateKey === undefined) {
    throw new OptionError("jwt.keys[0]", "(hidden)", "The first key signs tokens, so pass its private key.");
  }

  const kids = new Set<string>();
  for (const pair of [...(next === undefined ? [] : [next]), ...pairs]) {
    if (kids.has(pair.kid)) {
      throw new OptionError("jwt.keys", pair.kid, "Every key needs a different kid; list each key once.");
    }
    kids.add(pair.kid);
  }
  return { current, next, older };
}

function importOption(option: string, input: SigningKeyInput, algorithm: AsymmetricAlgorithm): KeyPair {
  try {
    return importKeyPair(input, algorithm);
  } catch (error) {
    if (!(error instanceof TypeError)) {
      throw error;
    }
    throw new OptionError(option, "(hidden)", `${error.message}.`);
  }
}

function resolveRotation(value: unknown, accessTokenTtl: number): number {
  if (value === undefined) {
    return Math.max(DEFAULT_ROTATION_DAYS * 86400, accessTokenTtl);
  }
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new OptionError("jwt.rotationDays", value, "Pass a number of days greater than 0, for example 30.");
  }

  const seconds = Math.round(value * 86400);
  // The next key is published one period before it signs. With a period shorter than a token's
  // lifetime, a verifier that cached the JWKS could meet a kid it has never seen.
  if (seconds < accessTokenTtl) {
    throw new OptionError("jwt.rotationDays", value, `Use a period of at least accessTokenTtl (${accessTokenTtl} seconds).`);
  }
  return seconds;
}

function resolveCacheSize(value: unknown): number {
  if (value === undefined) {
    return DEFAULT_CACHE_SIZE;
  }
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > MAX_CACHE_SIZE) {
    throw new OptionError("jwt.verifiedTokenCacheSize", value, `Pass a whole number from 0 (no cache) to ${MAX_CACHE_SIZE}.`);
  }
  return value;
}

function rejectUnknownMembers(option: string, value: Record<string, unknown>, known: string[]): void {
  const unknown = Object.keys(value).find((name) => !known.includes(name));
  if (unknown !== undefined) {
    const member = value[unknown];
    const redactedValue = typeof member === "number" || typeof member === "boolean" || member === undefined ? member : "(hidden)";
    throw new OptionError(`${option}.${unknown}`, redactedValue, `This member is not known; use ${known.join(", ")}.`);
  }
}
