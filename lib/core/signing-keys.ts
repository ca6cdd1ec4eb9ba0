import { createHash, createPrivateKey, createPublicKey, generateKeyPair as generateNodeKeyPair, KeyObject } from "node:crypto";
import type { JsonWebKey } from "node:crypto";
import { promisify } from "node:util";

import type { SigningAlgorithm, TokenKey } from "./jwt.js";

const generateNodeKeyPairAsync = promisify(generateNodeKeyPair);

/** The asymmetric algorithms whose public keys the proxy publishes as a JWKS. */
export type AsymmetricAlgorithm = Exclude<SigningAlgorithm, "HS256">;

/** Smallest RSA modulus accepted for RS256, in bits (NIST SP 800-57 Part 1, table 2). */
const MIN_RSA_BITS = 2048;

/**
 * A key given to the `jwt` option: PEM text, a JWK (its `kid` member is used), a KeyObject, or
 * one of those wrapped as `{ key, kid }` to set the `kid`. Without a `kid` the key gets its
 * RFC 7638 JWK thumbprint, which every instance computes alike.
 */
export type SigningKeyInput = string | JsonWebKey | KeyObject | { key: string | JsonWebKey | KeyObject; kid: string };

/** A public key as published at `jwks_uri` (RFC 7517 §4). */
export interface PublicJwk {
  kty: string;
  kid: string;
  alg: AsymmetricAlgorithm;
  use: "sig";
  [member: string]: string;
}

/** An asymmetric key with its `kid`; `privateKey` is absent for a key that only verifies. */
export interface KeyPair {
  kid: string;
  algorithm: AsymmetricAlgorithm;
  privateKey: KeyObject | undefined;
  publicKey: KeyObject;
  jwk: PublicJwk;
}

/** The keys that sign and verify one proxy's access tokens; `now` is in epoch seconds. */
export interface AccessTokenKeySet {
  readonly algorithm: SigningAlgorithm;
  /** Returns the key that signs new access tokens. */
  signingKey(now?: number): Promise<TokenKey>;
  /** Returns the key with `kid` when tokens signed with it are accepted at `now`, else `undefined`. */
  verificationKey(kid: string | undefined, now?: number): Promise<TokenKey | undefined>;
  /** Returns the public keys to publish at `jwks_uri`: the next key, the current one and older ones still accepted. Empty for HS256. */
  publicKeys(now?: number): Promise<PublicJwk[]>;
}

/**
 * Imports an RS256 or ES256 key from PEM, JWK or KeyObject form.
 *
 * @throws {TypeError} with a message that names the problem with the key and never contains the key.
 */
export function importKeyPair(input: SigningKeyInput, algorithm: AsymmetricAlgorithm): KeyPair {
  const { material, kid } = unwrap(input);
  const { privateKey, publicKey } = toKeyObjects(material);
  checkKeyType(publicKey, algorithm);

  const thumbprint = jwkThumbprint(publicKey);
  const chosenKid = kid ?? jwkKid(material) ?? thumbprint;
  return { kid: chosenKid, algorithm, privateKey, publicKey, jwk: publicJwk(publicKey, chosenKid, algorithm) };
}

/**
 * Generates a fresh key pair: RSA 2048 for RS256, P-256 for ES256. The `kid` is the RFC 7638 thumbprint.
 *
 * @example
 * const pair = await generateKeyPair("ES256");
 */
export async function generateKeyPair(algorithm: AsymmetricAlgorithm): Promise<KeyPair> {
  const { privateKey } = algorithm === "RS256"
    ? await generateNodeKeyPairAsync("rsa", { modulusLength: MIN_RSA_BITS })
    : await generateNodeKeyPairAsync("ec", { namedCurve: "P-256" });
  return importKeyPair(privateKey, algorithm);
}

/** Exports the private half of a key pair as a JWK, with its `kid`, for storage. */
export function exportPrivateJwk(pair: KeyPair): JsonWebKey {
  if (pair.privateKey === undefined) {
    throw new TypeError(`The key ${pair.kid} has no private key to export`);
  }
  return { ...pair.privateKey.export({ format: "jwk" }), kid: pair.kid };
}

