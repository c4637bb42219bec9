/**
 * Resolves once `check()` holds, polling every 5 ms; rejects naming `what` when it still does
 * not after `timeoutMs` (default 3 s).
 */
export function waitFor(check: () => boolean, what: string, timeoutMs = 3_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = (): void => {
      if (check()) resolve();
      else if (Date.now() - started > timeoutMs) {
        reject(new Error(`${what}: not met within ${timeoutMs} ms`));
      } else setTimeout(tick, 5);
    };
    tick();
  });
}
