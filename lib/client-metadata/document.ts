import { checkRedirectUriForRegistration } from "../core/redirect-uri.js";
import { nowSeconds } from "../records.js";
import type { ClientRecord } from "../records.js";

const MAX_REDIRECT_URIS = 20;
const MAX_URI_LENGTH = 2000;
const MAX_NAME_LENGTH = 200;
const SUPPORTED_GRANT_TYPES = ["authorization_code", "refresh_token"];
// Client ID Metadata Document draft, "Client Metadata": a document is public,
// so it cannot carry a shared secret, and the methods built on one are forbidden.
const SYMMETRIC_AUTH_METHODS = new Set(["client_secret_basic", "client_secret_post", "client_secret_jwt"]);

/** A document that cannot be used. Its message completes "The client metadata document is invalid: …" and is safe to show. */
export class InvalidDocumentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvalidDocumentError";
  }
}

/**
 * Parses and validates a Client ID Metadata Document fetched from `clientId`,
 * returning the client it describes: always a public client
 * (`token_endpoint_auth_method: "none"`). Members the proxy does not use are ignored.
 */
export function parseClientMetadataDocument(clientId: string, body: string): ClientRecord {
  const document = parseJsonObject(body);

  // Simple string comparison (RFC 3986 §6.2.1), as the draft requires: no normalization.
  if (document.client_id !== clientId) {
    throw new InvalidDocumentError("its client_id is not the URL it was fetched from");
  }
  checkNoSecret(document);

  const grantTypes = readGrantTypes(document.grant_types);
  readResponseTypes(document.response_types);
  const client: ClientRecord = {
    client_id: clientId,
    client_id_issued_at: nowSeconds(),
    redirect_uris: readRedirectUris(document.redirect_uris),
    token_endpoint_auth_method: "none",
    grant_types: grantTypes,
    response_types: ["code"],
    client_name: readClientName(document.client_name),
  };

  const clientUri = document.client_uri;
  if (typeof clientUri === "string" && clientUri.length <= MAX_URI_LENGTH && /^https:\/\/[^\s]+$/.test(clientUri)) {
    client.client_uri = clientUri;
  }
  return client;
}

function parseJsonObject(body: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new InvalidDocumentError("it is not valid JSON");
  }

  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new InvalidDocumentError("it is not a JSON object");
  }
  return parsed as Record<string, unknown>;
}

function checkNoSecret(document: Record<string, unknown>): void {
  if ("client_secret" in document || "client_secret_expires_at" in document) {
    throw new InvalidDocumentError("it contains a client_secret, which a public document must not have");
  }

  const method = document.token_endpoint_auth_method;
  if (method === undefined || method === "none") {
    return;
  }
  if (typeof method === "string" && SYMMETRIC_AUTH_METHODS.has(method)) {
    throw new InvalidDocumentError(`token_endpoint_auth_method "${method}" needs a shared secret, which a public document cannot have`);
  }
  throw new InvalidDocumentError('token_endpoint_auth_method must be "none", because other methods are not supported here');
}

function readClientName(value: unknown): string {
  if (typeof value !== "string" || value.trim() === "" || value.length > MAX_NAME_LENGTH) {
    throw new InvalidDocumentError(`client_name must be a non-empty string of at most ${MAX_NAME_LENGTH} characters`);
  }
  return value;
}

function readRedirectUris(value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new InvalidDocumentError("redirect_uris must be a non-empty array of URIs");
  }
  if (value.length > MAX_REDIRECT_URIS) {
    throw new InvalidDocumentError(`redirect_uris may list at most ${MAX_REDIRECT_URIS} URIs`);
  }

  for (const [index, uri] of value.entries()) {
    if (typeof uri !== "string" || uri.length > MAX_URI_LENGTH) {
      throw new InvalidDocumentError(`redirect_uris[${index}] must be a string of at most ${MAX_URI_LENGTH} characters`);
    }
    const reason = checkRedirectUriForRegistration(uri);
    if (reason !== undefined) {
      throw new InvalidDocumentError(`redirect_uris[${index}] is rejected: ${reason}`);
    }
  }
  return [...new Set(value as string[])];
}

/**
 * Reads grant_types. A document is shared by every server the client talks to,
 * so grant types this proxy does not offer are ignored rather than rejected.
 * Without the member, both supported grants apply, as for registered clients.
 */
function readGrantTypes(value: unknown): string[] {
  if (value === undefined) {
    return [...SUPPORTED_GRANT_TYPES];
  }
  if (!Array.isArray(value) || !value.every((type) => typeof type === "string")) {
    throw new InvalidDocumentError("grant_types must be an array of strings");
  }
  if (!value.includes("authorization_code")) {
    throw new InvalidDocumentError("grant_types must include authorization_code");
  }
  return SUPPORTED_GRANT_TYPES.filter((type) => value.includes(type));
}

function readResponseTypes(value: unknown): void {
  if (value === undefined) {
    return;
  }
  if (!Array.isArray(value) || !value.includes("code")) {
    throw new InvalidDocumentError('response_types must include "code"');
  }
}
