/** A client identity at an authorization server, as stored between runs. */
export interface StoredClient {
  client_id: string;
  client_secret?: string;
  /** Epoch seconds; 0 or absent means the secret does not expire (RFC 7591 §3.2.1). */
  client_secret_expires_at?: number;
  token_endpoint_auth_method?: string;
  /** How the client got this identity; pre-registered credentials are never written to a store. */
  kind: "pre-registered" | "metadata-document" | "dynamic";
}

/** Tokens from the token endpoint, with the expiry as an absolute time. */
export interface StoredTokens {
  access_token: string;
  token_type: string;
  refresh_token?: string;
  scope?: string;
  /** Epoch seconds; absent when the server sent no `expires_in`. */
  expires_at?: number;
}

/** Everything the client keeps for one MCP server. */
export interface StoredCredentials {
  /** The authorization server the client and tokens belong to; a change of server discards both. */
  authorizationServer: string;
  client?: StoredClient;
  tokens?: StoredTokens;
  /** The token endpoint, kept so a refresh after a restart needs no discovery. */
  tokenEndpoint?: string;
  tokenEndpointAuthMethods?: string[];
  /** The RFC 8707 resource the tokens were issued for. */
  resource?: string;
}

/**
 * Where `OAuthClient` keeps registrations and tokens, one entry per MCP server URL.
 * `MemoryTokenStore` and `FileTokenStore` implement it; any other storage can.
 */
export interface TokenStore {
  get(server: string): Promise<StoredCredentials | undefined>;
  set(server: string, credentials: StoredCredentials): Promise<void>;
  delete(server: string): Promise<void>;
}

/**
 * Keeps credentials in memory for the life of the process.
 *
 * @example
 * const oauth = new OAuthClient({ serverUrl, store: new MemoryTokenStore() });
 */
export class MemoryTokenStore implements TokenStore {
  readonly #entries = new Map<string, string>();

  async get(server: string): Promise<StoredCredentials | undefined> {
    const entry = this.#entries.get(server);
    // A copy, so a caller that changes the result does not change the store.
    return entry === undefined ? undefined : JSON.parse(entry) as StoredCredentials;
  }

  async set(server: string, credentials: StoredCredentials): Promise<void> {
    this.#entries.set(server, JSON.stringify(credentials));
  }

  async delete(server: string): Promise<void> {
    this.#entries.delete(server);
  }
}
