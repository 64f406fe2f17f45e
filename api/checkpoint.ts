import type { ModelSpec, Precision } from './types.ts';

/** The Hugging Face repository a replica of a Model loads at one precision. */
export interface ServedCheckpoint {
  /** `org/name`. */
  readonly model: string;
  /** @default - the repository's default branch */
  readonly revision?: string;
  /** True when it is one of `spec.checkpoints`, stored at the precision already. */
  readonly preQuantized: boolean;
}

/**
 * `spec.checkpoints[precision]` (pinned by its own `:revision` suffix) when the Model names one,
 * else `spec.model` pinned by `spec.revision`: the revision of one repository says nothing about
 * another's.
 */
export function servedCheckpoint(spec: Pick<ModelSpec, 'model' | 'revision' | 'checkpoints'>, precision: Precision): ServedCheckpoint {
  const checkpoint = spec.checkpoints[precision];
  if (checkpoint === undefined) return { model: spec.model, ...(spec.revision !== undefined && { revision: spec.revision }), preQuantized: false };
  const colon = checkpoint.indexOf(':');
  if (colon < 0) return { model: checkpoint, preQuantized: true };
  return { model: checkpoint.slice(0, colon), revision: checkpoint.slice(colon + 1), preQuantized: true };
}
