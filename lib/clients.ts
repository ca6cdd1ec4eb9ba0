import { isUrlClientId } from "./client-metadata/client-id-url.js";
import { checkRedirectUriForRegistration } from "./core/redirect-uri.js";
import { hashKey } from "./core/random.js";
import { MAX_CLIENT_ID_LENGTH } from "./core/client-id.js";
import type { SealedClient } from "./core/client-id.js";
import { parseScope } from "./core/scopes.js";
import type { ProxyContext } from "./context.js";
import {
  InvalidClientError,
  InvalidClientMetadataError,
  InvalidRedirectUriError,
  InvalidRequestError,
} from "./errors.js";
import { keys, nowSeconds } from "./records.js";
import type { ClientRecord } from "./records.js";

const AUTH_METHODS = ["none", "client_secret_basic", "client_secret_post"] as const;
const GRANT_TYPES = ["authorization_code", "refresh_token"];
const MAX_REDIRECT_URIS = 20;
const MAX_URI_LENGTH = 2000;
const MAX_TEXT_LENGTH = 200;

/** A registration result: the stored record and, for confidential clients, the one-time plaintext secret. */
export interface Registration {
  client: ClientRecord;
  clientSecret: string | undefined;
}

/**
 * Validates RFC 7591 client metadata and stores the client. Unknown members are
 * ignored (RFC 7591 §2); values the proxy cannot honour are rejected, never stored as sent.
 */
export async function registerClient(context: ProxyContext, body: unknown): Promise<Registration> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new InvalidClientMetadataError("The request body must be a JSON object of client metadata");
  }

  const metadata = body as Record<string, unknown>;
  const method = readAuthMethod(metadata.token_endpoint_auth_method);
  const optional = readOptionalMetadata(metadata);
  const sealed: SealedClient = {
    redirect_uris: readRedirectUris(metadata.redirect_uris),
    token_endpoint_auth_method: method,
    grant_types: readGrantTypes(metadata.grant_types),
    client_id_issued_at: nowSeconds(),
    ...(optional.client_name === undefined ? {} : { client_name: optional.client_name }),
  };
  readResponseTypes(metadata.response_types);

  const clientId = context.clientIds.seal(sealed);
  if (clientId.length > MAX_CLIENT_ID_LENGTH) {
    throw new InvalidClientMetadataError("The registration is too large for a client id; register fewer or shorter redirect URIs and a shorter client_name");
  }
  const client: ClientRecord = { ...fromSealed(clientId, sealed), ...optional };
  let clientSecret: string | undefined;
  if (method !== "none") {
    clientSecret = context.clientIds.clientSecret(clientId);
    client.client_secret_expires_at = 0;
  }

  // The stored record is a cache that keeps the display metadata; the id alone is enough to validate the client.
  await context.storage.set(keys.client(hashKey(clientId)), client, context.options.clientTtl);
  return { client, clientSecret };
}

function fromSealed(clientId: string, sealed: SealedClient): ClientRecord {
  return {
    client_id: clientId,
    client_id_issued_at: sealed.client_id_issued_at,
    redirect_uris: sealed.redirect_uris,
    token_endpoint_auth_method: sealed.token_endpoint_auth_method,
    grant_types: sealed.grant_types,
    response_types: ["code"],
    ...(sealed.client_name === undefined ? {} : { client_name: sealed.client_name }),
    ...(sealed.token_endpoint_auth_method === "none" ? {} : { client_secret_expires_at: 0 }),
  };
}

/** Returns the RFC 7591 §3.2.1 client information response: the metadata plus, once, the secret. */
export function clientInformation(client: ClientRecord, clientSecret: string | undefined): Record<string, unknown> {
  return clientSecret === undefined ? { ...client } : { ...client, client_secret: clientSecret };
}

/**
 * Loads a registered client, or `undefined` for an unknown, expired or malformed
 * id. The stored record is only a cache: a sealed id this proxy issued is valid
 * on any instance and after any restart, as long as the secret is the same.
 *
 * A URL id names a Client ID Metadata Document instead. It cannot be a sealed
 * id, because those contain no ":". When its document cannot be used, this
 * throws `ClientMetadataError` (`invalid_client`) with the reason.
 */
