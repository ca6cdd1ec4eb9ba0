import { createPublicKey } from "node:crypto";
import type { JsonWebKey, KeyObject } from "node:crypto";

import createDebug from "debug";
import jsonwebtoken from "jsonwebtoken";
import type { Algorithm, JwtPayload } from "jsonwebtoken";

import { OptionError, UpstreamError } from "../errors.js";
import { getJson, isObject } from "./http.js";
import { AuthorizationCodeProvider, endpointProblem, issuerOption } from "./oauth.js";
import type { ClientOptions, ProviderEndpoints } from "./oauth.js";
import type { UpstreamIdentity, UpstreamTokens } from "./types.js";

const debug = createDebug("mcp-oauth-proxy:provider");

/** Options for `OIDCProvider`; endpoints come from the provider's discovery document. */
export interface OIDCProviderOptions extends Omit<ClientOptions, "subjectClaim"> {
  /** Issuer identifier, exactly as the provider's discovery document spells it. */
  issuer: string;
  /** Discovery document URL; defaults to `<issuer>/.well-known/openid-configuration`. */
  discoveryUrl?: string;
}

/** The members of an OpenID Provider's discovery document the proxy uses (OIDC Discovery §3). */
export interface ProviderMetadata {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  userinfo_endpoint?: string;
  revocation_endpoint?: string;
  jwks_uri?: string;
  id_token_signing_alg_values_supported?: string[];
  authorization_response_iss_parameter_supported?: boolean;
}

// Only asymmetric algorithms: with HS256 the "key" would be the client secret, which
// the proxy has no reason to accept ID tokens under. jsonwebtoken 9 lacks EdDSA.
const ASYMMETRIC_ALGORITHMS: readonly Algorithm[] = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"];

// OIDC Core §2 token plumbing, meaningless once the ID token is verified.
const PLUMBING_CLAIMS = ["iss", "aud", "exp", "iat", "nbf", "nonce", "at_hash", "c_hash", "auth_time", "azp", "sid", "jti"];

// Seconds of clock skew allowed between the proxy and the provider when checking exp, iat and nbf.
const CLOCK_TOLERANCE_SECONDS = 60;

/** A checked discovery document with the URLs parsed from it. */
export interface DiscoveredProvider {
  metadata: ProviderMetadata;
  endpoints: ProviderEndpoints;
  jwksUri: URL | undefined;
}

/**
 * An upstream OpenID Connect provider configured from its issuer, whose
 * endpoints are discovered on first use and whose ID tokens are verified.
 *
 * @example
 * const provider = new OIDCProvider({
 *   issuer: "https://accounts.example.com",
 *   clientId: "proxy",
 *   clientSecret: process.env.UPSTREAM_CLIENT_SECRET,
 * });
 */
export class OIDCProvider extends AuthorizationCodeProvider {
  protected readonly issuer: string;
  private readonly discoveryUrl: URL;
  private discovery: Promise<DiscoveredProvider> | undefined;
  private keys: Promise<Map<string, JsonWebKey>> | undefined;

  constructor(options: OIDCProviderOptions) {
    super(options, ["openid", "profile", "email"]);
    this.issuer = issuerOption("issuer", options.issuer);

    // OIDC Discovery §4: the well-known suffix follows the issuer's path, without a doubled "/".
    const discoveryUrl = options.discoveryUrl ?? `${this.issuer.replace(/\/$/, "")}/.well-known/openid-configuration`;
    const problem = endpointProblem(discoveryUrl);
    if (problem !== undefined) {
      throw new OptionError("discoveryUrl", options.discoveryUrl, problem);
    }
    this.discoveryUrl = new URL(discoveryUrl);

    // OIDC Core §3.1.2.1: without the openid scope the request is plain OAuth and no ID token comes back.
    if (!this.client.scopes.includes("openid")) {
      throw new OptionError("scopes", options.scopes, "Include \"openid\"; OpenID Connect sign-in requires it.");
    }
  }

  async responseIssuer(): Promise<string | undefined> {
    const { metadata } = await this.discover();
    return metadata.authorization_response_iss_parameter_supported === true ? this.issuer : undefined;
  }

  /**
   * Identifies the user from the verified ID token, merged with userinfo claims
   * when the provider has a userinfo endpoint, or from userinfo alone without an ID token.
   */
  override async identify(tokens: UpstreamTokens): Promise<UpstreamIdentity> {
    const { endpoints } = await this.discover();

    if (tokens.idToken === undefined) {
      const claims = await this.fetchUserinfo(tokens);
      return { subject: this.subjectFrom(claims, "sub"), claims: withoutPlumbing(claims) };
    }

    const idClaims = await this.verifyIdToken(tokens.idToken);
    const subject = this.subjectFrom(idClaims, "sub");
    if (endpoints.userinfoEndpoint === undefined) {
      return { subject, claims: withoutPlumbing(idClaims) };
    }

    // OIDC Core, Successful UserInfo Response: userinfo whose sub differs from the ID token's must not be used.
    const userinfo = await this.fetchUserinfo(tokens);
    if (userinfo.sub !== subject) {
      throw new UpstreamError("protocol", `The userinfo response from ${this.name} is for a different subject than the ID token`);
    }
    return { subject, claims: withoutPlumbing({ ...idClaims, ...userinfo }) };
  }

