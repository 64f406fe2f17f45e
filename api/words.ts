/** `1 error`, `2 errors`, `1 node`: the one home of the English plural every layer's messages use. */
export function plural(count: number, singular: string, pluralForm = `${singular}s`): string {
  return `${count} ${count === 1 ? singular : pluralForm}`;
}