export async function findClient(context: ProxyContext, clientId: string | undefined): Promise<ClientRecord | undefined> {
  if (clientId === undefined || clientId === "") {
    return undefined;
  }
  if (isUrlClientId(clientId)) {
    return await context.clientMetadata?.resolve(clientId);
  }

  const sealed = context.clientIds.open(clientId);
  if (sealed === undefined) {
    return undefined;
  }
  const remaining = sealed.client_id_issued_at + context.options.clientTtl - nowSeconds();
  if (remaining <= 0) {
    return undefined;
  }

  const cacheKey = keys.client(hashKey(clientId));
  const cached = (await context.storage.get(cacheKey)) as ClientRecord | undefined;
  if (cached !== undefined) {
    return cached;
  }
  const client = fromSealed(clientId, sealed);
  await context.storage.set(cacheKey, client, remaining);
  return client;
}

/** Client credentials as they arrived at the token or revocation endpoint. */
export interface PresentedCredentials {
  authorization: string | undefined;
  clientId: string | undefined;
  clientSecret: string | undefined;
}

/** The outcome of client authentication; `usedBasic` decides whether a 401 carries a Basic challenge. */
export interface AuthenticatedClient {
  client: ClientRecord;
  usedBasic: boolean;
}

/**
 * Authenticates a client at the token or revocation endpoint (OAuth 2.1 §2.4).
 * Public clients identify with `client_id` alone; confidential ones need their
 * secret through HTTP Basic or the request body, never both.
 */
export async function authenticateClient(context: ProxyContext, presented: PresentedCredentials): Promise<AuthenticatedClient> {
  const basic = parseBasicCredentials(presented.authorization);
  if (basic !== undefined && presented.clientSecret !== undefined) {
    throw new InvalidRequestError("Send client credentials in the Authorization header or in the body, not both");
  }
  if (basic !== undefined && presented.clientId !== undefined && presented.clientId !== basic.clientId) {
    throw new InvalidRequestError("The client_id in the body differs from the one in the Authorization header");
  }

  const clientId = basic?.clientId ?? presented.clientId;
  const secret = basic?.clientSecret ?? presented.clientSecret;
  const client = await findClient(context, clientId);
  if (client === undefined) {
    throw new InvalidClientError("Unknown client; register again");
  }

  const usedBasic = basic !== undefined;
  if (client.token_endpoint_auth_method === "none") {
    if (secret !== undefined) {
      throw new InvalidClientError("This client was registered without a secret; do not send one");
    }
    return { client, usedBasic };
  }

  if (secret === undefined || !context.clientIds.verifyClientSecret(client.client_id, secret)) {
    throw new InvalidClientError("Client authentication failed");
  }
  return { client, usedBasic };
}

/** Parses `Authorization: Basic`, whose parts are form-urlencoded before base64 (RFC 6749 §2.3.1). */
function parseBasicCredentials(header: string | undefined): { clientId: string; clientSecret: string } | undefined {
  if (header === undefined || !/^basic(?: |$)/i.test(header)) {
    return undefined;
  }

  const match = /^basic +([A-Za-z0-9+/]+=*) *$/i.exec(header);
  if (match?.[1] === undefined) {
    throw new InvalidClientError("The Basic credentials are malformed");
  }

  const decoded = Buffer.from(match[1], "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 1) {
    throw new InvalidClientError("The Basic credentials are malformed");
  }
  try {
    return {
      clientId: decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, " ")),
      clientSecret: decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, " ")),
    };
  } catch {
    throw new InvalidClientError("The Basic credentials are malformed");
  }
}

function readAuthMethod(value: unknown): ClientRecord["token_endpoint_auth_method"] {
  // RFC 7591 §2: an omitted method means client_secret_basic.
  if (value === undefined) {
    return "client_secret_basic";
  }
  if (typeof value !== "string" || !(AUTH_METHODS as readonly string[]).includes(value)) {
    throw new InvalidClientMetadataError(`token_endpoint_auth_method must be one of ${AUTH_METHODS.join(", ")}`);
  }
  return value as ClientRecord["token_endpoint_auth_method"];
}

