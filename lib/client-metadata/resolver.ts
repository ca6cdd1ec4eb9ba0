import createDebug from "debug";
import { InvalidClientError } from "../errors.js";
import type { ClientRecord } from "../records.js";
import { cacheLifetime, DocumentCache } from "./cache.js";
import { checkClientIdUrl, isAllowedHost } from "./client-id-url.js";
import { parseClientMetadataDocument, InvalidDocumentError } from "./document.js";
import { DocumentFetchError, fetchDocument } from "./fetch.js";
import type { ClientMetadataSettings } from "./options.js";

const debug = createDebug("mcp-oauth-proxy:client-metadata");

/**
 * A URL `client_id` that cannot be used as a client: a bad URL, a failed fetch
 * or an invalid document. It is `invalid_client` at the token and revocation
 * endpoints and an error page at the authorization endpoint.
 */
export class ClientMetadataError extends InvalidClientError {
  constructor(description: string) {
    super(description);
    this.name = "ClientMetadataError";
  }
}

/**
 * Turns a URL `client_id` into a client by fetching its Client ID Metadata
 * Document (draft-ietf-oauth-client-id-metadata-document). Valid documents are
 * cached per `Cache-Control`; concurrent requests for one URL share one fetch.
 */
export class ClientMetadataResolver {
  readonly #settings: ClientMetadataSettings;
  readonly #cache = new DocumentCache();
  readonly #inFlight = new Map<string, Promise<ClientRecord>>();

  constructor(settings: ClientMetadataSettings) {
    this.#settings = settings;
  }

  /** Returns the client a URL `client_id` describes, or throws `ClientMetadataError`. */
  async resolve(clientId: string): Promise<ClientRecord> {
    const url = this.#checkUrl(clientId);
    const cached = this.#cache.get(clientId);
    if (cached !== undefined) {
      return cached;
    }

    const running = this.#inFlight.get(clientId);
    if (running !== undefined) {
      return await running;
    }
    const loading = this.#load(clientId, url).finally(() => this.#inFlight.delete(clientId));
    this.#inFlight.set(clientId, loading);
    return await loading;
  }

  #checkUrl(clientId: string): URL {
    const reason = checkClientIdUrl(clientId);
    if (reason !== undefined) {
      throw new ClientMetadataError(`${reason}.`);
    }

    const url = new URL(clientId);
    const allowHosts = this.#settings.allowHosts;
    if (allowHosts !== undefined && !isAllowedHost(url.hostname, allowHosts)) {
      throw new ClientMetadataError(`Client metadata documents from ${url.hostname} are not accepted by this server.`);
    }
    return url;
  }

  async #load(clientId: string, url: URL): Promise<ClientRecord> {
    const started = Date.now();
    try {
      const fetched = await fetchDocument(url, this.#settings);
      const client = parseClientMetadataDocument(clientId, fetched.body);
      const seconds = cacheLifetime(fetched.cacheControl, this.#settings.maxCacheSeconds);
      this.#cache.set(clientId, client, seconds);
      debug("fetched document client_id=%s ms=%d cache_seconds=%d", clientId, Date.now() - started, seconds);
      return client;
    } catch (error) {
      if (error instanceof DocumentFetchError) {
        debug("fetch failed client_id=%s ms=%d reason=%s", clientId, Date.now() - started, error.message);
        throw new ClientMetadataError(`The client metadata document at ${clientId} could not be fetched: ${error.message}.`);
      }
      if (error instanceof InvalidDocumentError) {
        debug("invalid document client_id=%s reason=%s", clientId, error.message);
        throw new ClientMetadataError(`The client metadata document at ${clientId} is invalid: ${error.message}.`);
      }
      throw error;
    }
  }
}
