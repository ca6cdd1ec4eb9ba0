import { connect } from "node:net";
import { parseForm, signInAtUpstream, TestBrowser } from "../../examples/demo/browser.js";

/** The choices `playUser()` makes on the consent page, and its change to the final redirect. */
export interface UserPlay {
  login?: string;
  decision?: "approve" | "deny";
  /** Changes the redirect to the client's callback before the browser requests it. */
  rewrite?: (callbackUrl: URL) => URL;
}

/** What the client's callback server returned to the browser. */
export interface CallbackPage {
  url: URL;
  status: number;
  body: string;
}

/**
 * Plays the user in a browser over plain HTTP: opens the authorization URL,
 * approves or denies on the proxy's consent page, signs in at the embedded
 * upstream, and requests the redirect to the client's loopback callback.
 */
export async function playUser(authorizationUrl: URL, play: UserPlay = {}): Promise<CallbackPage> {
  const browser = new TestBrowser();
  const redirectUri = authorizationUrl.searchParams.get("redirect_uri") ?? "";
  const consent = await browser.get(authorizationUrl);
  if (consent.status !== 200) {
    throw new Error(`The consent page returned ${consent.status}: ${consent.body.slice(0, 200)}`);
  }

  const form = parseForm(consent.body, { buttonValue: play.decision ?? "approve" });
  const action = new URL(form.action, authorizationUrl);
  const decided = await browser.postForm(action, form.fields, { origin: action.origin });
  if (decided.location === undefined) {
    throw new Error(`The consent form returned ${decided.status} without a redirect`);
  }

  let callbackUrl = new URL(decided.location);
  if (!callbackUrl.href.startsWith(redirectUri)) {
    callbackUrl = await signInAtUpstream(browser, callbackUrl, play.login ?? "alice", {
      stopAt: (url) => url.href.startsWith(redirectUri),
    });
  }
  const finalUrl = play.rewrite?.(new URL(callbackUrl)) ?? callbackUrl;
  const page = await browser.get(finalUrl);
  return { url: finalUrl, status: page.status, body: page.body };
}

/** Resolves to true when something accepts TCP connections on 127.0.0.1:`port`. */
export function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
