import type { GatewayEvent, GatewayEventListener } from './types.js';

export type EmitEvent = (event: GatewayEvent) => void;

const ignore: EmitEvent = () => {};

/**
 * Wraps the user's `onEvent` hook. A listener that throws must never break a
 * request or crash the host, so its exceptions are swallowed here.
 */
export function createEmitter(listener: GatewayEventListener | undefined): EmitEvent {
  if (!listener) return ignore;
  return function emit(event) {
    try {
      listener(event);
    } catch {
      // A broken diagnostics hook is the host's bug; the request goes on.
    }
  };
}

/** True when events are actually consumed, so callers can skip building them. */
export function isListening(emit: EmitEvent): boolean {
  return emit !== ignore;
}