/** Returns the key that signs with this pair, which needs its private half. */
export function signingKeyOf(pair: KeyPair): TokenKey {
  if (pair.privateKey === undefined) {
    throw new TypeError(`The key ${pair.kid} has no private key, so it cannot sign`);
  }
  return { kid: pair.kid, algorithm: pair.algorithm, key: pair.privateKey };
}

/** Returns the key that verifies tokens of this pair. jsonwebtoken 9 requires the public half for RS256 and ES256. */
export function verificationKeyOf(pair: KeyPair): TokenKey {
  return { kid: pair.kid, algorithm: pair.algorithm, key: pair.publicKey };
}

/**
 * Computes the RFC 7638 JWK thumbprint (SHA-256, base64url) of a public RSA or EC key.
 *
 * @example
 * jwkThumbprint(pair.publicKey); // "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" for the RFC 7638 §3.1 key
 */
export function jwkThumbprint(publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: "jwk" });
  // RFC 7638 §3.2: only the required members, in lexicographic order, without whitespace.
  const members = jwk.kty === "RSA" ? { e: jwk.e, kty: jwk.kty, n: jwk.n } : { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y };
  return createHash("sha256").update(JSON.stringify(members)).digest("base64url");
}

/**
 * Key set whose keys come from configuration and never change while the process runs: the
 * HS256 key derived from the secret, or RS256/ES256 keys rotated by hand.
 */
export class StaticKeySet implements AccessTokenKeySet {
  readonly algorithm: SigningAlgorithm;
  readonly #signingKey: TokenKey;
  readonly #verificationKeys: ReadonlyMap<string, TokenKey>;
  readonly #publicKeys: PublicJwk[];

  private constructor(algorithm: SigningAlgorithm, signingKey: TokenKey, verificationKeys: TokenKey[], publicKeys: PublicJwk[]) {
    this.algorithm = algorithm;
    this.#signingKey = signingKey;
    this.#verificationKeys = new Map(verificationKeys.map((key) => [key.kid, key]));
    this.#publicKeys = publicKeys;
  }

  /** Creates the HS256 key set: the first key signs, every key verifies, and nothing is published. */
  static hmac(keys: readonly TokenKey[]): StaticKeySet {
    const [first] = keys;
    if (first === undefined) {
      throw new TypeError("StaticKeySet.hmac needs at least one key");
    }
    return new StaticKeySet("HS256", first, [...keys], []);
  }

  /**
   * Creates an RS256 or ES256 key set: `current` signs; `next`, `current` and `older` verify and
   * are published, the next key first.
   */
  static asymmetric(current: KeyPair, next: KeyPair | undefined, older: readonly KeyPair[]): StaticKeySet {
    const all = [...(next === undefined ? [] : [next]), current, ...older];
    return new StaticKeySet(current.algorithm, signingKeyOf(current), all.map(verificationKeyOf), all.map((pair) => pair.jwk));
  }

  async signingKey(): Promise<TokenKey> {
    return this.#signingKey;
  }

  async verificationKey(kid: string | undefined): Promise<TokenKey | undefined> {
    return kid === undefined ? undefined : this.#verificationKeys.get(kid);
  }

  async publicKeys(): Promise<PublicJwk[]> {
    return this.#publicKeys;
  }
}

function unwrap(input: SigningKeyInput): { material: string | JsonWebKey | KeyObject; kid: string | undefined } {
  if (typeof input === "object" && input !== null && !(input instanceof KeyObject) && "key" in input) {
    const wrapper = input as { key: string | JsonWebKey | KeyObject; kid: unknown };
    if (typeof wrapper.kid !== "string" || wrapper.kid === "") {
      throw new TypeError("A key given as { key, kid } needs a non-empty string kid");
    }
    return { material: wrapper.key, kid: wrapper.kid };
  }
  return { material: input as string | JsonWebKey | KeyObject, kid: undefined };
}

