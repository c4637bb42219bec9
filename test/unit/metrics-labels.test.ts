import { describe, expect, it } from 'vitest';
import { methodLabel, routeLabel, targetLabel } from '../../src/metrics/labels.js';

describe('metric labels', () => {
  it('keeps the standard methods and names every other one _OTHER', () => {
    for (const m of [
      'GET',
      'HEAD',
      'POST',
      'PUT',
      'DELETE',
      'CONNECT',
      'OPTIONS',
      'TRACE',
      'PATCH',
    ]) {
      expect(methodLabel(m)).toBe(m);
    }
    for (const m of ['PROPFIND', 'PURGE', 'get', 'FOO', '']) expect(methodLabel(m)).toBe('_OTHER');
  });

  it('names a request without a route unmatched', () => {
    expect(routeLabel(null)).toBe('unmatched');
    expect(routeLabel(undefined)).toBe('unmatched');
    expect(routeLabel('/users/:id')).toBe('/users/:id');
  });

  it('never lets target credentials into a label', () => {
    expect(targetLabel('http://users:8080/v1')).toBe('http://users:8080/v1');
    expect(targetLabel('http://u:hunter2@users:8080/v1')).toBe('http://users:8080/v1');
    expect(targetLabel('http://u:hunter2@users:8080')).toBe('http://users:8080');
    expect(targetLabel('not a url but has a@secret')).toBe('invalid');
  });
});
