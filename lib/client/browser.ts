import { spawn } from "node:child_process";
import createDebug from "debug";

const debug = createDebug("mcp-oauth-proxy:client");

/** A writable text stream, such as `process.stderr`. */
export interface TextOutput {
  write(text: string): unknown;
}

/** Returns the platform command that opens a URL in the default browser, or undefined when there is no desktop to open it on. */
export function browserCommand(url: string, platform: NodeJS.Platform = process.platform, env: NodeJS.ProcessEnv = process.env): { command: string; args: string[]; verbatim: boolean } | undefined {
  if (platform === "darwin") {
    return { command: "open", args: [url], verbatim: false };
  }
  if (platform === "win32") {
    // `start` is a cmd built-in; its first quoted argument is the window title. URL.href
    // percent-encodes '"', so the quoted URL cannot break out of its quotes.
    return { command: "cmd.exe", args: ["/d", "/s", "/c", `start "" "${url}"`], verbatim: true };
  }
  // Without a display (an SSH session, CI) xdg-open would fall back to a text browser or fail.
  if (!env.DISPLAY && !env.WAYLAND_DISPLAY) {
    return undefined;
  }
  return { command: "xdg-open", args: [url], verbatim: false };
}

/**
 * Opens `url` in the system browser with the platform command (`open`,
 * `start`, `xdg-open`), and prints it to `output` as well, so the user can
 * copy it when no browser comes up (SSH sessions, CI, a missing command).
 * Returns true when a browser command was started.
 */
export async function openBrowser(url: string, output: TextOutput = process.stderr): Promise<boolean> {
  output.write(`Open this URL in a browser to sign in:\n\n  ${url}\n\n`);
  const command = browserCommand(url);
  if (command === undefined) {
    debug("browser skipped reason=no-display");
    return false;
  }

  return new Promise<boolean>((resolve) => {
    const child = spawn(command.command, command.args, { stdio: "ignore", detached: true, windowsVerbatimArguments: command.verbatim });
    child.once("error", (error) => {
      debug("browser failed command=%s error=%s", command.command, error.message);
      resolve(false);
    });
    child.once("spawn", () => {
      child.unref();
      resolve(true);
    });
  });
}