function readRedirectUris(value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new InvalidRedirectUriError("redirect_uris must be a non-empty array of URIs");
  }
  if (value.length > MAX_REDIRECT_URIS) {
    throw new InvalidRedirectUriError(`redirect_uris may list at most ${MAX_REDIRECT_URIS} URIs`);
  }

  for (const uri of value) {
    if (typeof uri !== "string" || uri.length > MAX_URI_LENGTH) {
      throw new InvalidRedirectUriError(`Each redirect URI must be a string of at most ${MAX_URI_LENGTH} characters`);
    }
    const reason = checkRedirectUriForRegistration(uri);
    if (reason !== undefined) {
      throw new InvalidRedirectUriError(`Redirect URI rejected: ${reason}`);
    }
  }
  return [...new Set(value as string[])];
}

function readGrantTypes(value: unknown): string[] {
  if (value === undefined) {
    return [...GRANT_TYPES];
  }
  if (!Array.isArray(value) || value.length === 0 || !value.every((type) => typeof type === "string")) {
    throw new InvalidClientMetadataError("grant_types must be a non-empty array of strings");
  }

  const unsupported = value.filter((type) => !GRANT_TYPES.includes(type as string));
  if (unsupported.length > 0) {
    throw new InvalidClientMetadataError(`Unsupported grant_types: ${unsupported.join(", ")}; use authorization_code and refresh_token`);
  }
  if (!value.includes("authorization_code")) {
    throw new InvalidClientMetadataError("grant_types must include authorization_code");
  }
  return [...new Set(value as string[])];
}

function readResponseTypes(value: unknown): string[] {
  if (value === undefined) {
    return ["code"];
  }
  const valid = Array.isArray(value) && value.length > 0 && value.every((type) => type === "code");
  if (!valid) {
    throw new InvalidClientMetadataError('response_types must be ["code"]; implicit and hybrid flows are not supported');
  }
  return ["code"];
}

function readOptionalMetadata(metadata: Record<string, unknown>): Partial<ClientRecord> {
  const result: Partial<ClientRecord> = {};
  for (const name of ["client_name", "software_id", "software_version"] as const) {
    const value = metadata[name];
    if (value !== undefined) {
      result[name] = readText(name, value);
    }
  }
  for (const name of ["client_uri", "logo_uri", "tos_uri", "policy_uri"] as const) {
    const value = metadata[name];
    if (value !== undefined) {
      result[name] = readWebUri(name, value);
    }
  }

  if (metadata.scope !== undefined) {
    const scopes = typeof metadata.scope === "string" ? parseScope(metadata.scope) : undefined;
    if (scopes === undefined) {
      throw new InvalidClientMetadataError("scope must be a space-separated string of scope names");
    }
    result.scope = scopes.join(" ");
  }
  if (metadata.contacts !== undefined) {
    const valid = Array.isArray(metadata.contacts) && metadata.contacts.length <= 10 &&
      metadata.contacts.every((contact) => typeof contact === "string" && contact.length <= MAX_TEXT_LENGTH);
    if (!valid) {
      throw new InvalidClientMetadataError("contacts must be an array of at most 10 strings");
    }
    result.contacts = metadata.contacts as string[];
  }
  // application_type comes from OpenID Connect registration; other values are ignored, not rejected.
  if (metadata.application_type === "native" || metadata.application_type === "web") {
    result.application_type = metadata.application_type;
  }
  return result;
}

function readText(name: string, value: unknown): string {
  if (typeof value !== "string" || value.length > MAX_TEXT_LENGTH) {
    throw new InvalidClientMetadataError(`${name} must be a string of at most ${MAX_TEXT_LENGTH} characters`);
  }
  return value;
}

function readWebUri(name: string, value: unknown): string {
  if (typeof value !== "string" || value.length > MAX_URI_LENGTH || !/^https?:\/\/[^\s]+$/i.test(value)) {
    throw new InvalidClientMetadataError(`${name} must be an http or https URL`);
  }
  return value;
}
