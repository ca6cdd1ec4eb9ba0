import { fork } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

/**
 * Messages between the runner and the processes it starts, over Node's IPC channel. A child
 * sends `ready` once its servers listen (and then waits for `stop`) or `result` when its
 * measurement is done; `error` carries a failure message. A serving child replies to a `sample`
 * message with its CPU time and counters of its own.
 */
type ChildMessage =
  | { type: "ready"; value: unknown }
  | { type: "result"; value: unknown }
  | { type: "error"; message: string }
  | { type: "sample"; value: ChildSample };

/** A serving child's report: its CPU time and the value of its own `sample` function. */
export interface ChildSample {
  /** `process.cpuUsage()`: microseconds of user and system time since the child started. */
  cpu: NodeJS.CpuUsage;
  details: unknown;
}

/** A child process that serves until the runner sends `stop`. */
export interface RunningChild<T> {
  /** The value the child sent when ready, such as the URLs it listens on. */
  ready: T;
  /** Reads the child's CPU time and counters. */
  sample(): Promise<ChildSample>;
  /** Asks the child to shut down and waits for it to exit, killing it after `timeoutMs`. */
  stop(timeoutMs?: number): Promise<void>;
}

/** Resolves a file under `bench/processes/` to the path Node runs. */
function processPath(name: string): string {
  return fileURLToPath(new URL(`./processes/${name}.ts`, import.meta.url));
}

function forkProcess(name: string, args: string[], nodeFlags: string[]): ChildProcess {
  return fork(processPath(name), args, {
    execArgv: [...nodeFlags, "--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
}

/**
 * Starts `bench/processes/<name>.ts` under tsx and resolves with the value it sends as
 * `ready`. The child is killed if it is not ready within `timeoutMs`.
 */
export function startChild<T>(name: string, args: string[] = [], timeoutMs = 60_000): Promise<RunningChild<T>> {
  const child = forkProcess(name, args, []);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`${name} was not ready within ${timeoutMs} ms`));
    }, timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with code ${code} before it was ready`));
    });
    child.once("message", (message: ChildMessage) => {
      clearTimeout(timer);
      if (message.type !== "ready") {
        child.kill();
        reject(new Error(`${name} failed: ${message.type === "error" ? message.message : "it sent a result instead of ready"}`));
        return;
      }
      child.removeAllListeners("exit");
      resolve({ ready: message.value as T, sample: () => askSample(child), stop: (stopTimeoutMs) => stopChild(child, stopTimeoutMs ?? 30_000) });
    });
  });
}

function askSample(child: ChildProcess): Promise<ChildSample> {
  return new Promise((resolve) => {
    const listener = (message: ChildMessage): void => {
      if (message.type === "sample") {
        child.off("message", listener);
        resolve(message.value);
      }
    };
    child.on("message", listener);
    child.send({ type: "sample" });
  });
}

function stopChild(child: ChildProcess, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) {
      resolve();
      return;
    }
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.send({ type: "stop" });
  });
}

/**
 * Runs `bench/processes/<name>.ts` under tsx with `nodeFlags` (such as `--expose-gc`) and
 * resolves with the value it sends as `result`. The child is killed after `timeoutMs`.
 */
export function runChild<T>(name: string, args: string[], options: { nodeFlags?: string[]; timeoutMs: number }): Promise<T> {
  const child = forkProcess(name, args, options.nodeFlags ?? []);
  return new Promise((resolve, reject) => {
    let outcome: ChildMessage | undefined;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${name} did not finish within ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    child.on("message", (message: ChildMessage) => {
      outcome = message;
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      if (outcome?.type === "result") {
        resolve(outcome.value as T);
        return;
      }
      reject(new Error(`${name} exited with code ${code}: ${outcome?.type === "error" ? outcome.message : "no result"}`));
    });
  });
}

/** Runs `main` in a child process and sends its value as `result`, or its failure as `error`. */
export function reportResult(main: () => Promise<unknown>): void {
  main().then(
    (value) => finish({ type: "result", value }),
    (error: unknown) => finish({ type: "error", message: describe(error) }),
  );
}

/**
 * Runs `start` in a child process, sends its value as `ready`, replies to `sample` messages with
 * the CPU time and the value of `sample`, and calls `stop` when the runner sends `stop` or
 * disconnects.
 */
export function serveUntilStopped(start: () => Promise<{ value: unknown; stop: () => Promise<void>; sample?: () => unknown }>): void {
  start().then(({ value, stop, sample }) => {
    let stopping = false;
    const shutdown = (): void => {
      if (stopping) {
        return;
      }
      stopping = true;
      stop().then(() => exitSoon(), (error: unknown) => {
        console.error(`Shutdown failed: ${describe(error)}`);
        process.exitCode = 1;
        exitSoon();
      });
    };
    process.on("message", (message: { type?: string }) => {
      if (message.type === "stop") {
        shutdown();
      }
      if (message.type === "sample") {
        process.send?.({ type: "sample", value: { cpu: process.cpuUsage(), details: sample?.() } } satisfies ChildMessage);
      }
    });
    process.once("disconnect", shutdown);
    process.send?.({ type: "ready", value } satisfies ChildMessage);
  }, (error: unknown) => {
    process.exitCode = 1;
    finish({ type: "error", message: describe(error) });
  });
}

/** Sends the last message, closes the IPC channel once it is written, and exits soon after. */
function finish(message: ChildMessage): void {
  if (process.send === undefined) {
    console.log(JSON.stringify(message));
    exitSoon();
    return;
  }
  process.send(message, undefined, {}, () => {
    process.disconnect?.();
    exitSoon();
  });
}

/** A handle left open (a socket a library keeps) must not keep a finished child alive. */
function exitSoon(): void {
  setTimeout(() => process.exit(), 2000).unref();
  if (process.connected) {
    process.disconnect();
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.stack ?? error.message : String(error);
}
