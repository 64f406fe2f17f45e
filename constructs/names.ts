import { createHash } from 'node:crypto';

/**
 * Names of generated serving objects. They must be DNS-1035 labels (KServe's webhook rule
 * `[a-z]([-a-z0-9]*[a-z0-9])?`), at most 53 characters because KServe appends `-predictor`, and a
 * pure function of what they name: adding a model or a node never renames another object, which
 * would make Argo CD or Flux delete and recreate its pods.
 */
export const INFERENCE_SERVICE_NAME_MAX = 53;

const DNS_1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const HASH_LENGTH = 6;

export function isDns1035Label(name: string, maxLength = 63): boolean {
  return name.length <= maxLength && DNS_1035_LABEL.test(name);
}

/** Lowercase, every run of characters outside `[a-z0-9]` as one `-`, no leading or trailing `-`. */
export function sanitizeLabelPart(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
}

function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, HASH_LENGTH);
}

/**
 * `<owner>-<part>` when `part` is already a label part (e.g. a node name without dots) and the
 * whole fits `maxLength`; otherwise the sanitised join truncated to make room for `-<hash>`, a short
 * hash of the unsanitised pair, so that `gpu.node.01` and `gpu-node-01` still get different names.
 * `owner` must itself be a DNS-1035 label (a model name).
 */
export function childName(owner: string, part: string, maxLength = INFERENCE_SERVICE_NAME_MAX): string {
  if (!isDns1035Label(owner)) throw new Error(`name owner must be a DNS-1035 label, got "${owner}"`);
  const sanitized = sanitizeLabelPart(part);
  const plain = `${owner}-${sanitized}`;
  if (sanitized === part && plain.length <= maxLength) return plain;
  const head = plain.slice(0, maxLength - HASH_LENGTH - 1).replace(/-+$/, '');
  return `${head}-${shortHash(`${owner}/${part}`)}`;
}
