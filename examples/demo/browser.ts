/** A response as the test browser saw it, before any redirect was followed. */
export interface BrowserResponse {
  status: number;
  headers: Headers;
  body: string;
  /** The `Location` header resolved against the request URL, when there is one. */
  location: string | undefined;
}

/** The outcome of `TestBrowser.follow`. */
export interface FollowResult extends BrowserResponse {
  /**
   * The URL of the final response, or, when `stopped` is true, the redirect
   * target that satisfied `until`, which was not requested.
   */
  url: URL;
  /** True when `until` matched a redirect target; the other fields then describe that redirect. */
  stopped: boolean;
}

/** Options for `TestBrowser.follow`. */
export interface FollowOptions {
  /** Stops before requesting a redirect target for which this returns true. */
  until?: (url: URL) => boolean;
  maxHops?: number;
}

/** A form found by `parseForm`, with the fields a browser would submit without user input. */
export interface ParsedForm {
  action: string;
  /** Upper-case HTTP method; `GET` when the form has no `method` attribute, as in HTML. */
  method: string;
  fields: Record<string, string>;
}

interface StoredCookie {
  name: string;
  value: string;
  path: string;
  /** Epoch milliseconds; undefined for a session cookie. */
  expiresAt: number | undefined;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/**
 * A minimal cookie-keeping HTTP client that never follows redirects on its own,
 * for driving sign-in and consent pages in tests.
 *
 * NOTE: cookies are kept per host:port, while real browsers share cookies across
 * ports of a host. Domain, Secure and SameSite attributes are ignored.
 */
export class TestBrowser {
  private readonly jar = new Map<string, Map<string, StoredCookie>>();

  /** Sends a GET request with the stored cookies. */
  async get(url: string | URL): Promise<BrowserResponse> {
    return this.request("GET", new URL(url));
  }

  /** Submits `fields` as `application/x-www-form-urlencoded`, sending `Origin` when given. */
  async postForm(url: string | URL, fields: Record<string, string>, options: { origin?: string } = {}): Promise<BrowserResponse> {
    const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded" };
    if (options.origin !== undefined) {
      headers.origin = options.origin;
    }
    return this.request("POST", new URL(url), new URLSearchParams(fields).toString(), headers);
  }

  /**
   * Requests `url` and follows redirects with GET until a response is not a
   * redirect or `until` matches the next target.
   */
  async follow(url: string | URL, options: FollowOptions = {}): Promise<FollowResult> {
    const maxHops = options.maxHops ?? 20;
    let current = new URL(url);

    for (let hop = 0; hop <= maxHops; hop++) {
      const response = await this.get(current);
      if (!REDIRECT_STATUSES.has(response.status) || response.location === undefined) {
        return { ...response, url: current, stopped: false };
      }

      const next = new URL(response.location);
      if (options.until?.(next)) {
        return { ...response, url: next, stopped: true };
      }
      current = next;
    }

    throw new Error(`Redirects from ${String(url)} did not end within ${maxHops} hops; the last target was ${current.href}`);
  }

  /** Returns the value of a stored, unexpired cookie for the origin of `url`. */
  cookie(url: string | URL, name: string): string | undefined {
    const stored = [...(this.jar.get(new URL(url).host)?.values() ?? [])];
    const cookie = stored.find((candidate) => candidate.name === name && !isExpired(candidate));
    return cookie?.value;
  }

  private async request(method: string, url: URL, body?: string, headers: Record<string, string> = {}): Promise<BrowserResponse> {
    const cookieHeader = this.cookieHeader(url);
    const response = await fetch(url, {
      method,
      body,
      redirect: "manual",
      headers: cookieHeader ? { ...headers, cookie: cookieHeader } : headers,
    });

    this.store(url, response.headers.getSetCookie());
    const location = response.headers.get("location");
    return {
      status: response.status,
      headers: response.headers,
      body: await response.text(),
      location: location === null ? undefined : new URL(location, url).href,
    };
  }

  private cookieHeader(url: URL): string {
    const cookies = this.jar.get(url.host) ?? new Map<string, StoredCookie>();
    return [...cookies.values()]
      .filter((cookie) => !isExpired(cookie) && pathMatches(url.pathname, cookie.path))
      .map((cookie) => `${cookie.name}=${cookie.value}`)
      .join("; ");
  }

