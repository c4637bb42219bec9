import { describe, expect, it } from 'vitest';
import { Lease, Registry } from '../../src/gateway/registry.js';

describe('Registry and Lease', () => {
  it('shares a value between leases and disposes of it with the last one', () => {
    const disposed: string[] = [];
    const registry = new Registry<{ name: string }>((value) => {
      disposed.push(value.name);
    });
    let made = 0;
    const make = (name: string) => () => {
      made++;
      return { name };
    };
    const first = new Lease();
    const second = new Lease();
    const a1 = registry.acquire('a', make('a'), first);
    const a2 = registry.acquire('a', make('a'), second);
    registry.acquire('b', make('b'), first);
    expect(a2).toBe(a1);
    expect(made).toBe(2);
    first.release();
    // 'a' is still held by the second lease; 'b' was only the first's.
    expect(disposed).toEqual(['b']);
    expect(registry.peek('a')).toBe(a1);
    first.release();
    expect(disposed).toEqual(['b']);
    second.release();
    expect(disposed).toEqual(['b', 'a']);
    expect(registry.size).toBe(0);
    // A key used again after its disposal gets a fresh value.
    const third = new Lease();
    expect(registry.acquire('a', make('a'), third)).not.toBe(a1);
  });

  it('holds values taken without a lease until close(), and close() awaits async disposals', async () => {
    let closed = 0;
    const registry = new Registry<number>(async () => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      closed++;
    });
    const lease = new Lease();
    registry.acquire('kept', () => 1);
    registry.acquire('leased', () => 2, lease);
    registry.acquire('kept', () => 3, lease);
    lease.release();
    // 'kept' is held without a lease: only 'leased' goes now.
    expect(registry.size).toBe(1);
    await registry.close();
    expect(closed).toBe(2);
    expect(registry.size).toBe(0);
  });

  it('keeps releasing when one disposal throws, and runs holds added after release at once', () => {
    const disposed: number[] = [];
    const registry = new Registry<number>((value) => {
      if (value === 1) throw new Error('broken');
      disposed.push(value);
    });
    const lease = new Lease();
    registry.acquire('one', () => 1, lease);
    registry.acquire('two', () => 2, lease);
    lease.release();
    expect(disposed).toEqual([2]);
    let late = false;
    lease.hold(() => {
      late = true;
    });
    expect(late).toBe(true);
  });
});
