import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Waits, when fewer than 3 s are left, until the next minute has begun. Fixed windows of one
 * minute are aligned to the clock (Redis's is this machine's): a test that counts within one
 * must not straddle a boundary, or half of its requests see a fresh window.
 */
export async function awayFromMinuteBoundary(): Promise<void> {
  const toBoundary = 60_000 - (Date.now() % 60_000);
  if (toBoundary < 3_000) await sleep(toBoundary + 50);
}