  protected async endpoints(): Promise<ProviderEndpoints> {
    return (await this.discover()).endpoints;
  }

  /** Fetches and checks the discovery document once; a failed attempt is retried on the next call. */
  protected discover(): Promise<DiscoveredProvider> {
    this.discovery ??= this.fetchDiscovery().catch((error: unknown) => {
      this.discovery = undefined;
      throw error;
    });
    return this.discovery;
  }

  /**
   * Verifies an ID token's signature with the provider's JWKS and its iss, aud and
   * exp claims (OIDC Core §3.1.3.7), and returns its claims.
   */
  protected async verifyIdToken(idToken: string): Promise<JwtPayload> {
    const { metadata, jwksUri } = await this.discover();
    const header = jsonwebtoken.decode(idToken, { complete: true })?.header;
    if (header === undefined) {
      throw new UpstreamError("protocol", `The ID token from ${this.name} is not a JWT`);
    }

    const algorithms = this.allowedAlgorithms(metadata);
    if (!(algorithms as string[]).includes(header.alg)) {
      throw new UpstreamError("protocol", `The ID token from ${this.name} is signed with ${header.alg}, but only ${algorithms.join(", ")} are accepted`);
    }
    if (jwksUri === undefined) {
      throw new UpstreamError("protocol", `The discovery document of ${this.issuer} has no jwks_uri, so ID tokens cannot be verified`);
    }

    const key = await this.signingKey(jwksUri, header.kid, header.alg);
    let payload: JwtPayload;
    try {
      payload = jsonwebtoken.verify(idToken, key, {
        algorithms,
        issuer: this.issuer,
        audience: this.client.clientId,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
      }) as JwtPayload;
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new UpstreamError("protocol", `The ID token from ${this.name} failed verification: ${reason}`, { cause: error });
    }

    checkRequiredClaims(payload, this.client.clientId, this.name);
    return payload;
  }

  private allowedAlgorithms(metadata: ProviderMetadata): Algorithm[] {
    const advertised = metadata.id_token_signing_alg_values_supported;
    // OIDC Discovery §3: id_token_signing_alg_values_supported is required and RS256 always supported.
    const allowed = Array.isArray(advertised) ? ASYMMETRIC_ALGORITHMS.filter((alg) => advertised.includes(alg)) : ["RS256" as const];
    return allowed.length > 0 ? allowed : ["RS256"];
  }

  private async signingKey(jwksUri: URL, kid: string | undefined, alg: string): Promise<KeyObject> {
    let keys = await this.loadKeys(jwksUri, false);
    let jwk = selectKey(keys, kid, alg);

    // A key missing from the cached set may have been added by rotation (OIDC Core §10.1.1).
    if (jwk === undefined) {
      debug("jwks refetch reason=unknown-kid kid=%s", kid ?? "-");
      keys = await this.loadKeys(jwksUri, true);
      jwk = selectKey(keys, kid, alg);
    }
    if (jwk === undefined) {
      throw new UpstreamError("protocol", `The JWKS of ${this.issuer} has no ${alg} signing key${kid === undefined ? "" : ` with kid ${JSON.stringify(kid)}`}`);
    }

    try {
      return createPublicKey({ key: jwk, format: "jwk" });
    } catch (error) {
      throw new UpstreamError("protocol", `The JWKS of ${this.issuer} contains an unusable key${kid === undefined ? "" : ` (kid ${JSON.stringify(kid)})`}`, { cause: error });
    }
  }

  private loadKeys(jwksUri: URL, refresh: boolean): Promise<Map<string, JsonWebKey>> {
    if (refresh || this.keys === undefined) {
      this.keys = this.fetchKeys(jwksUri).catch((error: unknown) => {
        this.keys = undefined;
        throw error;
      });
    }
    return this.keys;
  }

  private async fetchKeys(jwksUri: URL): Promise<Map<string, JsonWebKey>> {
    const document = await getJson(jwksUri, { timeoutMs: this.client.timeoutMs });
    if (!Array.isArray(document.keys)) {
      throw new UpstreamError("protocol", `The JWKS at ${jwksUri.href} has no keys array`);
    }

    // Keys without a kid are kept under a positional name; selectKey uses them only when the token has no kid.
    const keys = new Map<string, JsonWebKey>();
    document.keys.filter(isObject).forEach((jwk, index) => {
      keys.set(typeof jwk.kid === "string" ? jwk.kid : `#${index}`, jwk as JsonWebKey);
    });
    debug("jwks loaded issuer=%s keys=%d", this.issuer, keys.size);
    return keys;
  }