  private store(url: URL, setCookieHeaders: string[]): void {
    let cookies = this.jar.get(url.host);
    if (!cookies) {
      cookies = new Map();
      this.jar.set(url.host, cookies);
    }

    for (const header of setCookieHeaders) {
      const cookie = parseSetCookie(header, url);
      if (!cookie) {
        continue;
      }
      // RFC 6265 §5.3 step 11 keys cookies by name, domain and path; domains are one per jar here.
      const key = `${cookie.name};${cookie.path}`;
      if (isExpired(cookie)) {
        cookies.delete(key);
      } else {
        cookies.set(key, cookie);
      }
    }
  }
}

function parseSetCookie(header: string, url: URL): StoredCookie | undefined {
  const [pair = "", ...attributes] = header.split(";");
  const separator = pair.indexOf("=");
  if (separator <= 0) {
    return undefined;
  }

  const cookie: StoredCookie = {
    name: pair.slice(0, separator).trim(),
    value: pair.slice(separator + 1).trim(),
    path: defaultPath(url),
    expiresAt: undefined,
  };
  let maxAge: number | undefined;

  for (const attribute of attributes) {
    const [rawName = "", ...rest] = attribute.split("=");
    const name = rawName.trim().toLowerCase();
    const value = rest.join("=").trim();
    if (name === "path" && value.startsWith("/")) {
      cookie.path = value;
    } else if (name === "expires") {
      const time = Date.parse(value);
      cookie.expiresAt = Number.isNaN(time) ? cookie.expiresAt : time;
    } else if (name === "max-age" && /^-?\d+$/.test(value)) {
      maxAge = Number(value);
    }
  }

  // RFC 6265 §5.3 step 3: Max-Age wins over Expires.
  if (maxAge !== undefined) {
    cookie.expiresAt = Date.now() + maxAge * 1000;
  }
  return cookie;
}

// RFC 6265 §5.1.4: the default path is the request path up to, not including, its last "/".
function defaultPath(url: URL): string {
  const lastSlash = url.pathname.lastIndexOf("/");
  return lastSlash <= 0 ? "/" : url.pathname.slice(0, lastSlash);
}

function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) {
    return true;
  }
  if (!requestPath.startsWith(cookiePath)) {
    return false;
  }
  return cookiePath.endsWith("/") || requestPath[cookiePath.length] === "/";
}

function isExpired(cookie: StoredCookie): boolean {
  return cookie.expiresAt !== undefined && cookie.expiresAt <= Date.now();
}

/**
 * Extracts the first form in `html` whose action contains `actionContains`,
 * with its hidden inputs and the value of one named submit button.
 *
 * The button is the one whose value is `buttonValue`, or else the first named
 * one, as pressing Enter would submit. Regexes cover simple server-rendered pages only.
 */
export function parseForm(html: string, options: { actionContains?: string; buttonValue?: string } = {}): ParsedForm {
  for (const match of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const formAttributes = parseAttributes(match[1] ?? "");
    const action = formAttributes.action ?? "";
    if (options.actionContains !== undefined && !action.includes(options.actionContains)) {
      continue;
    }

    const fields: Record<string, string> = {};
    for (const input of (match[2] ?? "").matchAll(/<input\b([^>]*)>/gi)) {
      const attributes = parseAttributes(input[1] ?? "");
      if (attributes.type?.toLowerCase() === "hidden" && attributes.name !== undefined) {
        fields[attributes.name] = attributes.value ?? "";
      }
    }

    const button = findSubmitButton(match[2] ?? "", html, formAttributes.id, options.buttonValue);
    if (button?.name !== undefined) {
      fields[button.name] = button.value ?? "";
    }

    return { action, method: (formAttributes.method ?? "get").toUpperCase(), fields };
  }

  const wanted = options.actionContains === undefined ? "" : ` with an action containing ${JSON.stringify(options.actionContains)}`;
  throw new Error(`No form${wanted} found in the page`);
}

