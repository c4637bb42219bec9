import { channel, subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from 'vitest';
import { channelName, createEmitter, EVENT_TYPES, isListening } from '../../src/events.js';
import type { GatewayEvent } from '../../src/types.js';

const warning: GatewayEvent = { type: 'config.warning', field: 'x', message: 'y' };

describe('events on diagnostics channels', () => {
  const subscriptions: Array<[string, (m: unknown) => void]> = [];
  const on = (name: string, fn: (m: unknown) => void) => {
    subscribe(name, fn);
    subscriptions.push([name, fn]);
  };
  afterEach(() => {
    for (const [name, fn] of subscriptions.splice(0)) unsubscribe(name, fn);
  });

  it('names a channel portcullis:<type> for each of the eleven event types', () => {
    expect(EVENT_TYPES).toHaveLength(11);
    expect(channelName('request.completed')).toBe('portcullis:request.completed');
    expect(new Set(EVENT_TYPES).size).toBe(EVENT_TYPES.length);
  });

  it('publishes every event on its channel, with or without an onEvent hook, the same object to both', () => {
    const heard: unknown[] = [];
    const hooked: unknown[] = [];
    on('portcullis:config.warning', (m) => heard.push(m));
    createEmitter(undefined)(warning);
    createEmitter((e) => hooked.push(e))(warning);
    expect(heard).toEqual([warning, warning]);
    expect(heard[1]).toBe(hooked[0]);
  });

  it('isListening is decided per type at call time: a hook listens to all, a subscriber to its type', () => {
    const quiet = createEmitter(undefined);
    expect(isListening(quiet, 'request.completed')).toBe(false);
    // A subscriber that comes after the emitter was made.
    on('portcullis:request.completed', () => {});
    expect(isListening(quiet, 'request.completed')).toBe(true);
    expect(isListening(quiet, 'auth.failed')).toBe(false);
    for (const [name, fn] of subscriptions.splice(0)) unsubscribe(name, fn);
    expect(isListening(quiet, 'request.completed')).toBe(false);
    expect(
      isListening(
        createEmitter(() => {}),
        'auth.failed',
      ),
    ).toBe(true);
  });

  it('publishes nothing when a channel has no subscriber', () => {
    // A subscriber on another type only: publishing config.warning finds nobody and does nothing.
    on('portcullis:auth.failed', () => {
      throw new Error('must not be called');
    });
    expect(channel('portcullis:config.warning').hasSubscribers).toBe(false);
    expect(() => createEmitter(undefined)(warning)).not.toThrow();
  });

  it('swallows what an onEvent hook throws, after the channel had the event', () => {
    const heard: unknown[] = [];
    on('portcullis:config.warning', (m) => heard.push(m));
    const emit = createEmitter(() => {
      throw new Error('hook bug');
    });
    expect(() => emit(warning)).not.toThrow();
    expect(heard).toEqual([warning]);
  });
});