  private async fetchDiscovery(): Promise<DiscoveredProvider> {
    const document = await getJson(this.discoveryUrl, { timeoutMs: this.client.timeoutMs }).catch((error: unknown) => {
      if (error instanceof UpstreamError && error.status === 404) {
        throw new UpstreamError("protocol", `No discovery document was found at ${this.discoveryUrl.href}; check the issuer option or set discoveryUrl`, { status: 404 });
      }
      throw error;
    });

    // RFC 8414 §3.3 and OIDC Discovery §4.3: a document for another issuer must not be
    // used, or an attacker-controlled document could redirect the proxy's secrets.
    if (document.issuer !== this.issuer) {
      throw new UpstreamError(
        "protocol",
        `The discovery document at ${this.discoveryUrl.href} names issuer ${JSON.stringify(document.issuer)}, but the issuer option is ${JSON.stringify(this.issuer)}. ` +
          "Set the issuer option to exactly the value the provider publishes, including any trailing slash.",
      );
    }

    const endpoints: ProviderEndpoints = {
      authorizationEndpoint: this.discoveredEndpoint(document, "authorization_endpoint", true) as URL,
      tokenEndpoint: this.discoveredEndpoint(document, "token_endpoint", true) as URL,
      userinfoEndpoint: this.discoveredEndpoint(document, "userinfo_endpoint", false),
      revocationEndpoint: this.discoveredEndpoint(document, "revocation_endpoint", false),
    };
    const jwksUri = this.discoveredEndpoint(document, "jwks_uri", false);
    debug("discovered issuer=%s userinfo=%s revocation=%s", this.issuer, endpoints.userinfoEndpoint !== undefined, endpoints.revocationEndpoint !== undefined);
    return { metadata: document as unknown as ProviderMetadata, endpoints, jwksUri };
  }

  private discoveredEndpoint(document: Record<string, unknown>, member: string, required: boolean): URL | undefined {
    const value = document[member];
    if (value === undefined && !required) {
      return undefined;
    }

    const problem = value === undefined ? "It is missing." : endpointProblem(value);
    if (problem !== undefined) {
      throw new UpstreamError("protocol", `The discovery document at ${this.discoveryUrl.href} has an unusable ${member}: ${problem}`);
    }
    return new URL(value as string);
  }
}

function selectKey(keys: Map<string, JsonWebKey>, kid: string | undefined, alg: string): JsonWebKey | undefined {
  if (kid !== undefined) {
    const jwk = keys.get(kid);
    return jwk !== undefined && isSigningKeyFor(jwk, alg) ? jwk : undefined;
  }

  // The kid header is optional (RFC 7515 §4.1.4), so a token without one is verified only when a single key fits.
  const candidates = [...keys.values()].filter((jwk) => isSigningKeyFor(jwk, alg));
  return candidates.length === 1 ? candidates[0] : undefined;
}

function isSigningKeyFor(jwk: JsonWebKey, alg: string): boolean {
  if (jwk.use !== undefined && jwk.use !== "sig") {
    return false;
  }
  if (typeof jwk.alg === "string" && jwk.alg !== alg) {
    return false;
  }
  const keyType = alg.startsWith("ES") ? "EC" : "RSA";
  return jwk.kty === keyType;
}

// jsonwebtoken 9 checks exp only when the token has one, but OIDC Core §2 requires exp and sub.
function checkRequiredClaims(payload: JwtPayload, clientId: string, providerName: string): void {
  if (typeof payload.sub !== "string" || payload.sub === "") {
    throw new UpstreamError("protocol", `The ID token from ${providerName} has no sub claim`);
  }
  if (typeof payload.exp !== "number") {
    throw new UpstreamError("protocol", `The ID token from ${providerName} has no exp claim`);
  }
  // OIDC Core §3.1.3.7 steps 4 and 5: several audiences need an azp, and an azp must name this client.
  if (Array.isArray(payload.aud) && payload.aud.length > 1 && payload.azp === undefined) {
    throw new UpstreamError("protocol", `The ID token from ${providerName} has several audiences but no azp claim`);
  }
  if (payload.azp !== undefined && payload.azp !== clientId) {
    throw new UpstreamError("protocol", `The ID token from ${providerName} was issued to ${JSON.stringify(payload.azp)} (azp), not ${clientId}`);
  }
}

function withoutPlumbing(claims: Record<string, unknown>): Record<string, unknown> {
  const result = { ...claims };
  for (const claim of PLUMBING_CLAIMS) {
    delete result[claim];
  }
  return result;
}
