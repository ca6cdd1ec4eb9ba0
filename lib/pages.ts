import type { Response } from "express";
import { isLoopbackRedirectUri } from "./core/redirect-uri.js";

/** Escapes text for HTML element content and double-quoted attribute values. */
export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

const STYLE = `
  body { font-family: system-ui, sans-serif; background: #f4f5f7; color: #1d2330; margin: 0; }
  main { max-width: 32rem; margin: 4rem auto; background: #fff; border-radius: 8px; padding: 2rem; box-shadow: 0 1px 4px rgba(0,0,0,.12); }
  h1 { font-size: 1.3rem; margin-top: 0; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: .4rem 1rem; }
  dt { color: #5a6275; } dd { margin: 0; overflow-wrap: anywhere; }
  code { background: #eef0f4; padding: 0 .25rem; border-radius: 3px; }
  .warning { background: #fff4d6; border-left: 4px solid #e0a800; padding: .6rem .8rem; margin: 1rem 0; }
  .actions { display: flex; gap: .75rem; margin-top: 1.5rem; }
  button { font-size: 1rem; padding: .55rem 1.2rem; border-radius: 6px; border: 1px solid #9aa1b1; background: #fff; cursor: pointer; }
  button[value=approve] { background: #1f5eff; border-color: #1f5eff; color: #fff; }
`;

function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body><main>
${body}
</main></body>
</html>
`;
}

/** Data shown on the consent page; every string is escaped when rendered. */
export interface ConsentPageInput {
  action: string;
  transactionId: string;
  csrfToken: string;
  clientName: string | undefined;
  clientId: string;
  /** For a client identified by a URL: the host that published its metadata document. */
  clientIdHost?: string | undefined;
  redirectUri: string;
  scopes: string[];
  resource: string;
  resourceName: string | undefined;
  providerName: string;
}

/**
 * Renders the consent page: the requesting client, where the code will go and the scopes.
 * MCP's security guidance requires per-client consent before the proxy, which
 * uses one static upstream client for everybody, forwards a user upstream.
 */
export function renderConsentPage(input: ConsentPageInput): string {
  const name = input.clientName ?? "An unnamed application";
  const redirectHost = describeRedirectTarget(input.redirectUri);
  const scopes = input.scopes.length === 0
    ? "<dd>Default access</dd>"
    : `<dd>${input.scopes.map((scope) => `<code>${escapeHtml(scope)}</code>`).join(" ")}</dd>`;
  const warning = isLoopbackRedirectUri(input.redirectUri)
    ? `<p class="warning" id="loopback-warning">This application receives the sign-in result on this computer (${escapeHtml(redirectHost)}). Approve only if you just started the sign-in from an application you trust.</p>`
    : "";
  // The Client ID Metadata Document draft ("OAuth Phishing Attacks") recommends
  // showing who published a document, because anyone can claim any client_name.
  const publisher = input.clientIdHost === undefined
    ? ""
    : `  <dt>Described by</dt><dd id="client-id-host"><strong>${escapeHtml(input.clientIdHost)}</strong><br><small>The application's name and return addresses come from this website, not from this server.</small></dd>`;

  return layout(`Authorize ${name}`, `
<h1><strong>${escapeHtml(name)}</strong> wants to access ${escapeHtml(input.resourceName ?? input.resource)}</h1>
<dl>
  <dt>Application</dt><dd>${escapeHtml(name)} <small>(client ID <code>${escapeHtml(input.clientId)}</code>)</small></dd>
${publisher}
  <dt>Sends you back to</dt><dd><strong>${escapeHtml(redirectHost)}</strong><br><small>${escapeHtml(input.redirectUri)}</small></dd>
  <dt>Permissions</dt>${scopes}
  <dt>Sign-in</dt><dd>${escapeHtml(input.providerName)}</dd>
</dl>
${warning}
<p>If you approve, you will sign in at ${escapeHtml(input.providerName)} and ${escapeHtml(name)} will be able to act on your behalf.</p>
<form method="post" action="${escapeHtml(input.action)}">
  <input type="hidden" name="transaction" value="${escapeHtml(input.transactionId)}">
  <input type="hidden" name="csrf_token" value="${escapeHtml(input.csrfToken)}">
  <div class="actions">
    <button type="submit" name="decision" value="approve">Approve</button>
    <button type="submit" name="decision" value="deny">Deny</button>
  </div>
</form>`);
}

/** Renders a browser-facing error: no redirect, because the target could not be trusted. */
export function renderErrorPage(title: string, message: string): string {
  return layout(title, `
<h1>${escapeHtml(title)}</h1>
<p>${escapeHtml(message)}</p>
<p>Close this window and start the sign-in again from your application.</p>`);
}

/** Sends an HTML page that must never be cached or framed. */
export function sendPage(res: Response, status: number, html: string): void {
  res.status(status);
  res.setHeader("Cache-Control", "no-store");
  res.type("text/html; charset=utf-8");
  res.send(html);
}

function describeRedirectTarget(redirectUri: string): string {
  try {
    const url = new URL(redirectUri);
    return url.host === "" ? `${url.protocol}` : url.host;
  } catch {
    return redirectUri;
  }
}