function toKeyObjects(material: unknown): { privateKey: KeyObject | undefined; publicKey: KeyObject } {
  if (material instanceof KeyObject) {
    if (material.type === "secret") {
      throw new TypeError("The key is a secret key; RS256 and ES256 need an RSA or EC key pair");
    }
    return material.type === "private"
      ? { privateKey: material, publicKey: createPublicKey(material) }
      : { privateKey: undefined, publicKey: material };
  }

  if (typeof material === "string") {
    return fromPem(material);
  }

  if (typeof material === "object" && material !== null && typeof (material as JsonWebKey).kty === "string") {
    return fromJwk(material as JsonWebKey);
  }
  throw new TypeError("The key must be PEM text, a JWK object or a KeyObject");
}

function fromPem(pem: string): { privateKey: KeyObject | undefined; publicKey: KeyObject } {
  if (!pem.includes("-----BEGIN ")) {
    throw new TypeError("The key string is not PEM; it must start with a -----BEGIN ...----- line");
  }

  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
    const privateKey = attempt(() => createPrivateKey(pem), "The PEM private key could not be read (encrypted PEM is not supported)");
    return { privateKey, publicKey: createPublicKey(privateKey) };
  }
  return { privateKey: undefined, publicKey: attempt(() => createPublicKey(pem), "The PEM public key could not be read") };
}

function fromJwk(jwk: JsonWebKey): { privateKey: KeyObject | undefined; publicKey: KeyObject } {
  // Node reads only the key members, so kid, alg and use may stay in the object.
  if (typeof jwk.d === "string") {
    const privateKey = attempt(() => createPrivateKey({ key: jwk, format: "jwk" }), "The private JWK could not be read");
    return { privateKey, publicKey: createPublicKey(privateKey) };
  }
  return { privateKey: undefined, publicKey: attempt(() => createPublicKey({ key: jwk, format: "jwk" }), "The public JWK could not be read") };
}

function attempt<T>(read: () => T, message: string): T {
  try {
    return read();
  } catch (error) {
    throw new TypeError(message, { cause: error });
  }
}

function checkKeyType(publicKey: KeyObject, algorithm: AsymmetricAlgorithm): void {
  const type = publicKey.asymmetricKeyType;
  const details = publicKey.asymmetricKeyDetails;
  if (algorithm === "RS256") {
    if (type !== "rsa") {
      throw new TypeError(`RS256 needs an RSA key, not ${describeKeyType(publicKey)}`);
    }
    if ((details?.modulusLength ?? 0) < MIN_RSA_BITS) {
      throw new TypeError(`RS256 needs an RSA key of at least ${MIN_RSA_BITS} bits, not ${details?.modulusLength ?? 0}`);
    }
    return;
  }

  if (type !== "ec" || details?.namedCurve !== "prime256v1") {
    throw new TypeError(`ES256 needs an EC key on the P-256 curve, not ${describeKeyType(publicKey)}`);
  }
}

function describeKeyType(key: KeyObject): string {
  const curve = key.asymmetricKeyDetails?.namedCurve;
  const type = `a key of type ${key.asymmetricKeyType ?? "unknown"}`;
  return curve === undefined ? type : `${type} on curve ${curve}`;
}

function jwkKid(material: unknown): string | undefined {
  if (typeof material !== "object" || material === null || material instanceof KeyObject) {
    return undefined;
  }
  const kid = (material as { kid?: unknown }).kid;
  return typeof kid === "string" && kid !== "" ? kid : undefined;
}

function publicJwk(publicKey: KeyObject, kid: string, algorithm: AsymmetricAlgorithm): PublicJwk {
  const exported = publicKey.export({ format: "jwk" });
  const members = Object.fromEntries(Object.entries(exported).filter((entry): entry is [string, string] => typeof entry[1] === "string"));
  return { ...members, kty: exported.kty ?? "", kid, alg: algorithm, use: "sig" };
}
