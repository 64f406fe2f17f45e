import { describe, expect, it } from 'vitest';
import { closest, didYouMean, editDistance } from '../../api/suggest.ts';

describe('suggestions', () => {
  it('counts a swap of neighbours as one edit', () => {
    expect(editDistance('replicsa', 'replicas')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
  });

  it('suggests the nearest field within a quarter of the word length', () => {
    expect(didYouMean('replicsa', ['model', 'replicas', 'priority'])).toBe(' (did you mean "replicas"?)');
    expect(closest('Replicas', ['replicas'])).toBe('replicas');
    expect(closest('mi300', ['mi300x', 'mi325x'])).toBe('mi300x');
  });

  it('suggests nothing when no candidate is close', () => {
    expect(didYouMean('mi325x', ['mi300x'])).toBe('');
    expect(closest('storage', ['model', 'replicas'])).toBeUndefined();
  });
});
