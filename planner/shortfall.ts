/**
 * Replicas left out, per priority (critical first), compared lexicographically: a plan that
 * leaves out fewer replicas of the most important priority where two differ is the better one.
 */

/** Unplaced replicas per priority, most important first. */
export function shortfallOf(replicas: readonly { readonly priority: number }[], unschedulable: readonly number[]): number[] {
  const counts = [0, 0, 0, 0];
  for (const r of unschedulable) counts[replicas[r]!.priority]!++;
  return counts;
}

export function lexLess(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]!;
  return false;
}
