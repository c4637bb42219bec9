import { type Channel, channel } from 'node:diagnostics_channel';
import type { GatewayEvent, GatewayEventListener, GatewayEventType } from './types.js';

/**
 * Where every event goes: the `onEvent` hook of the middleware that emits it (if any) and the
 * `portcullis:<type>` diagnostics channel.
 *
 * @example
 * if (isListening(emit, 'ratelimit.refused')) emit({ type: 'ratelimit.refused', … });
 */
export type EmitEvent = (event: GatewayEvent) => void;

/** Every event type: a record, so that tsc refuses a GatewayEvent type missing here. */
const TYPES: { readonly [T in GatewayEventType]: true } = {
  'request.completed': true,
  'auth.succeeded': true,
  'auth.failed': true,
  'ratelimit.refused': true,
  'ratelimit.store_error': true,
  'proxy.response': true,
  'proxy.error': true,
  'target.health': true,
  'config.updated': true,
  'config.rejected': true,
  'config.warning': true,
};

/**
 * Every event type, in the order the README lists them.
 *
 * @example
 * for (const type of EVENT_TYPES) subscribe(`portcullis:${type}`, onMessage);
 */
export const EVENT_TYPES: readonly GatewayEventType[] = Object.freeze(
  Object.keys(TYPES) as GatewayEventType[],
);

/**
 * The `node:diagnostics_channel` channel name of an event type.
 *
 * @example
 * channelName('request.completed'); // 'portcullis:request.completed'
 */
export function channelName(type: GatewayEventType): `portcullis:${GatewayEventType}` {
  return `portcullis:${type}`;
}

/**
 * One channel per event type, created once at module load. Channels are global by name, so two
 * copies of this module (the ESM and the CommonJS build in one process) publish on the same ones.
 */
const CHANNELS = Object.fromEntries(
  EVENT_TYPES.map((type) => [type, channel(channelName(type))]),
) as Record<GatewayEventType, Channel>;

/** The emitter of a middleware without `onEvent`: the channel alone. */
const publish: EmitEvent = function publish(event) {
  const ch = CHANNELS[event.type];
  // A subscriber that throws is Node's business (it reports it as an uncaught exception after
  // the other subscribers ran); publish() itself returns normally, so the request goes on.
  if (ch.hasSubscribers) ch.publish(event);
};

/**
 * Wraps the user's `onEvent` hook: every event goes to the diagnostics channel of its type,
 * then to the hook. A hook that throws must never break a request or crash the host, so its
 * exceptions are swallowed here.
 *
 * @example
 * const emit = createEmitter(config.onEvent); // without a hook: the channels alone
 */
export function createEmitter(listener: GatewayEventListener | undefined): EmitEvent {
  if (!listener) return publish;
  return function emit(event) {
    publish(event);
    try {
      listener(event);
    } catch {
      // A broken diagnostics hook is the host's bug; the request goes on.
    }
  };
}

/**
 * Whether an event of `type` emitted now would reach anyone: the emitter has an `onEvent` hook,
 * or the type's channel has a subscriber. Decided at emit time (a subscriber may arrive after
 * the gateway was built), and cheap: callers skip building events, reading clocks and attaching
 * listeners when it is false.
 *
 * @example
 * if (isListening(emit, 'auth.failed')) emit({ type: 'auth.failed', … });
 */
export function isListening(emit: EmitEvent, type: GatewayEventType): boolean {
  return emit !== publish || CHANNELS[type].hasSubscribers;
}
