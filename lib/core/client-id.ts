import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from "node:crypto";
import { deflateRawSync, inflateRawSync } from "node:zlib";
import { safeEqual } from "./random.js";

/** Registration data sealed into a client id: enough to validate the client without any stored record. */
export interface SealedClient {
  redirect_uris: string[];
  token_endpoint_auth_method: "none" | "client_secret_basic" | "client_secret_post";
  grant_types: string[];
  client_name?: string;
  client_id_issued_at: number;
}

interface SealingKey {
  id: string;
  encryption: Buffer;
  secretDerivation: Buffer;
}

const SALT = "mcp-oauth-proxy";
const IV_BYTES = 12;
const TAG_BYTES = 16;
const AAD = Buffer.from("mcp-oauth-proxy client id v1");
/** Maximum client id length; a longer id would make authorization URLs longer than many servers and proxies accept. */
export const MAX_CLIENT_ID_LENGTH = 4096;

/**
 * Seals client registrations into their own `client_id`.
 *
 * The id is the registration metadata, deflated and encrypted with AES-256-GCM
 * under a key derived from the proxy secret, so any instance with the secret can
 * validate a client it never stored: registrations survive restarts and reach
 * every instance even with an in-memory store. Confidential clients' secrets are
 * an HMAC of their id, so no secret or hash has to be stored either.
 */
export class ClientIdSealer {
  readonly #keys: SealingKey[];

  /** Creates a sealer: the first secret seals, and every listed secret opens, so the secret can rotate. */
  constructor(secrets: readonly Buffer[]) {
    if (secrets.length === 0) {
      throw new TypeError("ClientIdSealer needs at least one secret");
    }
    this.#keys = secrets.map((secret) => ({
      id: expand(secret, "client-id-key-id").subarray(0, 6).toString("base64url"),
      encryption: expand(secret, "client-id-aes-256-gcm"),
      secretDerivation: expand(secret, "client-secret-hmac"),
    }));
  }

  /** Returns a new client id for the registration: `<key id>.<base64url sealed metadata>`. */
  seal(client: SealedClient): string {
    const key = this.#keys[0] as SealingKey;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", key.encryption, iv);
    cipher.setAAD(AAD);
    const plaintext = deflateRawSync(Buffer.from(JSON.stringify(pack(client))));
    const sealed = Buffer.concat([iv, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    return `${key.id}.${sealed.toString("base64url")}`;
  }

  /** Opens a sealed client id, or returns `undefined` for anything this proxy did not seal. */
  open(clientId: string): SealedClient | undefined {
    const dot = clientId.indexOf(".");
    const key = this.#keyFor(clientId);
    if (dot < 1 || key === undefined || clientId.length > MAX_CLIENT_ID_LENGTH) {
      return undefined;
    }

    // Node decodes base64url leniently; only the canonical spelling of an id is the id.
    const encoded = clientId.slice(dot + 1);
    const sealed = Buffer.from(encoded, "base64url");
    if (sealed.length <= IV_BYTES + TAG_BYTES || sealed.toString("base64url") !== encoded) {
      return undefined;
    }
    try {
      const decipher = createDecipheriv("aes-256-gcm", key.encryption, sealed.subarray(0, IV_BYTES));
      decipher.setAAD(AAD);
      decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
      const compressed = Buffer.concat([decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)), decipher.final()]);
      return unpack(JSON.parse(inflateRawSync(compressed, { maxOutputLength: 64 * 1024 }).toString("utf8")) as PackedClient);
    } catch {
      return undefined;
    }
  }

  /** Returns the client secret of a confidential client: an HMAC of its id under the secret that sealed it. */
  clientSecret(clientId: string): string {
    const key = this.#keyFor(clientId);
    if (key === undefined) {
      throw new TypeError("The client id was not sealed by this proxy");
    }
    return deriveClientSecret(key, clientId);
  }

  /** Checks a presented client secret in constant time. */
  verifyClientSecret(clientId: string, presented: string): boolean {
    const key = this.#keyFor(clientId);
    return key !== undefined && safeEqual(deriveClientSecret(key, clientId), presented);
  }

  #keyFor(clientId: string): SealingKey | undefined {
    const prefix = clientId.slice(0, clientId.indexOf("."));
    return this.#keys.find((candidate) => candidate.id === prefix);
  }
}

/** The sealed form, with short names: every byte saved shortens each URL and access token that carries the id. */
interface PackedClient {
  r: string[];
  m: number;
  /** 1 when the client may use refresh tokens; authorization_code is always registered. */
  g: number;
  n?: string;
  i: number;
}

const AUTH_METHODS: ReadonlyArray<SealedClient["token_endpoint_auth_method"]> = ["none", "client_secret_basic", "client_secret_post"];

function pack(client: SealedClient): PackedClient {
  const packed: PackedClient = {
    r: client.redirect_uris,
    m: AUTH_METHODS.indexOf(client.token_endpoint_auth_method),
    g: client.grant_types.includes("refresh_token") ? 1 : 0,
    i: client.client_id_issued_at,
  };
  if (client.client_name !== undefined) {
    packed.n = client.client_name;
  }
  return packed;
}

function unpack(packed: PackedClient): SealedClient {
  const method = AUTH_METHODS[packed.m];
  if (method === undefined || !Array.isArray(packed.r) || typeof packed.i !== "number") {
    throw new TypeError("Malformed sealed client");
  }

  const grantTypes = packed.g === 1 ? ["authorization_code", "refresh_token"] : ["authorization_code"];
  const client: SealedClient = { redirect_uris: packed.r, token_endpoint_auth_method: method, grant_types: grantTypes, client_id_issued_at: packed.i };
  if (typeof packed.n === "string") {
    client.client_name = packed.n;
  }
  return client;
}

// The secret comes from the key that sealed the id, so a rotation keeps existing clients' secrets valid.
function deriveClientSecret(key: SealingKey, clientId: string): string {
  return createHmac("sha256", key.secretDerivation).update(clientId).digest("base64url");
}

function expand(secret: Buffer, info: string): Buffer {
  return Buffer.from(hkdfSync("sha256", secret, SALT, info, 32));
}