function findSubmitButton(
  formBody: string,
  page: string,
  formId: string | undefined,
  buttonValue: string | undefined,
): Record<string, string> | undefined {
  const controls = /<(button|input)\b([^>]*)>/gi;
  const candidates = [...formBody.matchAll(controls)].map(submitControl);

  // HTML lets a control outside the form join it through its `form` attribute.
  if (formId !== undefined) {
    for (const match of page.matchAll(controls)) {
      const control = submitControl(match);
      if (control?.form === formId) {
        candidates.push(control);
      }
    }
  }

  const named = candidates.filter((attributes) => attributes?.name !== undefined);
  return buttonValue === undefined ? named[0] : named.find((attributes) => attributes?.value === buttonValue);
}

// A <button> submits unless its type is not "submit"; an <input> submits only with type="submit".
function submitControl(match: RegExpMatchArray): Record<string, string> | undefined {
  const attributes = parseAttributes(match[2] ?? "");
  const type = attributes.type?.toLowerCase();
  const isButton = (match[1] ?? "").toLowerCase() === "button";
  return (isButton && (type === undefined || type === "submit")) || type === "submit" ? attributes : undefined;
}

function parseAttributes(source: string): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (const match of source.matchAll(/([^\s=/>"']+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+)))?/g)) {
    const name = (match[1] ?? "").toLowerCase();
    attributes[name] = decodeEntities(match[2] ?? match[3] ?? match[4] ?? "");
  }
  return attributes;
}

const NAMED_ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: "\u00a0" };

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (entity, code: string) => {
    if (code.startsWith("#x") || code.startsWith("#X")) {
      return String.fromCodePoint(Number.parseInt(code.slice(2), 16));
    }
    if (code.startsWith("#")) {
      return String.fromCodePoint(Number.parseInt(code.slice(1), 10));
    }
    return NAMED_ENTITIES[code.toLowerCase()] ?? entity;
  });
}

/**
 * Signs in at an oidc-provider upstream with its development login and consent
 * forms, starting from `startUrl`, and returns the first redirect target for
 * which `stopAt` is true, without requesting it.
 *
 * @example
 * const callback = await signInAtUpstream(new TestBrowser(), authorizationUrl, "alice", {
 *   stopAt: (url) => url.pathname === "/callback",
 * });
 */
export async function signInAtUpstream(
  browser: TestBrowser,
  startUrl: string | URL,
  login: string,
  options: { stopAt: (url: URL) => boolean },
): Promise<URL> {
  let next = new URL(startUrl);

  // Each round submits one page: the login form, then the consent form.
  for (let round = 0; round < 5; round++) {
    const page = await browser.follow(next, { until: options.stopAt });
    if (page.stopped) {
      return page.url;
    }

    const submitted = await submitUpstreamPage(browser, page, login);
    if (submitted.location === undefined) {
      throw new Error(`Submitting the upstream form at ${page.url.href} returned status ${submitted.status} without a redirect`);
    }

    next = new URL(submitted.location);
    if (options.stopAt(next)) {
      return next;
    }
  }

  throw new Error(`Sign-in starting at ${String(startUrl)} did not reach a URL matching stopAt`);
}

async function submitUpstreamPage(browser: TestBrowser, page: FollowResult, login: string): Promise<BrowserResponse> {
  if (!page.body.includes("<form")) {
    throw new Error(`Expected an upstream sign-in or consent form at ${page.url.href}, got status ${page.status} with ${describePage(page.body)}`);
  }

  const form = parseForm(page.body, { actionContains: "/interaction/" });
  const action = new URL(form.action, page.url);
  if (form.fields.prompt === "login") {
    return browser.postForm(action, { ...form.fields, login, password: "any password" });
  }
  if (form.fields.prompt === "consent") {
    return browser.postForm(action, form.fields);
  }
  throw new Error(`Unexpected upstream form at ${page.url.href}: prompt=${form.fields.prompt ?? "(none)"}`);
}

function describePage(html: string): string {
  const title = /<title>([^<]*)<\/title>/i.exec(html)?.[1];
  const heading = /<h1>([^<]*)<\/h1>/i.exec(html)?.[1];
  return [title, heading].filter(Boolean).map((text) => JSON.stringify(decodeEntities(text ?? ""))).join(" ") || "no title";
}
